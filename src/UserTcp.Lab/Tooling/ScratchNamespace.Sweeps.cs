namespace UserTcp.Lab;

/// <summary>
/// One sweep at a time on this machine. Every <see cref="Create"/> in every process sweeps, so a stale namespace is fair
/// game for whichever sweep sees it first: a test that makes one and checks that its own <see cref="RemoveStale"/> takes
/// it lost it, now and then, to a suite running beside it: <see cref="HoldSweeps"/> keeps the others off meanwhile.
/// </summary>
public sealed partial class ScratchNamespace
{
    // The sweeps' lock is an exclusive advisory lock (flock(2), which FileStream takes on Unix for FileShare.None) on a
    // file every process names alike (SweepLockPath). The kernel drops it with its holder: a crash never keeps sweeps off.
    /// <summary>The file whose lock a sweep holds: /run/lock/usertcp-netns-sweep.lock (in the temporary directory where there is no /run/lock).</summary>
    public static string SweepLockPath { get; } = Path.Combine(Directory.Exists("/run/lock") ? "/run/lock" : Path.GetTempPath(), "usertcp-netns-sweep.lock");
    private static readonly TimeSpan SweepLockWait = TimeSpan.FromSeconds(10);
    private static readonly Lock s_sweepHold = new();
    // The lock as this process holds it for HoldSweeps, and how many holds are open; guarded by s_sweepHold.
    private static FileStream? s_heldSweepLock;
    private static int s_sweepHolds;

    /// <summary>
    /// Ends the processes left inside each stale namespace (by pid) and deletes it. Returns the names removed. A sweep
    /// already under way in another process (or kept off by its <see cref="HoldSweeps"/>) makes this one a no-op: what it
    /// leaves, the next sweep takes.
    /// </summary>
    public static IReadOnlyList<string> RemoveStale()
    {
        bool held;
        lock (s_sweepHold) held = s_sweepHolds > 0;
        if (held) return SweepStale();
        using FileStream? sweeping = TryLockSweeps();
        return sweeping is null ? [] : SweepStale();
    }

    /// <summary>
    /// Keeps every other process's sweep off until disposed, while this process's own <see cref="RemoveStale"/> (and
    /// <see cref="Create"/>'s) still sweep: for a test that makes a stale namespace and checks that its sweep removes it.
    /// Waits up to 10 s for a sweep under way elsewhere to end. Hold it briefly: namespaces left stale meanwhile wait.
    /// </summary>
    /// <exception cref="TimeoutException">Another process held the lock all that time.</exception>
    public static IDisposable HoldSweeps()
    {
        lock (s_sweepHold)
        {
            if (s_sweepHolds == 0)
            {
                long start = Environment.TickCount64;
                while ((s_heldSweepLock = TryLockSweeps()) is null)
                {
                    if (Environment.TickCount64 - start > SweepLockWait.TotalMilliseconds)
                    {
                        throw new TimeoutException($"another process held {SweepLockPath} for {SweepLockWait.TotalSeconds:0} s");
                    }
                    Thread.Sleep(20);
                }
            }
            s_sweepHolds++;
        }
        return new SweepHold();
    }

    // The lock, or null when another process (or another sweep of this one) has it, or this user may not open the file
    // (root made it; only root can delete namespaces anyway, and Create then says that namespaces need root).
    private static FileStream? TryLockSweeps()
    {
        try
        {
            return new FileStream(SweepLockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed class SweepHold : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            lock (s_sweepHold)
            {
                if (--s_sweepHolds > 0) return;
                s_heldSweepLock?.Dispose();
                s_heldSweepLock = null;
            }
        }
    }
}
