using System.Diagnostics;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>The reader thread, synchronous pumping, and disposal.</summary>
public sealed partial class NetStack
{
    // How long the reader waits on an idle device before it looks at the stop flag again.
    private static readonly TimeSpan StopCheckInterval = TimeSpan.FromMilliseconds(200);
    // How often a graceful dispose looks whether every close has finished.
    private static readonly TimeSpan CloseCheckInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// For a stack made with <see cref="Create"/>: takes every packet the device has waiting and runs the engine on
    /// them in batches, fires the timers due at the clock's present, sends what that produced, and finishes the calls
    /// it unblocked (their tasks complete before this returns). Returns the number of packets taken.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stack runs its own reader thread (<see cref="Start"/>).</exception>
    public int Pump()
    {
        if (_reader is not null) throw new InvalidOperationException("this stack runs its own reader thread (NetStack.Start); Pump is for stacks made with NetStack.Create");
        if (_deviceFailure is Exception failed) throw DeviceFailed(failed);
        int total = 0;
        while (true)
        {
            int count;
            try
            {
                count = _received.Fill(_device);
            }
            catch (Exception e) when (e is not OutOfMemoryException && !_stopping)
            {
                FailDevice(e);
                throw DeviceFailed(e);
            }
            ProcessReceived(); // with none read, this still runs the due timers
            total += count;
            if (count == 0) return total;
        }
    }

    private void ReadLoop()
    {
        try
        {
            while (!_stopping)
            {
                // Take what is waiting, batch by batch, and poll the device only once it is empty.
                if (_received.Fill(_device) > 0)
                {
                    ProcessReceived();
                }
                else if (!_stopping)
                {
                    _device.WaitReadable(StopCheckInterval);
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device that fails or is closed under the reader ends the stack; at shutdown that is expected.
            if (!_stopping && _disposed == 0)
            {
                NetStackLog.ReadFailed(_logger, e);
                try
                {
                    FailDevice(e);
                }
                catch (Exception inner) when (inner is not OutOfMemoryException)
                {
                    // Never out of the reader thread (it would end the process); a stack disposed meanwhile gets here.
                    NetStackLog.ProcessingFailed(_logger, 0, inner);
                }
            }
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
    /// The device failed: nothing can be sent or received again, so every waiting call — reads, writes, connects,
    /// accepts, waits for a state — fails now with a clear error instead of waiting forever, and later calls are refused.
    /// The connections stay as they were (their peers are unreachable) until the stack is disposed.
    /// </summary>
    private void FailDevice(Exception error)
    {
        _gate.Enter();
        if (_stopping && _disposed != 0 || _deviceFailure is not null)
        {
            _gate.Exit(); // disposed meanwhile (its device closed under the reader), or already failed
            return;
        }
        try
        {
            _deviceFailure = error;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timerDue = null;
            foreach (UserTcpConnection connection in _connections.Values) connection.FailPending(DeviceFailed(error));
            foreach (UserTcpListener listener in _listeners.Values) listener.FailPending(DeviceFailed(error));
        }
        finally
        {
            Exit();
        }
        _deviceFailed.TrySetResult(error);
    }

    /// <summary>
    /// Under the engine lock: the error for a call that would wait on the network (or needs it: listen, connect, write)
    /// once the device has failed; null while it works. What already arrived can still be read.
    /// </summary>
    internal IOException? DeviceFailedError() => _deviceFailure is Exception failure ? DeviceFailed(failure) : null;

    /// <summary>The error a call gets once the device has failed with <paramref name="cause"/> (a new one each time: each is thrown once).</summary>
    private IOException DeviceFailed(Exception cause) =>
        new($"UserTcp's network device for {Address} failed ({cause.Message}); the stack can no longer send or receive — dispose it and start a new one", cause);

    /// <summary>
    /// One pass for the packets in <see cref="_received"/>, all stamped with one instant. The packets go in before due
    /// timers fire (Exit polls): after a stall, the ACKs that waited in the device must reach the engine before the
    /// loss-detection timers they answer (a tail loss probe, RACK's reorder timer, the RTO) fire spuriously.
    /// </summary>
    private void ProcessReceived()
    {
        TimeSpan now = Enter(pollFirst: false);
        try
        {
            for (int i = 0; i < _received.Count; i++) Receive(_received[i], _received.Offload(i).ChecksumTrusted, now);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Closes every connection (gracefully with a deadline, or by RST, per <see cref="NetStackOptions.CloseOnDispose"/>;
    /// a stack without a reader thread resets them, nothing being there to take the peers' answers), stops the reader
    /// and timer, and disposes the device (which removes a TUN interface).
    /// </summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed == 0)
            {
                _disposed = 1;
                _disposal = DisposeCoreAsync();
            }
        }
        return new ValueTask(_disposal!);
    }

    private async Task DisposeCoreAsync()
    {
        await Task.Yield(); // the caller may hold the lock's thread; the work runs after DisposeAsync returns its task
        // Without a reader (or a device that works) nothing would take the peers' answers: reset rather than wait.
        CloseMode mode = _reader is null || _deviceFailure is not null ? CloseMode.Reset : Options.CloseOnDispose;
        int open;
        Enter();
        try
        {
            // New connections would only delay the graceful close and then be reset: stop listening first.
            foreach (UserTcpListener listener in _listeners.Values.ToList()) listener.CloseUnderLock();
            open = _engine.Connections.Count(c => c.State != TcpState.TimeWait);
            if (mode == CloseMode.Graceful)
            {
                foreach (TcpConnection c in _engine.Connections.ToList()) c.Close();
            }
        }
        finally
        {
            Exit();
        }
        if (mode == CloseMode.Graceful && open > 0)
        {
            // Done once every FIN is acknowledged: the peer has the whole stream. FIN-WAIT-2 is left as it is (no RST):
            // the peer reads end-of-stream, and whatever it sends later meets a stack that is gone. Bounded on both the
            // stack's clock and the real one, so a stopped test clock cannot hold disposal forever.
            TimeSpan deadline = Now + Options.ShutdownTimeout;
            long started = Stopwatch.GetTimestamp();
            while (!AllClosesFinished() && Now < deadline && Stopwatch.GetElapsedTime(started) < Options.ShutdownTimeout)
            {
                await Task.Delay(CloseCheckInterval).ConfigureAwait(false);
            }
        }
        Enter();
        try
        {
            foreach (TcpConnection c in _engine.Connections.ToList())
            {
                if (c.State is not (TcpState.TimeWait or TcpState.FinWait2)) c.Abort();
            }
        }
        finally
        {
            Exit();
        }
        Enter();
        try
        {
            // Whatever still waits can never be satisfied now; from here on application calls are refused.
            foreach (UserTcpConnection connection in _connections.Values) connection.FailPending(new ObjectDisposedException(nameof(NetStack)));
            _stopping = true;
        }
        finally
        {
            Exit();
        }
        await _timer.DisposeAsync().ConfigureAwait(false);
        _reader?.Join(StopCheckInterval * 3);
        _device.Dispose();
        NetStackLog.Stopped(_logger, Address, open, mode);
    }

    private bool AllClosesFinished()
    {
        lock (_gate) return _engine.Connections.All(c => c.State is TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed);
    }
}
