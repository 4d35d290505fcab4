using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets;

/// <summary>The socket semantics over the engine, and the pending calls the stack retries when the connection changes.</summary>
public sealed partial class UserTcpConnection
{
    // The pending read and write, made on first need and reused for every later call. Guarded by the engine lock.
    private UserOperation<int>? _read;
    private UserOperation<int>? _write;
    // Where the pending read copies to, and what the pending write has still to queue. Guarded by the engine lock.
    private Memory<byte> _readBuffer;
    // The pending read throws the connection's failure (ReadAsync) rather than returning -1 and leaving it (TryReadAsync).
    private bool _readThrowsFailure;
    // The pending read and write are the Stream's: their failures are IOExceptions (Failure).
    private bool _readForStream;
    private bool _writeForStream;
    private ReadOnlyMemory<byte> _writeRest;
    // The pending write's flags (MSG_EOR, MSG_MORE).
    private UserTcpSendFlags _writeFlags;
    // Waits for a state (connected, flushed, lingering close), rare enough to allocate. Guarded by the engine lock.
    private List<StateWait>? _stateWaits;
    // The connection's failure was returned once (Linux's sock_error clears sk_err). Guarded by the engine lock.
    private bool _errorReported;

    internal FourTuple Id => _tcb.Id;
    /// <summary>On the stack's list of connections to retry at the end of the current pass.</summary>
    internal bool IsTouched { get; set; }
    /// <summary>The peer reset the connection after its FIN (in CLOSE-WAIT): the error is EPIPE, as Linux's tcp_reset sets it.</summary>
    internal bool ResetAfterPeerClosed { get; set; }
    internal bool HasPendingCalls => _read is { IsPending: true } || _write is { IsPending: true } || _stateWaits is { Count: > 0 } || _watch is { Watchers.Count: > 0 };

    /// <summary>
    /// Under the engine lock: a read now would find nothing and change nothing — no data, no FIN, no failure, no shutdown,
    /// and the connection synchronized and not closed (what <see cref="ReceiveCore"/> answers WouldBlock for once the
    /// handshake is done). Such a read may wait, or answer WouldBlock, without a pass: the engine is not asked anything.
    /// </summary>
    private bool ReadWouldWait =>
        _tcb.BytesToRead == 0 && !_tcb.FinReceived && !_tcb.IsReceiveShutdown && _tcb.Error == TcpError.None
        && (_tcb.State is not (TcpState.Closed or TcpState.SynSent or TcpState.SynReceived) || _tcb.SendsBeforeHandshake);

    /// <summary>Under the engine lock: the read would wait and no earlier pass left calls to retry, so it needs no pass of its own.</summary>
    private bool ReadNeedsNoPass => ReadWouldWait && _shard.NothingToRetry;

    /// <summary>
    /// A read without waiting: bytes read (0 at end-of-stream), or -1 with <paramref name="error"/> WouldBlock or the
    /// failure. The order is Linux's tcp_recvmsg: data first, then the peer's FIN, then a pending error.
    /// </summary>
    private int ReceiveCore(Span<byte> buffer, out SocketError error, bool reportFailure = true)
    {
        error = SocketError.Success;
        // A zero-byte read completes when a read would not block, as a socket's does (Kestrel waits this way before
        // it takes a buffer, so an idle connection holds none).
        if (buffer.IsEmpty && _tcb.BytesToRead > 0) return 0;
        if (_tcb.BytesToRead == 0)
        {
            if (_tcb.FinReceived) return 0;
            error = reportFailure ? TakePendingError() : PeekPendingError();
            if (error != SocketError.Success) return -1;
            if (_tcb.State is TcpState.SynSent or TcpState.SynReceived && !_tcb.SendsBeforeHandshake)
            {
                error = SocketError.WouldBlock;
                return -1;
            }
            if (_tcb.State == TcpState.Closed) return 0;
        }
        try
        {
            switch (_tcb.Receive(buffer, out int read))
            {
                case ReceiveStatus.Data:
                    return read;
                case ReceiveStatus.EndOfStream:
                    return 0;
                default:
                    error = SocketError.WouldBlock;
                    return -1;
            }
        }
        catch (TcpException e)
        {
            _errorReported = true;
            error = _shard.Translate(e.Error);
            return -1;
        }
    }

