using System.Diagnostics.CodeAnalysis;
using UserTcp.Engine;
using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets;

/// <summary>
/// A listening endpoint: <see cref="AcceptAsync"/> hands out established connections (several accepts may wait at
/// once, served in order), <see cref="TryAccept"/> without waiting. The connections it accepts start with
/// <see cref="Options"/>.
/// </summary>
public sealed class UserTcpListener : IDisposable
{
    private readonly NetStack _stack;
    // This listener on each shard, in shard order (a SYN may arrive on any queue); fixed once Listen returns.
    private readonly List<Part> _parts = [];
    // The options given to Listen: what the engine already applies to every connection it makes for this listener.
    private readonly UserTcpConnectionOptions _listenOptions;
    // The accept lock: guards _waits. Taken under a shard's engine lock (never the other way round), only by accepts
    // and by a shard whose new connection meets a waiting accept: once per accepted connection, never per packet.
    private readonly Lock _acceptGate = new();
    // Accepts waiting, oldest first. Guarded by _acceptGate; _waitCount mirrors its count for lock-free looks.
    private readonly List<AcceptOperation> _waits = [];
    private volatile int _waitCount;
    // A finished accept whose awaiter has taken its result, kept for the next one (an accept loop allocates no waiter).
    private AcceptOperation? _spare;
    private volatile bool _closed;
    // Where the next non-blocking accept starts looking, so no shard's connections wait behind another's.
    private int _nextPart;

    // The MSS the device and configuration allow, before TCP_MAXSEG caps it.
    private readonly ushort _uncappedMss;

    /// <summary>The stack this listener belongs to.</summary>
    public NetStack Stack => _stack;

    internal UserTcpListener(NetStack stack, int backlog, UserTcpConnectionOptions options, ushort uncappedMss)
    {
        _stack = stack;
        Backlog = backlog;
        _uncappedMss = uncappedMss;
        _listenOptions = options;
        Options = options;
    }

    /// <summary>The address and port it listens on.</summary>
    public IpEndpoint LocalEndpoint => _parts[0].LocalEndpoint;

