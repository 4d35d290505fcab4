using Microsoft.Win32.SafeHandles;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Tmds.Linux;
using UserTcp.Interop;
using UserTcp.Tun;

namespace UserTcp.Lab;

/// <summary>
/// A network namespace made for one run of a test, demo or lab, named <c>usertcp-PURPOSE-PID-N</c> and deleted
/// when the run ends. Inside it: loopback up, IPv6 off, the TUN device (<see cref="OpenTun"/>) and the kernel
/// peers (<see cref="Start"/>). The host's own interfaces and routes are never touched.
/// </summary>
/// <remarks>
/// <para>Cleanup happens on <see cref="Dispose"/>, and for namespaces still alive when the process exits
/// normally or on SIGTERM (<see cref="AppDomain.ProcessExit"/>). A process that dies without either (SIGKILL,
/// a crash, a power cut) leaves its namespaces behind; the next <see cref="Create"/> in any process finds
/// those whose owner is gone and removes them (<see cref="RemoveStale"/>). Ctrl-C is the application's to turn
/// into an orderly exit (the `usertcp` commands do), after which Dispose runs as usual.</para>
/// <para>Processes: Dispose ends, by pid, the processes this namespace started that still run, with their
/// descendants. A stale namespace's owner is gone, so whatever still runs inside it was left by that run, and is
/// ended (by pid, each while it is still inside: <see cref="EndIfIn"/>) before the namespace is deleted.</para>
/// </remarks>
public sealed partial class ScratchNamespace : IDisposable
{
    /// <summary>Every namespace this class makes starts with this.</summary>
    public const string NamePrefix = "usertcp-";

    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(5);
    // A namespace made before its supposed owner started belongs to an earlier process with the same pid. Process
    // start times come from /proc in clock ticks (10 ms) and the two clocks are read a moment apart, hence the slack.
    private static readonly TimeSpan StartTimeSlack = TimeSpan.FromSeconds(1);
    private static readonly HashSet<ScratchNamespace> s_live = [];
    private static int s_created;
    private static bool s_exitHookInstalled;

    // Processes started in this namespace, in order, with their ids and start times kept apart from the Process objects
    // (a caller may dispose those); those still running at Dispose are killed by pid. Guarded by itself.
    private readonly List<(Process Process, int Id, ulong? StartTicks)> _started = [];
    private int _disposed;

    private ScratchNamespace(string name, string purpose)
    {
        Name = name;
        Purpose = purpose;
    }

    /// <summary>The namespace's name, e.g. usertcp-demo-4242-1, as `ip netns list` shows it.</summary>
    public string Name { get; }

    /// <summary>What the namespace is for (the PURPOSE in its name).</summary>
    public string Purpose { get; }

    /// <summary>Stale namespaces removed by the <see cref="Create"/> call that made this one.</summary>
    public IReadOnlyList<string> RemovedStale { get; private init; } = [];

    /// <summary>The ids of the processes started in this namespace so far (running or not).</summary>
    public IReadOnlyList<int> StartedProcessIds
    {
        get
        {
            lock (_started)
            {
                return [.. _started.Select(p => p.Id)];
            }
        }
    }