    /// <summary>A write without waiting: bytes queued, or -1 with <paramref name="error"/> WouldBlock (no room yet, or still opening) or the failure.</summary>
    private int SendCore(ReadOnlySpan<byte> data, out SocketError error, UserTcpSendFlags flags = UserTcpSendFlags.None, bool fastOpenQueue = false)
    {
        error = TakePendingError();
        if (error != SocketError.Success) return -1;
        if (_tcb.IsSendShutdown || _tcb.State == TcpState.Closed)
        {
            error = SocketError.Shutdown; // EPIPE
            return -1;
        }
        // Like Linux's sk_stream_wait_connect: data waits for the handshake rather than riding in SYN-SENT's buffer; but a
        // Fast Open SYN waiting for its data takes what fits in it (tcp_sendmsg_fastopen), and a blocking Fast Open write
        // queues all it can behind the SYN (UserTcpConnection.FastOpen.cs).
        // An accepted Fast Open connection writes before the handshake's ACK (tcp_sendmsg_locked's tcp_passive_fastopen).
        if (_tcb.State is TcpState.SynSent or TcpState.SynReceived && !_tcb.SendsBeforeHandshake)
        {
            if (_tcb.FastOpenAwaitsData && data.IsEmpty)
            {
                _tcb.SendFastOpenSyn(); // a write of nothing sends the SYN with the cookie alone, and says EINPROGRESS
                error = SocketError.InProgress;
                return -1;
            }
            if (_tcb.FastOpenAwaitsData && !fastOpenQueue) data = data[..Math.Min(data.Length, _tcb.FastOpenSynRoom)];
            else if (!(fastOpenQueue && _tcb.FastOpenRequested && _tcb.State == TcpState.SynSent))
            {
                error = SocketError.WouldBlock;
                return -1;
            }
        }
        if (data.IsEmpty) return 0;
        int accepted;
        try
        {
            accepted = _tcb.Send(data, (flags & UserTcpSendFlags.EndOfRecord) != 0, (flags & UserTcpSendFlags.More) != 0);
        }
        catch (TcpException e)
        {
            error = _shard.Translate(e.Error);
            return -1;
        }
        if (accepted < data.Length) NoteNoSpace(); // Linux's SOCK_NOSPACE: room appearing later wakes the writer's poll
        if (accepted > 0) return accepted;
        error = SocketError.WouldBlock;
        return -1;
    }

    /// <summary>
    /// The exception a failed read or write throws: the <see cref="SocketException"/>, or for the Stream an
    /// <see cref="IOException"/> around it, as NetworkStream's (Stream users, HttpClient among them, catch IOException).
    /// </summary>
    private static Exception Failure(SocketError error, bool forStream, bool reading)
    {
        var socket = new SocketException((int)error);
        if (!forStream) return socket;
        return new IOException($"Unable to {(reading ? "read data from" : "write data to")} the transport connection: {socket.Message}.", socket);
    }

    /// <summary>The failure not yet reported, marking it reported; Success when there is none.</summary>
    private SocketError TakePendingError()
    {
        SocketError error = PeekPendingError();
        if (error != SocketError.Success) _errorReported = true;
        return error;
    }

    /// <summary>
    /// The engine's errors a socket reports (Linux's sk_err): the connection failed — refused, reset, timed out, or timed
    /// out after an ICMP soft error (EHOSTUNREACH, ENETUNREACH) — rather than being closed or aborted by the application.
    /// </summary>
    private static bool IsFailure(TcpError error) =>
        error is TcpError.ConnectionRefused or TcpError.ConnectionReset or TcpError.TimedOut or TcpError.HostUnreachable or TcpError.NetworkUnreachable;

    /// <summary>The failure not yet reported, left unreported; Success when there is none.</summary>
    private SocketError PeekPendingError()
    {
        if (_errorReported || !IsFailure(_tcb.Error)) return SocketError.Success;
        return _tcb.Error == TcpError.ConnectionReset && ResetAfterPeerClosed ? SocketError.Shutdown : _shard.Translate(_tcb.Error);
    }