    /// <summary>
    /// The backlog: connections established and waiting to be accepted, at most (as listen()'s). With several shards each
    /// holds its share (rounded up), so the listener holds about this many.
    /// </summary>
    public int Backlog { get; }

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
                ChangeConnectionConfig(config => config with { Mss = mss });
            }
            // TCP_DEFER_ACCEPT and TCP_NOTSENT_LOWAT on a listening socket apply to the SYNs that arrive from then on.
            if (field is not null && value.DeferAccept != field.DeferAccept)
            {
                TimeSpan defer = value.DeferAccept ?? (value.Tcp ?? _stack.Options.Tcp).DeferAccept;
                ChangeConnectionConfig(config => config with { DeferAccept = defer });
            }
            if (field is not null && value.FastOpenKey != field.FastOpenKey)
            {
                FastOpenKey? key = value.FastOpenKey ?? (value.Tcp ?? _stack.Options.Tcp).FastOpenKey;
                ChangeConnectionConfig(config => config with { FastOpenKey = key });
            }
            // TCP_FASTOPEN on a listening socket: the queue length for the SYNs from now on (fastopen_queue_tune).
            if (field is not null && value.FastOpenQueueLength is int queue && value.FastOpenQueueLength != field.FastOpenQueueLength) SetFastOpenQueueLength(queue);
            if (field is not null && value.NotSentLowWatermark != field.NotSentLowWatermark)
            {
                uint mark = value.NotSentLowWatermark ?? (value.Tcp ?? _stack.Options.Tcp).NotSentLowWatermark;
                ChangeConnectionConfig(config => config with { NotSentLowWatermark = mark });
            }
            field = value;
        }
    }

    internal bool HasPendingAccepts => _waitCount > 0 || _watcherCount > 0;

    // Registrations of event polls watching this listener, guarded by the list itself (parts on several shards wake them).
    private readonly List<UserTcpEventPoll.Registration> _watchers = [];
    private volatile int _watcherCount;

    /// <summary>
    /// The Fast Open queue length each shard's part holds: its share, rounded up, as the backlog's
    /// (<see cref="UserTcpConnectionOptions.FastOpenQueueLength"/>).
    /// </summary>
    internal void SetFastOpenQueueLength(int queueLength)
    {
        int share = queueLength < 1 ? queueLength : (queueLength + _parts.Count - 1) / _parts.Count;
        foreach (Part part in _parts)
        {
            part.Shard.Enter();
            try
            {
                part.Engine.FastOpenQueueLength = share;
            }
            finally
            {
                part.Shard.Exit();
            }
        }
    }

    /// <summary>The Fast Open queue length of the listener as a whole (its parts' added up).</summary>
    public int FastOpenQueueLength
    {
        get
        {
            int total = 0;
            foreach (Part part in _parts)
            {
                part.Shard.Enter();
                try
                {
                    total += part.Engine.FastOpenQueueLength;
                }
                finally
                {
                    part.Shard.Exit();
                }
            }
            return total;
        }
    }

    /// <summary>Every part's engine configuration changed (each under its shard's lock).</summary>
    private void ChangeConnectionConfig(Func<TcpConfig, TcpConfig> change)
    {
        foreach (Part part in _parts)
        {
            part.Shard.Enter();
            try
            {
                part.Engine.ConnectionConfig = change(part.Engine.ConnectionConfig);
            }
            finally
            {
                part.Shard.Exit();
            }
        }
    }

    /// <summary>The readiness now: <see cref="UserTcpPollEvents.In"/> while a connection waits to be accepted on any shard (Linux's inet_csk_listen_poll).</summary>
    public UserTcpPollEvents Poll()
    {
        foreach (Part part in _parts)
        {
            part.Shard.Enter();
            try
            {
                if (part.Engine.PendingAccepts > 0) return UserTcpPollEvents.In;
            }
            finally
            {
                part.Shard.Exit();
            }
        }
        return UserTcpPollEvents.None;
    }

    internal void Watch(UserTcpEventPoll.Registration registration)
    {
        lock (_watchers)
        {
            _watchers.Add(registration);
            _watcherCount = _watchers.Count;
        }
    }

    internal void Unwatch(UserTcpEventPoll.Registration registration)
    {
        lock (_watchers)
        {
            _watchers.Remove(registration);
            _watcherCount = _watchers.Count;
        }
    }

    /// <summary>Under <paramref name="shard"/>'s engine lock, while listening starts: the listener's part there.</summary>
    internal void AddPart(StackShard shard, TcpPassiveOpen engine)
    {
        var part = new Part(this, shard, engine);
        _parts.Add(part);
        shard.AddListener(part);
    }

    /// <summary>Listening failed on a later shard: the parts made so far stop again.</summary>
    internal void CloseParts()
    {
        foreach (Part part in _parts)
        {
            part.Shard.Enter();
            try
            {
                part.CloseHere();
            }
            finally
            {
                part.Shard.Exit();
            }
        }
    }

    /// <summary>
    /// Waits for the next established connection. The returned <see cref="ValueTask{TResult}"/> may be awaited once (use
    /// <see cref="ValueTask{TResult}.AsTask"/> to hold it longer); an accept loop allocates nothing per connection.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public ValueTask<UserTcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        // One pass per shard: the first takes a waiting connection or queues the accept; the others (several queues)
        // serve it from theirs, since a connection established there before it was queued was not served by their passes.
        int first = _parts.Count == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _nextPart) % (uint)_parts.Count);
        ValueTask<UserTcpConnection> pending = default;
        bool queued = false;
        for (int i = 0; i < _parts.Count; i++)
        {
            Part part = _parts[(first + i) % _parts.Count];
            part.Shard.Enter();
            try
            {
                if (queued)
                {
                    ServeFrom(part);
                    continue;
                }
                lock (_acceptGate)
                {
                    ObjectDisposedException.ThrowIf(_closed, this);
                    if (_waits.Count == 0 && TryAcceptCore(part, out UserTcpConnection? ready)) return new ValueTask<UserTcpConnection>(ready);
                    if (_stack.DeviceFailedError() is IOException failed) return ValueTask.FromException<UserTcpConnection>(failed); // none will come
                    if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<UserTcpConnection>(cancellationToken);
                    AcceptOperation wait = Interlocked.Exchange(ref _spare, null) ?? new AcceptOperation(this);
                    _waits.Add(wait);
                    _waitCount = _waits.Count;
                    pending = wait.Start(Options.InlineCompletions, cancellationToken);
                    queued = true;
                }
            }
            finally
            {
                part.Shard.Exit();
            }
        }
        return pending;
    }

    /// <summary>The accept lock, for a waiting accept's cancellation.</summary>
    internal Lock AcceptGate => _acceptGate;

    /// <summary>Under the accept lock: a cancelled accept leaves the queue.</summary>
    internal void LeaveQueue(AcceptOperation wait)
    {
        _waits.Remove(wait);
        _waitCount = _waits.Count;
    }

    /// <summary>An accept's awaiter took its result: it serves the next accept.</summary>
    internal void Recycle(AcceptOperation wait) => Volatile.Write(ref _spare, wait);

    /// <summary>Takes an established connection if one is waiting on any shard (a non-blocking accept()); false otherwise.</summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public bool TryAccept([NotNullWhen(true)] out UserTcpConnection? connection)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        return TryAcceptAny(out connection);
    }

    private bool TryAcceptAny([NotNullWhen(true)] out UserTcpConnection? connection)
    {
        int first = _parts.Count == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _nextPart) % (uint)_parts.Count);
        for (int i = 0; i < _parts.Count; i++)
        {
            Part part = _parts[(first + i) % _parts.Count];
            part.Shard.Enter();
            try
            {
                ObjectDisposedException.ThrowIf(_closed, this);
                lock (_acceptGate)
                {
                    if (_waits.Count == 0 && TryAcceptCore(part, out connection)) return true;
                }
            }
            finally
            {
                part.Shard.Exit();
            }
        }
        connection = null;
        return false;
    }

    /// <summary>Stops listening on every shard; connections not yet accepted are reset, and waiting accepts fail.</summary>
    public void Dispose()
    {
        if (_stack.CleanupIsMoot) return;
        CloseParts();
        FailPending(new ObjectDisposedException(nameof(UserTcpListener)));
    }

    /// <summary>Every waiting accept fails with <paramref name="error"/> (the listener closed, the device failed).</summary>
    internal void FailPending(Exception error)
    {
        AcceptOperation[] failed;
        lock (_acceptGate)
        {
            failed = [.. _waits];
            _waits.Clear();
            _waitCount = 0;
            foreach (AcceptOperation wait in failed) wait.Fail(error);
        }
        // Outside the lock: an inline continuation may accept again.
        foreach (AcceptOperation wait in failed) wait.Signal();
    }

    /// <summary>Under <paramref name="part"/>'s shard's engine lock, when a connection there became established: serves waiting accepts.</summary>
    internal void ServeFrom(Part part)
    {
        // A connection to accept is a wakeup for the event polls watching (the listener's sk_data_ready).
        if (_watcherCount > 0 && part.Engine.PendingAccepts > 0)
        {
            UserTcpEventPoll.Registration[] watchers;
            lock (_watchers) watchers = [.. _watchers];
            foreach (UserTcpEventPoll.Registration registration in watchers) registration.Wake(UserTcpPollEvents.In);
        }
        if (_waitCount == 0) return;
        lock (_acceptGate)
        {
            while (_waits.Count > 0 && TryAcceptCore(part, out UserTcpConnection? connection))
            {
                AcceptOperation wait = _waits[0];
                _waits.RemoveAt(0);
                _waitCount = _waits.Count;
                wait.Finish(connection, part.Shard.Batch);
            }
        }
    }

    /// <summary>Under the part's shard's engine lock and the accept lock: one connection from that shard's accept queue.</summary>
    private bool TryAcceptCore(Part part, [NotNullWhen(true)] out UserTcpConnection? connection)
    {
        TcpPassiveOpen listener = part.Engine;
        if (!listener.TryAccept(out TcpConnection tcb))
        {
            connection = null;
            return false;
        }
        UserTcpConnectionOptions now = Options;
        connection = part.Shard.Adopt(tcb, listener.ConnectionConfig, now.Linger, now.InlineCompletions);
        // Options changed since Listen apply from the accept on (the engine applied the rest when the SYN came).
        if (now.NoDelay != _listenOptions.NoDelay && now.NoDelay is bool noDelay) tcb.NoDelay = noDelay;
        if (now.KeepAliveIdle != _listenOptions.KeepAliveIdle && now.KeepAliveIdle is TimeSpan idle) tcb.KeepAliveIdle = idle;
        if (now.KeepAliveInterval != _listenOptions.KeepAliveInterval && now.KeepAliveInterval is TimeSpan interval) tcb.KeepAliveInterval = interval;
        if (now.KeepAliveCount != _listenOptions.KeepAliveCount && now.KeepAliveCount is int count) tcb.KeepAliveCount = count;
        if (now.FinWait2Timeout != _listenOptions.FinWait2Timeout && now.FinWait2Timeout is TimeSpan linger2) tcb.FinWait2Timeout = UserTcpConnectionOptions.ClampFinWait2Timeout(linger2);
        if (now.KeepAlive != _listenOptions.KeepAlive && now.KeepAlive is bool keepAlive && tcb.KeepAlive != keepAlive) tcb.KeepAlive = keepAlive;
        if (now.UserTimeout != _listenOptions.UserTimeout) tcb.UserTimeout = now.UserTimeout ?? listener.ConnectionConfig.UserTimeout;
        if (now.CongestionControl != _listenOptions.CongestionControl && now.CongestionControl is CongestionControlAlgorithm algorithm) tcb.CongestionControl = algorithm;
        return true;
    }

    /// <summary>The listener on one shard: that engine's passive open, which takes the SYNs arriving on its queue.</summary>
    internal sealed class Part(UserTcpListener owner, StackShard shard, TcpPassiveOpen engine)
    {
        public UserTcpListener Owner => owner;
        public StackShard Shard => shard;
        public TcpPassiveOpen Engine => engine;
        public IpEndpoint LocalEndpoint => engine.LocalEndpoint;
        /// <summary>On the shard's list of listeners to serve at the end of the current pass.</summary>
        public bool IsTouched { get; set; }

        /// <summary>Under the shard's engine lock: stops listening here (the engine resets what is not yet accepted).</summary>
        public void CloseHere()
        {
            owner._closed = true;
            engine.Close();
            shard.Forget(this);
        }
    }
}
