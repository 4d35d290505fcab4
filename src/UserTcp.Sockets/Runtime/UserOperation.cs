using System.Threading.Tasks.Sources;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// One reusable pending user call (a read or a write of one connection): the <see cref="ValueTask"/> it returns is
/// backed by this object, so waiting allocates nothing (no closure, no TaskCompletionSource per call). Armed and
/// finished under the engine lock; signalled after it (and after the batch that finished it went out). Its awaiter
/// resumes on the thread pool, or, when the connection asked for inline completions, at once on the stack's thread
/// that signalled it (<see cref="UserTcpConnectionOptions.InlineCompletions"/>). At most one call per operation is
/// pending at a time, as with a socket's one reader and one writer.
/// </summary>
internal sealed class UserOperation<TResult> : IValueTaskSource<TResult>, IValueTaskSource, IUserOperation
{
    private static readonly Action<object?, CancellationToken> CancelCallback = static (state, token) => ((UserOperation<TResult>)state!).OnCancel(token);

    private readonly Lock _gate;
    private ManualResetValueTaskSourceCore<TResult> _core;
    // Invariant: while IsPending, _token is the token the call was armed with; the registration may be default.
    private CancellationToken _token;
    private CancellationTokenRegistration _registration;
    private TResult _result = default!;
    private Exception? _error;
    // Armed and not yet signalled: a finished call's awaiter is resumed only after its pass's batch went out, and until
    // then its source must not be reset under it by another call (which would also complete the source twice).
    private volatile bool _unsignalled;

    /// <param name="gate">The engine lock under which the operation is armed and finished.</param>
    /// <param name="inline">Run the awaiter's continuation on the signalling thread instead of queueing it to the thread pool.</param>
    public UserOperation(Lock gate, bool inline)
    {
        _gate = gate;
        _core = new() { RunContinuationsAsynchronously = !inline };
    }

    /// <summary>Armed and not yet finished: the owner retries it whenever its connection changes.</summary>
    public bool IsPending { get; private set; }

    /// <summary>Under the engine lock: arms the operation; its caller awaits it as a <see cref="ValueTask{TResult}"/>.</summary>
    public ValueTask<TResult> Start(CancellationToken cancellationToken) => new(this, Arm(cancellationToken));

    /// <summary>Under the engine lock: arms the operation; its caller awaits it as a <see cref="ValueTask"/> (the result is dropped).</summary>
    public ValueTask StartVoid(CancellationToken cancellationToken) => new(this, Arm(cancellationToken));

    private short Arm(CancellationToken cancellationToken)
    {
        if (IsPending || _unsignalled) throw new InvalidOperationException("another call of this kind is already pending on this connection; await it first");
        _core.Reset();
        _error = null;
        _result = default!;
        _token = cancellationToken;
        IsPending = true;
        _unsignalled = true;
        // A token cancelled already runs the callback here, on this thread; the lock is re-entrant, so it finishes at once.
        short version = _core.Version;
        _registration = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(CancelCallback, this) : default;
        return version;
    }

    /// <summary>Under the engine lock: the call is done; its awaiter resumes when <paramref name="batch"/> has gone out.</summary>
    public void Finish(TResult result, TransmitBatch batch)
    {
        Disarm();
        _result = result;
        batch.Complete(this);
    }

    /// <summary>Under the engine lock: the call failed with <paramref name="error"/>.</summary>
    public void Fail(Exception error, TransmitBatch batch)
    {
        Disarm();
        _error = error;
        batch.Complete(this);
    }

    public void Signal()
    {
        _unsignalled = false; // before the awaiter can resume: its next call may arm this again
        if (_error is not null) _core.SetException(_error);
        else _core.SetResult(_result);
    }

    private void Disarm()
    {
        IsPending = false;
        // Never Dispose here: it would wait for a cancellation callback that is itself waiting for the engine lock.
        _registration.Unregister();
        _registration = default;
    }

    private void OnCancel(CancellationToken token)
    {
        lock (_gate)
        {
            // A call finished meanwhile, or one armed since with another token, is not this cancellation's.
            if (!IsPending || _token != token) return;
            Disarm();
            _error = new OperationCanceledException(token);
        }
        Signal();
    }

    public TResult GetResult(short token) => _core.GetResult(token);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
