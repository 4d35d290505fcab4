namespace UserTcp.Testing;

/// <summary>
/// Starves the .NET thread pool for a test: more blocking work items than the pool has threads or starts at once (its
/// minimum), so it grows one thread at a time and anything queued behind them — a system timer's callback among them —
/// waits seconds. A probe queued last tells whether the pool stayed starved (<see cref="StillStarved"/>); a test that
/// finds it ran proves nothing. Each blocker waits at most 10 s; Dispose lets them all go and waits (bounded) until they
/// have and the probe has run, so none is left behind.
/// </summary>
public sealed class ThreadPoolStarvation : IDisposable
{
    private static readonly TimeSpan BlockAtMost = TimeSpan.FromSeconds(10);
    private readonly ManualResetEventSlim _release = new();
    private readonly CountdownEvent _done;
    private readonly ManualResetEventSlim _probe = new();

    private ThreadPoolStarvation(int blockers)
    {
        _done = new CountdownEvent(blockers);
        for (int i = 0; i < blockers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state =>
            {
                var self = (ThreadPoolStarvation)state!;
                try
                {
                    self._release.Wait(BlockAtMost);
                }
                finally
                {
                    self._done.Signal();
                }
            }, this);
        }
        ThreadPool.UnsafeQueueUserWorkItem(static state => ((ThreadPoolStarvation)state!)._probe.Set(), this);
    }

    /// <summary>Queues the blockers and the probe: 64 more blockers than the pool's threads or its minimum.</summary>
    public static ThreadPoolStarvation Begin()
    {
        ThreadPool.GetMinThreads(out int minimum, out _);
        return new ThreadPoolStarvation(Math.Max(ThreadPool.ThreadCount, minimum) + 64);
    }

    /// <summary>True while the pool has not reached the probe queued behind the blockers.</summary>
    public bool StillStarved => !_probe.IsSet;

    public void Dispose()
    {
        _release.Set();
        bool finished = _done.Wait(TimeSpan.FromSeconds(15));
        bool probed = _probe.Wait(TimeSpan.FromSeconds(5));
        if (!finished || !probed) throw new TimeoutException("the thread pool's blocking work items or its probe did not finish");
        _done.Dispose();
        _probe.Dispose();
        _release.Dispose();
    }
}
