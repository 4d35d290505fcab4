using UserTcp.Tun;

namespace UserTcp.Lab;

/// <summary>
/// The kernel's side of each connection: a thread reads the namespace's TCP socket table (<see cref="KernelTcpTable"/>,
/// the sock_diag dump `ss -tan` prints) every millisecond and keeps, per socket, each state it was seen in and when it
/// disappeared. A state that lasts less than a sample interval can be missed; what is shown was seen.
/// </summary>
public sealed class KernelSocketSampler : IDisposable
{
    private readonly KernelTcpTable _table;
    private readonly Func<TimeSpan> _clock;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    // Per socket (local, remote): the states seen, in order, with the time each was first seen; "gone" ends a socket.
    private readonly Dictionary<(string Local, string Remote), List<(TimeSpan At, string State)>> _history = [];
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _samples;

    private KernelSocketSampler(KernelTcpTable table, Func<TimeSpan> clock, TimeSpan interval)
    {
        _table = table;
        _clock = clock;
        _interval = interval;
        _thread = new Thread(Loop) { IsBackground = true, Name = "kernel socket sampler" };
    }

    /// <summary>Why sampling stopped early, if it did.</summary>
    public string? Failure { get; private set; }

    /// <summary>Samples taken so far.</summary>
    public long Samples => Interlocked.Read(ref _samples);

    /// <summary>The longest time between two samples: the resolution the kernel's states were actually seen at.</summary>
    public TimeSpan LongestGap { get; private set; }

    public static KernelSocketSampler Start(ScratchNamespace ns, Func<TimeSpan> clock, TimeSpan interval)
    {
        var sampler = new KernelSocketSampler(ns.OpenTcpTable(), clock, interval);
        sampler._thread.Start();
        return sampler;
    }

    /// <summary>The states one kernel socket was seen in, in order; "gone" once it left the table.</summary>
    public IReadOnlyList<string> States(string local, string remote)
    {
        lock (_gate)
        {
            return _history.TryGetValue((local, remote), out var seen) ? [.. seen.Select(s => s.State)] : [];
        }
    }

    /// <summary>Waits (at most 200 ms) until two more samples have been taken, so what happened before this call has been seen.</summary>
    public void Settle()
    {
        long target = Samples + 2;
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(200);
        while (Samples < target && !_stop && Failure is null && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(_interval);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        _table.Dispose();
    }

    // Sampling should keep its pace while curl, nc and the stack keep the cores busy. .NET ignores thread priorities on
    // Linux, so this thread alone (setpriority on a thread id) gets nice -20 through renice; without it, it runs at 0.
    private static void RaisePriority()
    {
        string? self = new DirectoryInfo("/proc/thread-self").LinkTarget; // "PID/task/TID"
        string? renice = ExternalProgram.Find("renice");
        if (self is not null && renice is not null)
        {
            ExternalProgram.Run(renice, TimeSpan.FromSeconds(5), "-n", "-20", "-p", Path.GetFileName(self));
        }
    }

    private void Loop()
    {
        RaisePriority();
        var present = new HashSet<(string, string)>();
        TimeSpan? last = null;
        try
        {
            while (!_stop)
            {
                IReadOnlyList<KernelTcpSocket> sockets = _table.Read();
                TimeSpan now = _clock();
                var seenNow = new HashSet<(string, string)>();
                lock (_gate)
                {
                    foreach (KernelTcpSocket socket in sockets)
                    {
                        if (socket.State == KernelTcpState.Listen)
                        {
                            continue;
                        }
                        (string, string) key = (socket.Local.ToString(), socket.Remote.ToString());
                        string state = socket.State.ToRfcName();
                        seenNow.Add(key);
                        if (!_history.TryGetValue(key, out var seen))
                        {
                            _history[key] = seen = [];
                        }
                        if (seen.Count == 0 || seen[^1].State != state)
                        {
                            seen.Add((now, state));
                        }
                    }
                    foreach ((string, string) key in present.Where(k => !seenNow.Contains(k)))
                    {
                        _history[key].Add((now, "gone"));
                    }
                }
                present = seenNow;
                if (last is TimeSpan previous && now - previous > LongestGap) LongestGap = now - previous;
                last = now;
                Interlocked.Increment(ref _samples);
                Thread.Sleep(_interval);
            }
        }
        catch (TunException e)
        {
            Failure = e.Message;
        }
    }
}
