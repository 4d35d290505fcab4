using System.Diagnostics.CodeAnalysis;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>
/// A listening endpoint: <see cref="AcceptAsync"/> hands out established connections (several accepts may wait at
/// once, served in order), <see cref="TryAccept"/> without waiting. The connections it accepts start with
/// <see cref="Options"/>.
/// </summary>
public sealed class UserTcpListener : IDisposable
{
    private readonly NetStack _stack;
    private readonly TcpPassiveOpen _listener;
    // The options given to Listen: what the engine already applies to every connection it makes for this listener.
    private readonly UserTcpConnectionOptions _listenOptions;
    // Accepts waiting, oldest first. Guarded by the engine lock.
    private readonly List<AcceptWait> _waits = [];

    // The MSS the device and configuration allow, before TCP_MAXSEG caps it.
    private readonly ushort _uncappedMss;

    /// <summary>The stack this listener belongs to.</summary>
    public NetStack Stack => _stack;

    internal UserTcpListener(NetStack stack, TcpPassiveOpen listener, UserTcpConnectionOptions options, ushort uncappedMss)
    {
        _stack = stack;
        _listener = listener;
        _uncappedMss = uncappedMss;
        _listenOptions = options;
        Options = options;
    }

    /// <summary>The address and port it listens on.</summary>
    public IpEndpoint LocalEndpoint => _listener.LocalEndpoint;

    /// <summary>The backlog: connections established and waiting to be accepted, at most (as listen()'s).</summary>
    public int Backlog => _listener.Backlog;

