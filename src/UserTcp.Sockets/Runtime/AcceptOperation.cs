using System.Threading.Tasks.Sources;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// One waiting accept of a <see cref="UserTcpListener"/>, the <see cref="ValueTask{TResult}"/> its caller awaits. Reusable:
/// once its awaiter has taken the result, it goes back to its listener for the next accept, so an accept loop (one accept
/// waiting at a time, the usual server) allocates nothing per connection. Accepts waiting at once each get one of their own.
/// Armed, finished, failed and cancelled under the listener's accept lock, which removes it from the listener's queue
/// exactly once; signalled after the pass that finished it (its batch has gone out), on the thread pool or, when the
/// listener's options ask for inline completions, at once on the stack's thread that signals it.
/// </summary>
internal sealed class AcceptOperation(UserTcpListener owner) : IValueTaskSource<UserTcpConnection>, IUserOperation
{
    private static readonly Action<object?, CancellationToken> CancelCallback = static (state, token) => ((AcceptOperation)state!).OnCancel(token);

    private ManualResetValueTaskSourceCore<UserTcpConnection> _core;
    // Invariant: while IsPending, _token is the token the accept was armed with; the registration may be default.
    private CancellationToken _token;
    private CancellationTokenRegistration _registration;
    private UserTcpConnection? _accepted;
    private Exception? _error;

    /// <summary>Armed and in the listener's queue; not yet finished, failed or cancelled. Guarded by the accept lock.</summary>
    public bool IsPending { get; private set; }

    /// <summary>
    /// Under the accept lock, once the listener has queued it: arms it for one accept. A token cancelled meanwhile runs
    /// the cancellation here (the accept lock is re-entrant), which takes it out of the queue again.
    /// </summary>
    public ValueTask<UserTcpConnection> Start(bool inline, CancellationToken cancellationToken)
    {
        _core.RunContinuationsAsynchronously = !inline;
        _error = null;
        _accepted = null;
        _token = cancellationToken;
        IsPending = true;
        short version = _core.Version;
        _registration = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(CancelCallback, this) : default;
        return new ValueTask<UserTcpConnection>(this, version);
    }

    /// <summary>Under the shard's engine lock and the accept lock: <paramref name="connection"/> is this accept's, handed over when <paramref name="batch"/> has gone out.</summary>
    public void Finish(UserTcpConnection connection, TransmitBatch batch)
    {
        Disarm();
        _accepted = connection;
        batch.Complete(this);
    }

    /// <summary>Under the accept lock: nothing will be accepted (the listener closed, the device failed); signal with <see cref="Signal"/> once out of the lock.</summary>
    public void Fail(Exception error)
    {
        Disarm();
        _error = error;
    }

    public void Signal()
    {
        if (_error is not null) _core.SetException(_error);
        else _core.SetResult(_accepted!);
    }

    private void Disarm()
    {
        IsPending = false;
        // Never Dispose here: it would wait for a cancellation callback that is itself waiting for the accept lock.
        _registration.Unregister();
        _registration = default;
    }

    private void OnCancel(CancellationToken token)
    {
        lock (owner.AcceptGate)
        {
            // One finished meanwhile, or one armed since with another token, is not this cancellation's.
            if (!IsPending || _token != token) return;
            owner.LeaveQueue(this);
            Disarm();
            _error = new OperationCanceledException(token);
        }
        Signal();
    }

    public UserTcpConnection GetResult(short token)
    {
        bool done = token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (done)
            {
                // The awaiter has its result: the next accept may use this one (Reset moves the version on, so a second
                // GetResult with the old token throws, and drops the connection it held).
                _core.Reset();
                _accepted = null;
                _error = null;
                owner.Recycle(this);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
