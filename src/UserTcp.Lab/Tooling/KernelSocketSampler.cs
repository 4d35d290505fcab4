using System.Net;
using UserTcp.Tun;
using UserTcp.Interop;

namespace UserTcp.Lab;

/// <summary>What one sample showed of a kernel socket; <see cref="State"/> null once the socket has left the table.</summary>
public readonly record struct KernelSocketSample(TimeSpan At, KernelTcpState? State, KernelTcpTimer Timer, byte Retransmits, TimeSpan Expires)
{
    /// <summary>"FIN-WAIT-1", or "(gone)".</summary>
    public string StateName => State?.ToRfcName() ?? "(gone)";
}

/// <summary>
/// The kernel's side of each connection: a thread reads the namespace's TCP socket table (<see cref="KernelTcpTable"/>,
/// the sock_diag dump `ss -tano` prints) about every millisecond and keeps, per socket, each change it saw — of state,
/// of the retransmission count, of the timer, or a timer restarted — with when it was seen, and when the socket
/// disappeared. A state that lasts less than a sample interval can be missed; what is shown was seen.
/// </summary>
public sealed class KernelSocketSampler : IDisposable
{
    private readonly KernelTcpTable _table;
    private readonly Func<TimeSpan> _clock;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    // Per socket (local, remote), in order of first sight: the changes seen, each with the time it was first seen.
    private readonly Dictionary<(IPEndPoint Local, IPEndPoint Remote), List<KernelSocketSample>> _history = [];
    private readonly List<(IPEndPoint Local, IPEndPoint Remote)> _order = [];
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

    /// <summary>Starts sampling the namespace's table, stamping samples with <paramref name="clock"/>.</summary>
    public static KernelSocketSampler Start(ScratchNamespace ns, Func<TimeSpan> clock, TimeSpan interval)
    {
        var sampler = new KernelSocketSampler(ns.OpenTcpTable(), clock, interval);
        sampler._thread.Start();
        return sampler;
    }

    /// <summary>The states one kernel socket was seen in, in order, as RFC names; "gone" once it left the table.</summary>
    public IReadOnlyList<string> States(string local, string remote)
    {
        lock (_gate)
        {
            var key = _history.Keys.FirstOrDefault(k => k.Local.ToString() == local && k.Remote.ToString() == remote);
            if (key.Local is null) return [];
            var names = new List<string>();
            foreach (KernelSocketSample sample in _history[key])
            {
                string name = sample.State?.ToRfcName() ?? "gone";
                if (names.Count == 0 || names[^1] != name) names.Add(name);
            }
            return names;
        }
    }

    /// <summary>Every change seen on one socket (kernel's local endpoint, its peer), in order.</summary>
    public IReadOnlyList<KernelSocketSample> History(IPEndPoint local, IPEndPoint remote)
    {
        lock (_gate) return _history.TryGetValue((local, remote), out List<KernelSocketSample>? seen) ? [.. seen] : [];
    }

    /// <summary>Every socket seen (listeners excluded), in order of first sight, with its changes.</summary>
    public IReadOnlyList<(IPEndPoint Local, IPEndPoint Remote, IReadOnlyList<KernelSocketSample> Changes)> All
    {
        get
        {
            lock (_gate) return [.. _order.Select(k => (k.Local, k.Remote, (IReadOnlyList<KernelSocketSample>)[.. _history[k]]))];
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

    private void Loop()
    {
        Renice.CurrentThread(); // sampling keeps its pace on a busy machine
        var present = new HashSet<(IPEndPoint, IPEndPoint)>();
        TimeSpan? last = null;
        try
        {
            while (!_stop)
            {
                IReadOnlyList<KernelTcpSocket> sockets = _table.Read();
                TimeSpan now = _clock();
                var seenNow = new HashSet<(IPEndPoint, IPEndPoint)>();
                lock (_gate)
                {
                    foreach (KernelTcpSocket socket in sockets)
                    {
                        if (socket.State == KernelTcpState.Listen) continue;
                        (IPEndPoint, IPEndPoint) key = (socket.Local, socket.Remote);
                        seenNow.Add(key);
                        if (!_history.TryGetValue(key, out List<KernelSocketSample>? seen))
                        {
                            _history[key] = seen = [];
                            _order.Add(key);
                        }
                        var sample = new KernelSocketSample(now, socket.State, socket.Timer, socket.Retransmits, socket.Expires);
                        if (seen.Count == 0 || Changed(seen[^1], sample)) seen.Add(sample);
                    }
                    foreach ((IPEndPoint, IPEndPoint) key in present.Where(k => !seenNow.Contains(k)))
                    {
                        _history[key].Add(new KernelSocketSample(now, null, KernelTcpTimer.None, 0, TimeSpan.Zero));
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

    // A new state, timer or retransmission count, a socket back after leaving, or a timer that was restarted (its time
    // left grew by more than the time that passed between the samples, with some slack for the sample's granularity).
    private static bool Changed(KernelSocketSample before, KernelSocketSample now) =>
        before.State != now.State || before.Timer != now.Timer || before.Retransmits != now.Retransmits
        || (now.Timer != KernelTcpTimer.None && now.Expires > before.Expires - (now.At - before.At) + TimeSpan.FromMilliseconds(50));
}