    /// <summary>
    /// Removes stale namespaces (<see cref="RemoveStale"/>), then makes <c>usertcp-PURPOSE-PID-N</c> with loopback up
    /// and IPv6 off (so new interfaces send no router solicitations or MLD reports).
    /// </summary>
    /// <param name="purpose">Lowercase letters, digits and dashes, e.g. "demo" or "it".</param>
    /// <exception cref="TunException">The namespace cannot be made; the message says what to do.</exception>
    public static ScratchNamespace Create(string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        if (!PurposePattern().IsMatch(purpose))
        {
            throw new ArgumentException($"'{purpose}' is not a namespace purpose: use lowercase letters, digits and dashes, e.g. demo", nameof(purpose));
        }
        IReadOnlyList<string> removed = RemoveStale();
        string name = string.Create(CultureInfo.InvariantCulture,
            $"{NamePrefix}{purpose}-{Environment.ProcessId}-{Interlocked.Increment(ref s_created)}");
        ToolOutcome added = IpTool.Run(ToolTimeout, "netns", "add", name);
        if (!added.Succeeded)
        {
            throw new TunException(added.Describe().Contains("not permitted", StringComparison.Ordinal) ? LibC.EPERM : 0,
                $"ip netns add {name} failed ({added.Describe()}): network namespaces need root (CAP_SYS_ADMIN)");
        }
        var scratch = new ScratchNamespace(name, purpose) { RemovedStale = removed };
        lock (s_live)
        {
            s_live.Add(scratch);
            if (!s_exitHookInstalled)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAllLive();
                s_exitHookInstalled = true;
            }
        }
        try
        {
            ToolOutcome lo = IpTool.Run(ToolTimeout, "-n", name, "link", "set", "lo", "up");
            if (!lo.Succeeded)
            {
                throw new TunException(0, $"bringing lo up in namespace {name} failed: {lo.Describe()}");
            }
            scratch.DisableIpv6();
            return scratch;
        }
        catch
        {
            scratch.Dispose();
            throw;
        }
    }

    /// <summary>Creates a TUN device inside the namespace; it is used from any thread afterwards.</summary>
    public TunDevice OpenTun(TunOptions options) => Invoke(() => TunDevice.Open(options));

    /// <summary>Opens the namespace's kernel TCP socket table (what `ss -tan` shows inside it).</summary>
    public KernelTcpTable OpenTcpTable() => Invoke(KernelTcpTable.Open);

    /// <summary>Runs <paramref name="action"/> on a thread joined to this namespace (see <see cref="NetworkNamespace.Invoke"/>).</summary>
    public T Invoke<T>(Func<T> action)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return NetworkNamespace.Invoke(Name, action);
    }

    /// <summary>
    /// Starts <paramref name="startInfo"/>'s program inside the namespace (as `ip netns exec NAME PROGRAM ARGS`, which
    /// execs in place, so the process's id is the program's). Redirections, environment and working directory are
    /// kept. The process is ended by <see cref="Dispose"/> if it still runs then.
    /// </summary>
    public Process Start(ProcessStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (startInfo.UseShellExecute)
        {
            throw new ArgumentException("UseShellExecute is not supported: give the program and its arguments", nameof(startInfo));
        }
        if (startInfo.ArgumentList.Count == 0 && startInfo.Arguments.Length > 0)
        {
            throw new ArgumentException("give the arguments in ArgumentList, not as one string", nameof(startInfo));
        }
        var inside = new ProcessStartInfo(IpTool.Path)
        {
            UseShellExecute = false,
            RedirectStandardInput = startInfo.RedirectStandardInput,
            RedirectStandardOutput = startInfo.RedirectStandardOutput,
            RedirectStandardError = startInfo.RedirectStandardError,
            StandardInputEncoding = startInfo.StandardInputEncoding,
            StandardOutputEncoding = startInfo.StandardOutputEncoding,
            StandardErrorEncoding = startInfo.StandardErrorEncoding,
            WorkingDirectory = startInfo.WorkingDirectory,
            CreateNoWindow = startInfo.CreateNoWindow,
        };
        foreach (string argument in (string[])["netns", "exec", Name, startInfo.FileName, .. startInfo.ArgumentList])
        {
            inside.ArgumentList.Add(argument);
        }
        inside.Environment.Clear();
        foreach ((string key, string? value) in startInfo.Environment)
        {
            inside.Environment[key] = value;
        }
        lock (_started)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            Process process = Process.Start(inside) ?? throw new InvalidOperationException($"could not start {startInfo.FileName}");
            _started.Add((process, process.Id, StartTicks(process.Id)));
            return process;
        }
    }

    /// <summary>Starts <paramref name="command"/> (program and arguments) inside the namespace, without redirection.</summary>
    public Process Start(params string[] command)
    {
        ArgumentOutOfRangeException.ThrowIfZero(command.Length);
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        return Start(start);
    }

    /// <summary>
    /// Ends the processes started here that still run (by pid, with their descendants), then deletes the namespace.
    /// The TUN devices opened in it should be disposed first. Safe to call more than once.
    /// </summary>
    /// <exception cref="TunException">`ip netns del` failed; the namespace is left for the next stale sweep.</exception>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        lock (s_live)
        {
            s_live.Remove(this);
        }
        lock (_started)
        {
            foreach ((Process process, int id, ulong? startTicks) in _started)
            {
                Kill(process, id, startTicks);
            }
            _started.Clear();
        }
        ToolOutcome deleted = IpTool.Run(ToolTimeout, "netns", "del", Name);
        if (!deleted.Succeeded && Exists(Name))
        {
            throw new TunException(0, $"ip netns del {Name} failed ({deleted.Describe()}): delete it by hand, or the next run removes it");
        }
    }

    public override string ToString() => Name;

    /// <summary>The names of the namespaces that exist now (those `ip netns list` shows).</summary>
    public static IReadOnlyList<string> ListAll() =>
        Directory.Exists(NetworkNamespace.RunDirectory)
            ? [.. Directory.EnumerateFiles(NetworkNamespace.RunDirectory).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]
            : [];

    /// <summary>Whether a namespace of that name exists.</summary>
    public static bool Exists(string name) => File.Exists(System.IO.Path.Combine(NetworkNamespace.RunDirectory, name));

    /// <summary>Splits <c>usertcp-PURPOSE-PID-N</c> into its parts; false for any other name.</summary>
    public static bool TryParseName(string name, out string purpose, out int ownerPid, out int sequence)
    {
        purpose = "";
        ownerPid = sequence = 0;
        Match match = NamePattern().Match(name ?? "");
        if (!match.Success
            || !int.TryParse(match.Groups["pid"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out ownerPid)
            || !int.TryParse(match.Groups["n"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out sequence))
        {
            return false;
        }
        purpose = match.Groups["purpose"].Value;
        return true;
    }

    /// <summary>
    /// The namespaces named <c>usertcp-PURPOSE-PID-N</c> whose owner is gone: no process PID is alive, or the one
    /// alive started after the namespace was made (the pid was reused).
    /// </summary>
    public static IReadOnlyList<string> FindStale() =>
        [.. ListAll().Where(name => TryParseName(name, out _, out int pid, out _) && !OwnerAlive(name, pid))];

    // RemoveStale's work, under the sweeps' lock (ScratchNamespace.Sweeps.cs).
    private static List<string> SweepStale()
    {
        var removed = new List<string>();
        foreach (string name in FindStale())
        {
            string path = System.IO.Path.Combine(NetworkNamespace.RunDirectory, name);
            // Held open until the late joiners are ended: the namespace, and so its identity, cannot be freed and given to
            // another namespace meanwhile, whose processes would then match. Everything below acts on the namespace held,
            // judged stale again by its own creation time: the name may have been swept by another process and made anew
            // by a new owner with the dead one's pid since FindStale looked.
            using SafeFileHandle? hold = TryOpen(path);
            string? identity = hold is null ? null : IdentityOf(hold);
            if (hold is null || identity is null)
            {
                // Another sweep may be at work at the same moment; a namespace gone either way counts.
                if (!Exists(name)) removed.Add(name);
                continue;
            }
            if (!TryParseName(name, out _, out int owner, out _) || OwnerAlive(hold, owner))
            {
                continue;
            }
            foreach (int pid in ProcessesIn([identity])) EndIfIn(pid, identity);
            // Deleted by name only while the name still holds this namespace; gone or replaced, it was swept meanwhile.
            if (TryIdentityOf(path) != identity || IpTool.Run(ToolTimeout, "netns", "del", name).Succeeded || TryIdentityOf(path) != identity)
            {
                removed.Add(name);
            }
            EndLateJoiners(identity);
        }
        return removed;
    }

    /// <summary>
    /// Ends process <paramref name="pid"/> if it is (still) in the namespace <paramref name="identity"/> names
    /// (<see cref="IdentityOf(string)"/>): the sweep's pids come from a scan of /proc, and one that exited since may name
    /// another process by now. The process is pinned before its namespace is read (<see cref="Syscalls.KillIfStill"/>).
    /// True when it was sent SIGKILL.
    /// </summary>
    public static bool EndIfIn(int pid, string identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (pid == Environment.ProcessId) return false;
        return Syscalls.KillIfStill(pid, () => ProcessNamespace(pid) == identity);
    }

    // What /proc/PID/ns/net links to; null when the process is gone (or a kernel thread).
    private static string? ProcessNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // The identity of the namespace a handle opened from /var/run/netns holds: "net:[INODE]" with its nsfs inode number.
    private static string? IdentityOf(SafeFileHandle hold) =>
        Syscalls.InodeOf(hold) is ulong inode ? string.Create(CultureInfo.InvariantCulture, $"net:[{inode}]") : null;

    // The identity of the namespace a path names now, null when there is none.
    private static string? TryIdentityOf(string path)
    {
        using SafeFileHandle? handle = TryOpen(path);
        return handle is null ? null : IdentityOf(handle);
    }

    private static SafeFileHandle? TryOpen(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// What /proc/PID/ns/net links to for the processes inside the named namespace ("net:[4026532177]"): the namespace's
    /// identity, which outlives its name while a process keeps it alive.
    /// </summary>
    /// <exception cref="TunException">No namespace has that name.</exception>
    public static string? IdentityOf(string name) => NetworkNamespace.Invoke(name, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget);

    /// <summary>The processes, this one aside, whose network namespace has one of <paramref name="identities"/> (<see cref="IdentityOf"/>).</summary>
    public static IReadOnlyList<int> ProcessesIn(IReadOnlyCollection<string> identities)
    {
        ArgumentNullException.ThrowIfNull(identities);
        var found = new List<int>();
        foreach (string proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            string? target;
            try
            {
                target = new FileInfo(System.IO.Path.Combine(proc, "ns", "net")).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone meanwhile, or a kernel thread
            }
            if (target is not null && identities.Contains(target)) found.Add(pid);
        }
        return found;
    }

    /// <summary>
    /// A process the dead run was starting as it died (`ip netns exec` between fork and setns) is not among `ip netns
    /// pids` and joins the namespace after: the deletion only removes its name, and the process keeps it alive. Such
    /// processes are found by the namespace's identity in /proc and ended, for half a second after the deletion (a sweep is
    /// rare: it follows a crash).
    /// </summary>
    private static void EndLateJoiners(string identity)
    {
        for (int look = 0; look < 10; look++)
        {
            if (look > 0) Thread.Sleep(50);
            foreach (int pid in ProcessesIn([identity])) EndIfIn(pid, identity);
        }
    }

    // Also for this process's own pid: a namespace of that name made before this process started is an earlier one's.
    // The namespace handle's times are those of the namespace's creation.
    private static bool OwnerAlive(string name, int pid) =>
        OwnerAlive(() => File.GetLastWriteTimeUtc(System.IO.Path.Combine(NetworkNamespace.RunDirectory, name)), pid);

    // The same judgement for a namespace held open.
    private static bool OwnerAlive(SafeFileHandle hold, int pid) => OwnerAlive(() => File.GetLastWriteTimeUtc(hold), pid);

    private static bool OwnerAlive(Func<DateTime> made, int pid)
    {
        try
        {
            DateTime madeAt = made();
            return ProcessStartTime(pid) is DateTime started && started <= madeAt + StartTimeSlack;
        }
        catch (IOException)
        {
            return true; // the namespace's time unreadable: not judged stale
        }
    }

    // When a process started (wall clock), from /proc/PID/stat field 22 and /proc/uptime; null when it is not running.
    private static DateTime? ProcessStartTime(int pid)
    {
        try
        {
            if (StartTicks(pid) is not ulong ticks)
            {
                // Gone (or unreadable, which for root means gone): the owner is not alive.
                return Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}") ? DateTime.MinValue : null;
            }
            // Both count from boot (CLOCK_BOOTTIME): the process's age is the uptime less its start, to the clock tick.
            // (/proc/stat's btime would do too, but it is rounded to the second.) USER_HZ is 100 wherever .NET runs.
            string uptime = File.ReadAllText("/proc/uptime").Split(' ')[0];
            double age = double.Parse(uptime, NumberStyles.Float, CultureInfo.InvariantCulture) - ticks / 100.0;
            return DateTime.UtcNow.AddSeconds(-age);
        }
        catch (Exception e) when (e is IOException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            return DateTime.MinValue;
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(KillTimeout);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It ended on its own meanwhile.
        }
    }

    // The caller may have disposed the Process object: then the pid is used, if it still names the process started.
    private static void Kill(Process process, int id, ulong? startTicks)
    {
        bool disposed;
        try
        {
            _ = process.HasExited;
            disposed = false;
        }
        catch (InvalidOperationException)
        {
            disposed = true;
        }
        if (!disposed)
        {
            Kill(process);
        }
        else if (startTicks is not null && StartTicks(id) == startTicks)
        {
            KillById(id);
        }
    }

    // Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; with the pid it names one process.
    private static ulong? StartTicks(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return ulong.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or OverflowException)
        {
            return null;
        }
    }

    private static void KillById(int pid)
    {
        try
        {
            using Process process = Process.GetProcessById(pid);
            Kill(process);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    private static void DisposeAllLive()
    {
        ScratchNamespace[] live;
        lock (s_live)
        {
            live = [.. s_live];
        }
        foreach (ScratchNamespace scratch in live)
        {
            try
            {
                scratch.Dispose();
            }
            catch (TunException)
            {
                // Exiting anyway; the next run's stale sweep removes it.
            }
        }
    }

    // The kernel would otherwise send IPv6 router solicitations and MLD reports on every new interface.
    // /proc/sys/net shows the namespace of the thread that opens it.
    private void DisableIpv6()
    {
        if (Directory.Exists("/proc/sys/net/ipv6"))
        {
            Invoke(() =>
            {
                File.WriteAllText("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
                File.WriteAllText("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
                return true;
            });
        }
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex PurposePattern();

    [GeneratedRegex(@"^usertcp-(?<purpose>[a-z0-9]+(?:-[a-z0-9]+)*)-(?<pid>[0-9]{1,9})-(?<n>[0-9]{1,9})$")]
    private static partial Regex NamePattern();
}