    /// <summary>Under the engine lock, at the end of a pass that touched this connection: retries what is pending.</summary>
    internal void Service(TransmitBatch batch)
    {
        if (_read is { IsPending: true } read)
        {
            int n = ReceiveCore(_readBuffer.Span, out SocketError error, reportFailure: _readThrowsFailure);
            if (n >= 0)
            {
                _readBuffer = default;
                read.Finish(n, batch);
            }
            else if (error != SocketError.WouldBlock)
            {
                _readBuffer = default;
                if (_readThrowsFailure) read.Fail(Failure(error, _readForStream, reading: true), batch);
                else read.Finish(-1, batch); // the failure stays for TakeError
            }
        }
        if (_write is { IsPending: true } write && !_tcb.WriteWaitsForWakeup) // sk_stream_wait_memory sleeps until sk_stream_write_space
        {
            while (!_writeRest.IsEmpty)
            {
                int n = SendCore(_writeRest.Span, out SocketError error, _writeFlags);
                if (n > 0)
                {
                    _writeRest = _writeRest[n..];
                    continue;
                }
                if (error != SocketError.WouldBlock)
                {
                    _writeRest = default;
                    write.Fail(Failure(error, _writeForStream, reading: false), batch);
                }
                break;
            }
            if (write.IsPending && _writeRest.IsEmpty) write.Finish(0, batch);
        }
        if (_stateWaits is { Count: > 0 } waits)
        {
            for (int i = waits.Count - 1; i >= 0; i--)
            {
                if (!waits[i].Condition(_tcb)) continue;
                waits[i].Finish();
                waits.RemoveAt(i);
            }
        }
        WakeWatchers();
    }

    /// <summary>Under the engine lock, at disposal: nothing will ever satisfy what is pending.</summary>
    internal void FailPending(Exception error)
    {
        TransmitBatch batch = _shard.Batch;
        if (_read is { IsPending: true } read) read.Fail(error, batch);
        if (_write is { IsPending: true } write) write.Fail(error, batch);
        if (_stateWaits is { } waits)
        {
            foreach (StateWait wait in waits) wait.Fail(error);
            waits.Clear();
        }
        _readBuffer = default;
        _writeRest = default;
    }

    /// <summary>
    /// Completes when <paramref name="condition"/> holds for the connection (checked now and whenever it changes), or
    /// when <paramref name="timeout"/> runs out on the stack's clock. <paramref name="outcome"/>, run under the engine
    /// lock as the wait ends, may turn it into a failure. The task completes inside the pass (or the timer) that ends
    /// the wait, so a caller pumping the stack sees it done when Pump returns.
    /// </summary>
    private Task WaitForStateAsync(Func<TcpConnection, bool> condition, Func<UserTcpConnection, Exception?>? outcome, TimeSpan? timeout,
        CancellationToken cancellationToken)
    {
        _shard.Enter();
        try
        {
            if (condition(_tcb)) return outcome?.Invoke(this) is Exception failed ? Task.FromException(failed) : Task.CompletedTask;
            if (_shard.DeviceFailedError() is IOException deviceFailed) return Task.FromException(deviceFailed); // no state will change
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
            var wait = new StateWait(this, condition, outcome);
            (_stateWaits ??= []).Add(wait);
            wait.Register(timeout, cancellationToken);
            return wait.Task;
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>One wait for a state; a cancelled or timed-out one leaves the list at once.</summary>
    private sealed class StateWait(UserTcpConnection owner, Func<TcpConnection, bool> condition, Func<UserTcpConnection, Exception?>? outcome)
    {
        private static readonly Action<object?, CancellationToken> CancelCallback = static (state, token) => ((StateWait)state!).OnCancel(token);

        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _registration;
        private ITimer? _timer;

        public Func<TcpConnection, bool> Condition { get; } = condition;
        public Task Task => _completion.Task;

        public void Register(TimeSpan? timeout, CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled) _registration = cancellationToken.UnsafeRegister(CancelCallback, this);
            if (timeout is TimeSpan due)
            {
                _timer = owner._shard.TimeProvider.CreateTimer(static state => ((StateWait)state!).OnTimeout(), this, due, Timeout.InfiniteTimeSpan);
            }
        }

        /// <summary>Under the engine lock: the condition holds.</summary>
        public void Finish()
        {
            Disarm();
            if (outcome?.Invoke(owner) is Exception failed) _completion.TrySetException(failed);
            else _completion.TrySetResult();
        }

        public void Fail(Exception error)
        {
            Disarm();
            _completion.TrySetException(error);
        }

        private void Disarm()
        {
            _registration.Unregister(); // never Dispose under the engine lock: it would wait for a callback that needs it
            _timer?.Dispose();
        }

        private void OnCancel(CancellationToken token)
        {
            lock (owner._shard.Gate)
            {
                if (owner._stateWaits?.Remove(this) != true) return;
                _timer?.Dispose();
            }
            _completion.TrySetCanceled(token);
        }

        // The time ran out: the wait ends as if the condition held (a lingering close returns; the FIN goes on).
        private void OnTimeout()
        {
            lock (owner._shard.Gate)
            {
                if (owner._stateWaits?.Remove(this) != true) return;
                Finish();
            }
        }
    }
}
