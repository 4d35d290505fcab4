using System.Diagnostics;
using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets;

/// <summary>Synchronous pumping, device failure, and disposal.</summary>
public sealed partial class NetStack
{
    // How often a graceful dispose looks whether every close has finished.
    private static readonly TimeSpan CloseCheckInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// For a stack made with <see cref="Create"/>: takes every packet the device (each queue) has waiting and runs the
    /// engines on them in batches, fires the timers due at the clock's present, sends what that produced, and finishes
    /// the calls it unblocked (their tasks complete before this returns). Returns the number of packets taken.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stack runs its own reader threads (<see cref="Start"/>).</exception>
    public int Pump()
    {
        if (_shards[0].HasReader) throw new InvalidOperationException("this stack runs its own reader thread (NetStack.Start); Pump is for stacks made with NetStack.Create");
        if (_deviceFailure is Exception failed) throw DeviceFailed(failed);
        int total = 0;
        while (true)
        {
            int round = 0;
            foreach (StackShard shard in _shards)
            {
                try
                {
                    round += shard.PumpOnce(); // with none read, this still runs the due timers
                }
                catch (Exception e) when (e is not OutOfMemoryException && !_stopping && e is not ObjectDisposedException)
                {
                    FailDevice(e);
                    throw DeviceFailed(e);
                }
            }
            total += round;
            if (round == 0) return total;
        }
    }

    /// <summary>
    /// Why the stack stopped working, when its device failed under it (a read error: the TUN interface was deleted, its
    /// namespace went, the descriptor broke); null while it works. From then on every call fails with an
    /// <see cref="IOException"/> that says so.
    /// </summary>
    public Exception? DeviceFailure => _deviceFailure;

    /// <summary>Completes, with <see cref="DeviceFailure"/>, when the device fails; never, while it works.</summary>
    public Task<Exception> WhenDeviceFails => _deviceFailed.Task;

    /// <summary>
    /// The device (any queue of it) failed: nothing can be sent or received again, so every waiting call — reads, writes,
    /// connects, accepts, waits for a state — on every shard fails now with a clear error instead of waiting forever, and
    /// later calls are refused. The connections stay as they were (their peers are unreachable) until the stack is disposed.
    /// </summary>
    internal void FailDevice(Exception error)
    {
        if (_stopping || Interlocked.CompareExchange(ref _deviceFailure, error, null) is not null) return; // stopped, or failed already
        // Recorded first: a call that takes a shard's lock after that shard failed its waiters sees it and fails at once.
        foreach (StackShard shard in _shards)
        {
            try
            {
                shard.FailPending(() => DeviceFailed(error));
            }
            catch (ObjectDisposedException)
            {
                // disposed meanwhile: its waiters have failed already
            }
        }
        List<UserTcpListener> listeners;
        lock (_shards[0].Gate) listeners = [.. _shards[0].Listeners.Select(p => p.Owner)];
        foreach (UserTcpListener listener in listeners) listener.FailPending(DeviceFailed(error));
        _deviceFailed.TrySetResult(error);
    }

    /// <summary>
    /// The error for a call that would wait on the network (or needs it: listen, connect, write) once the device has
    /// failed; null while it works. What already arrived can still be read.
    /// </summary>
    internal IOException? DeviceFailedError() => _deviceFailure is Exception failure ? DeviceFailed(failure) : null;

    /// <summary>The error a call gets once the device has failed with <paramref name="cause"/> (a new one each time: each is thrown once).</summary>
    private IOException DeviceFailed(Exception cause) =>
        new($"UserTcp's network device for {Address} failed ({cause.Message}); the stack can no longer send or receive — dispose it and start a new one", cause);

    /// <summary>
    /// Closes every connection (gracefully with a deadline, or by RST, per <see cref="NetStackOptions.CloseOnDispose"/>;
    /// a stack without reader threads resets them, nothing being there to take the peers' answers), stops the readers
    /// and timers, and disposes the device queues (which removes a TUN interface).
    /// </summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.CompareExchange(ref _disposed, 1, 0) == 0) Volatile.Write(ref _disposal, DisposeCoreAsync());
        SpinWait spin = default;
        while (Volatile.Read(ref _disposal) is null) spin.SpinOnce(); // another caller is storing it this instant
        return new ValueTask(_disposal!);
    }

    private async Task DisposeCoreAsync()
    {
        await Task.Yield(); // the caller may hold a lock's thread; the work runs after DisposeAsync returns its task
        // Without readers (or a device that works) nothing would take the peers' answers: reset rather than wait.
        CloseMode mode = !_shards[0].HasReader || _deviceFailure is not null ? CloseMode.Reset : Options.CloseOnDispose;
        // New connections would only delay the graceful close and then be reset: every shard stops listening first.
        List<UserTcpListener> listeners;
        lock (_shards[0].Gate) listeners = [.. _shards[0].Listeners.Select(p => p.Owner)];
        int open = 0;
        foreach (StackShard shard in _shards) open += shard.CloseAll(mode == CloseMode.Graceful);
        foreach (UserTcpListener listener in listeners) listener.FailPending(new ObjectDisposedException(nameof(UserTcpListener)));
        if (mode == CloseMode.Graceful && open > 0)
        {
            // Done once every FIN is acknowledged: the peer has the whole stream. FIN-WAIT-2 is left as it is (no RST):
            // the peer reads end-of-stream, and whatever it sends later meets a stack that is gone. Bounded on both the
            // stack's clock and the real one, so a stopped test clock cannot hold disposal forever.
            TimeSpan deadline = Now + Options.ShutdownTimeout;
            long started = Stopwatch.GetTimestamp();
            while (!_shards.All(s => s.AllClosesFinished()) && Now < deadline && Stopwatch.GetElapsedTime(started) < Options.ShutdownTimeout)
            {
                await Task.Delay(CloseCheckInterval).ConfigureAwait(false);
            }
        }
        foreach (StackShard shard in _shards) shard.AbortRemaining();
        // Whatever still waits can never be satisfied now; from here on application calls are refused.
        foreach (StackShard shard in _shards) shard.FailWaitingAndStop();
        _stopping = true;
        foreach (StackShard shard in _shards) await shard.StopAsync().ConfigureAwait(false);
        NetStackLog.Stopped(_logger, Address, open, mode);
    }
}
