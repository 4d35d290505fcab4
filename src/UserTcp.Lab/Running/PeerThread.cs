using UserTcp.Interop;

namespace UserTcp.Lab;

/// <summary>
/// A kernel-side application's blocking work (poll, recv, close) on a thread of its own at nice -20, instead of the
/// thread pool or an await continuation: on a busy machine those can wait hundreds of milliseconds to run — past the
/// kernel's 40 ms delayed-ACK time — and when the application acts is what a scenario asks about. The work runs to
/// its end on that one thread, so "read() = 0, then close()" has no hop between the two.
/// </summary>
public static class PeerThread
{
    /// <summary>
    /// Starts <paramref name="work"/> on a new thread; returns once that thread runs at its raised priority, so what the
    /// caller does next (a write, a close) finds the work already waiting rather than still being set up.
    /// </summary>
    public static async Task<PeerThread<T>> StartAsync<T>(string name, Func<T> work, CancellationToken cancellationToken)
    {
        var peer = new PeerThread<T>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Renice.CurrentThread();
            ready.SetResult();
            peer.Run(work);
        })
        { IsBackground = true, Name = name };
        thread.Start();
        await ready.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return peer;
    }
}

/// <summary>Work running on a <see cref="PeerThread"/>.</summary>
public sealed class PeerThread<T>
{
    private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal PeerThread()
    {
    }

    /// <summary>Completes with the work's result (or its exception) once the thread has finished it.</summary>
    public Task<T> Completion => _done.Task;

    internal void Run(Func<T> work)
    {
        try
        {
            _done.SetResult(work());
        }
        catch (Exception e)
        {
            _done.SetException(e);
        }
    }
}