    /// <summary>
    /// What the connections accepted from now on start with (setsockopt on a listening socket). Buffer sizes are fixed
    /// at <see cref="NetStack.Listen"/>, since the engine sizes a connection's buffers and window when its SYN arrives;
    /// <see cref="UserTcpConnectionOptions.MaxSegmentSize"/> applies to the SYNs that arrive from then on (as Linux's user_mss
    /// on a listener); the other options set later apply to each connection as it is accepted.
    /// </summary>
    /// <exception cref="InvalidOperationException">The new options change a buffer size.</exception>
    public UserTcpConnectionOptions Options
    {
        get;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.SendBufferSize != _listenOptions.SendBufferSize || value.ReceiveBufferSize != _listenOptions.ReceiveBufferSize)
            {
                throw new InvalidOperationException("a listener's buffer sizes are fixed when it starts listening: give them to NetStack.Listen");
            }
            if (field is not null && value.MaxSegmentSize != field.MaxSegmentSize)
            {
                ushort mss = value.MaxSegmentSize is int cap && cap < _uncappedMss ? (ushort)cap : _uncappedMss;
                _stack.Enter();
                try
                {
                    _listener.ConnectionConfig = _listener.ConnectionConfig with { Mss = mss };
                }
                finally
                {
                    _stack.Exit();
                }
            }
            field = value;
        }
    }

    internal TcpPassiveOpen EngineListener => _listener;
    /// <summary>On the stack's list of listeners to serve at the end of the current pass.</summary>
    internal bool IsTouched { get; set; }
    internal bool HasPendingAccepts => _waits.Count > 0;

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public Task<UserTcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        _stack.Enter();
        try
        {
            ObjectDisposedException.ThrowIf(_listener.IsClosed, this);
            if (_waits.Count == 0 && TryAcceptCore(out UserTcpConnection? ready)) return Task.FromResult(ready);
            if (_stack.DeviceFailedError() is IOException failed) return Task.FromException<UserTcpConnection>(failed); // none will come
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<UserTcpConnection>(cancellationToken);
            var wait = new AcceptWait(this);
            _waits.Add(wait);
            wait.Register(cancellationToken);
            return wait.Task;
        }
        finally
        {
            _stack.Exit();
        }
    }

    /// <summary>Takes an established connection if one is waiting (a non-blocking accept()); false otherwise.</summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public bool TryAccept([NotNullWhen(true)] out UserTcpConnection? connection)
    {
        _stack.Enter();
        try
        {
            ObjectDisposedException.ThrowIf(_listener.IsClosed, this);
            connection = null;
            return _waits.Count == 0 && TryAcceptCore(out connection);
        }
        finally
        {
            _stack.Exit();
        }
    }

    /// <summary>Stops listening; connections not yet accepted are reset, and waiting accepts fail.</summary>
    public void Dispose()
    {
        if (_stack.CleanupIsMoot) return;
        _stack.Enter();
        try
        {
            CloseUnderLock();
        }
        finally
        {
            _stack.Exit();
        }
    }

    /// <summary>Under the engine lock: stops listening.</summary>
    internal void CloseUnderLock()
    {
        _listener.Close();
        _stack.Forget(this);
        foreach (AcceptWait wait in _waits) wait.Fail(new ObjectDisposedException(nameof(UserTcpListener)));
        _waits.Clear();
    }

    /// <summary>Under the engine lock: every waiting accept fails with <paramref name="error"/> (the device failed).</summary>
    internal void FailPending(Exception error)
    {
        foreach (AcceptWait wait in _waits) wait.Fail(error);
        _waits.Clear();
    }

    /// <summary>Under the engine lock, when a connection of this listener became established: serves waiting accepts.</summary>
    internal void Service()
    {
        while (_waits.Count > 0 && TryAcceptCore(out UserTcpConnection? connection))
        {
            AcceptWait wait = _waits[0];
            _waits.RemoveAt(0);
            wait.Finish(connection);
        }
    }

    private bool TryAcceptCore([NotNullWhen(true)] out UserTcpConnection? connection)
    {
        if (!_listener.TryAccept(out TcpConnection tcb))
        {
            connection = null;
            return false;
        }
        UserTcpConnectionOptions now = Options;
        connection = _stack.Adopt(tcb, _listener.ConnectionConfig, now.Linger);
        // Options changed since Listen apply from the accept on (the engine applied the rest when the SYN came).
        if (now.NoDelay != _listenOptions.NoDelay && now.NoDelay is bool noDelay) tcb.NoDelay = noDelay;
        if (now.KeepAliveIdle != _listenOptions.KeepAliveIdle && now.KeepAliveIdle is TimeSpan idle) tcb.KeepAliveIdle = idle;
        if (now.KeepAliveInterval != _listenOptions.KeepAliveInterval && now.KeepAliveInterval is TimeSpan interval) tcb.KeepAliveInterval = interval;
        if (now.KeepAliveCount != _listenOptions.KeepAliveCount && now.KeepAliveCount is int count) tcb.KeepAliveCount = count;
        if (now.FinWait2Timeout != _listenOptions.FinWait2Timeout && now.FinWait2Timeout is TimeSpan linger2) tcb.FinWait2Timeout = UserTcpConnectionOptions.ClampFinWait2Timeout(linger2);
        if (now.KeepAlive != _listenOptions.KeepAlive && now.KeepAlive is bool keepAlive && tcb.KeepAlive != keepAlive) tcb.KeepAlive = keepAlive;
        if (now.UserTimeout != _listenOptions.UserTimeout) tcb.UserTimeout = now.UserTimeout ?? _listener.ConnectionConfig.UserTimeout;
        if (now.CongestionControl != _listenOptions.CongestionControl && now.CongestionControl is CongestionControlAlgorithm algorithm) tcb.CongestionControl = algorithm;
        return true;
    }

    /// <summary>One waiting accept; a cancelled one leaves the queue at once.</summary>
    private sealed class AcceptWait(UserTcpListener owner)
    {
        private static readonly Action<object?, CancellationToken> CancelCallback = static (state, token) => ((AcceptWait)state!).OnCancel(token);

        private readonly TaskCompletionSource<UserTcpConnection> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _registration;

        public Task<UserTcpConnection> Task => _completion.Task;

        public void Register(CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled) _registration = cancellationToken.UnsafeRegister(CancelCallback, this);
        }

        public void Finish(UserTcpConnection connection)
        {
            _registration.Unregister(); // never Dispose under the engine lock: it would wait for a callback that needs it
            _completion.TrySetResult(connection);
        }

        public void Fail(Exception error)
        {
            _registration.Unregister();
            _completion.TrySetException(error);
        }

        private void OnCancel(CancellationToken token)
        {
            lock (owner._stack.Gate) owner._waits.Remove(this);
            _completion.TrySetCanceled(token);
        }
    }
}
