namespace UserTcp.Sockets;

/// <summary>
/// epoll(7) over one stack's connections and listeners: an interest list (<see cref="Add(UserTcpConnection, UserTcpPollEvents, UserTcpPollMode)"/>,
/// <see cref="Modify(UserTcpConnection, UserTcpPollEvents, UserTcpPollMode)"/>, <see cref="Remove(UserTcpConnection)"/>) and a ready list
/// that <see cref="Wait"/> and <see cref="WaitAsync"/> report from. As Linux's: a registration joins the ready list when
/// it is added while ready and at each wakeup of its target (new data or a FIN, write room after a full buffer, a state
/// change or an error); a wait reports the target's readiness at that moment (<see cref="UserTcpConnection.Poll"/>)
/// masked by the events asked for, plus Error and Hangup always; level-triggered registrations stay on the ready list
/// while ready, edge-triggered ones leave it until the next wakeup, one-shot ones are disabled until modified.
/// </summary>
public sealed class UserTcpEventPoll : IDisposable
{
    private readonly NetStack _stack;
    // The interest and ready lists. A wakeup takes this lock under a shard's engine lock, so this lock is never held
    // while a shard's is taken: readiness is asked outside it.
    private readonly Lock _gate = new();
    private readonly Dictionary<object, Registration> _interest = new(ReferenceEqualityComparer.Instance);
    private readonly LinkedList<Registration> _ready = new();
    private TaskCompletionSource? _readySignal;
    private bool _disposed;

    /// <summary>An event poll for connections and listeners of <paramref name="stack"/>.</summary>
    public UserTcpEventPoll(NetStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _stack = stack;
    }

    /// <summary>Registrations in the interest list.</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _interest.Count;
        }
    }

    /// <summary>EPOLL_CTL_ADD for a connection.</summary>
    /// <exception cref="InvalidOperationException">It is registered already (EEXIST).</exception>
    public void Add(UserTcpConnection connection, UserTcpPollEvents events, UserTcpPollMode mode)
    {
        ArgumentNullException.ThrowIfNull(connection);
        AddCore(connection, events, mode, connection.Watch, connection.Poll);
    }

    /// <summary>EPOLL_CTL_ADD for a listener (In: a connection to accept).</summary>
    /// <exception cref="InvalidOperationException">It is registered already (EEXIST).</exception>
    public void Add(UserTcpListener listener, UserTcpPollEvents events, UserTcpPollMode mode)
    {
        ArgumentNullException.ThrowIfNull(listener);
        AddCore(listener, events, mode, listener.Watch, listener.Poll);
    }

    /// <summary>EPOLL_CTL_MOD: new events and mode (re-arms a one-shot registration); reported at once if ready.</summary>
    /// <exception cref="KeyNotFoundException">It is not registered (ENOENT).</exception>
    public void Modify(UserTcpConnection connection, UserTcpPollEvents events, UserTcpPollMode mode) => ModifyCore(connection, events, mode);

    /// <inheritdoc cref="Modify(UserTcpConnection, UserTcpPollEvents, UserTcpPollMode)"/>
    public void Modify(UserTcpListener listener, UserTcpPollEvents events, UserTcpPollMode mode) => ModifyCore(listener, events, mode);

    /// <summary>EPOLL_CTL_DEL; false when it was not registered (ENOENT).</summary>
    public bool Remove(UserTcpConnection connection) => RemoveCore(connection);

    /// <inheritdoc cref="Remove(UserTcpConnection)"/>
    public bool Remove(UserTcpListener listener) => RemoveCore(listener);

    /// <summary>
    /// epoll_wait without waiting: fills <paramref name="results"/> from the ready list, oldest wakeup first, and returns
    /// how many; 0 when nothing is ready.
    /// </summary>
    public int Wait(Span<UserTcpPollResult> results) => Collect(results);

    /// <summary>
    /// epoll_wait: waits until something is ready — at most <paramref name="timeout"/> on the stack's clock, for ever
    /// when null — and fills <paramref name="results"/>; 0 when the time ran out.
    /// </summary>
    public async ValueTask<int> WaitAsync(Memory<UserTcpPollResult> results, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeProvider clock = _stack.TimeProvider;
        long start = clock.GetTimestamp();
        while (true)
        {
            int n = Collect(results.Span);
            if (n > 0 || results.IsEmpty) return n;
            Task signal;
            lock (_gate)
            {
                if (_ready.Count > 0) continue; // woken between the two looks
                signal = (_readySignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            if (timeout is not TimeSpan limit)
            {
                await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            TimeSpan remaining = limit - clock.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero) return 0;
            try
            {
                await signal.WaitAsync(remaining, clock, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return Wait(results.Span); // the time is up: what is ready now, likely nothing
            }
        }
    }

    /// <summary>Removes every registration.</summary>
    public void Dispose()
    {
        Registration[] all;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            all = [.. _interest.Values];
            _interest.Clear();
            _ready.Clear();
        }
        foreach (Registration registration in all) registration.Detach();
    }

    private void AddCore(object target, UserTcpPollEvents events, UserTcpPollMode mode, Action<Registration> watch, Func<UserTcpPollEvents> poll)
    {
        var registration = new Registration(this, target, poll, Unwatcher(target)) { Events = events, Mode = mode };
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_interest.TryAdd(target, registration)) throw new InvalidOperationException("already registered with this event poll (EEXIST)");
        }
        try
        {
            watch(registration);
        }
        catch
        {
            // The target refused (its stack has stopped): the add failed, so nothing stays registered.
            lock (_gate) _interest.Remove(target);
            throw;
        }
        if ((poll() & registration.Mask) != 0) registration.Wake(UserTcpPollEvents.None);
    }

    private static Action<Registration> Unwatcher(object target) => target switch
    {
        UserTcpConnection connection => connection.Unwatch,
        UserTcpListener listener => listener.Unwatch,
        _ => static _ => { },
    };

    private void ModifyCore(object target, UserTcpPollEvents events, UserTcpPollMode mode)
    {
        ArgumentNullException.ThrowIfNull(target);
        Registration? registration;
        lock (_gate)
        {
            if (!_interest.TryGetValue(target, out registration)) throw new KeyNotFoundException("not registered with this event poll (ENOENT)");
            registration.Events = events;
            registration.Mode = mode;
            registration.Disabled = false;
        }
        if ((registration.PollTarget() & registration.Mask) != 0) registration.Wake(UserTcpPollEvents.None);
    }

    private bool RemoveCore(object target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Registration? registration;
        lock (_gate)
        {
            if (!_interest.Remove(target, out registration)) return false;
            registration.LeaveReadyList();
        }
        registration.Detach();
        return true;
    }

    /// <summary>ep_send_events: each ready registration reports its readiness now (asked outside the lock), or leaves the list.</summary>
    private int Collect(Span<UserTcpPollResult> results)
    {
        var taken = new List<Registration>();
        lock (_gate)
        {
            while (_ready.First is { } node && taken.Count < results.Length)
            {
                taken.Add(node.Value);
                node.Value.LeaveReadyList();
            }
        }
        int n = 0;
        var requeue = new List<Registration>();
        foreach (Registration registration in taken)
        {
            UserTcpPollEvents events = registration.Disabled ? UserTcpPollEvents.None : registration.PollTarget() & registration.Mask;
            if (events == UserTcpPollEvents.None) continue;
            results[n++] = new UserTcpPollResult(registration.Target, events);
            if ((registration.Mode & UserTcpPollMode.OneShot) != 0) registration.Disabled = true;
            else if ((registration.Mode & UserTcpPollMode.EdgeTriggered) == 0) requeue.Add(registration); // level-triggered: asked again next time
        }
        foreach (Registration registration in requeue) registration.Wake(UserTcpPollEvents.None);
        return n;
    }

    /// <summary>One target in the interest list.</summary>
    internal sealed class Registration(UserTcpEventPoll owner, object target, Func<UserTcpPollEvents> poll, Action<Registration> unwatch)
    {
        private LinkedListNode<Registration>? _node;

        public object Target { get; } = target;
        public UserTcpPollEvents Events { get; set; }
        public UserTcpPollMode Mode { get; set; }
        /// <summary>A one-shot registration that reported (EPOLLONESHOT): silent until modified.</summary>
        public bool Disabled { get; set; }
        /// <summary>What a wait reports: the events asked for, and always Error and Hangup.</summary>
        public UserTcpPollEvents Mask => Events | UserTcpPollEvents.Error | UserTcpPollEvents.Hangup;

        public UserTcpPollEvents PollTarget() => poll();

        /// <summary>A wakeup of the target, carrying the events it concerns (None: any), as ep_poll_callback; may come under a shard's lock.</summary>
        public void Wake(UserTcpPollEvents key)
        {
            TaskCompletionSource? signal = null;
            lock (owner._gate)
            {
                if (Disabled || key != UserTcpPollEvents.None && (key & Mask) == 0 || _node is not null || !owner._interest.ContainsKey(Target)) return;
                _node = owner._ready.AddLast(this);
                (signal, owner._readySignal) = (owner._readySignal, null);
            }
            signal?.TrySetResult();
        }

        /// <summary>Under the owner's lock.</summary>
        public void LeaveReadyList()
        {
            if (_node is null) return;
            owner._ready.Remove(_node);
            _node = null;
        }

        /// <summary>The target stops waking this registration (takes the target's locks; never under the owner's).</summary>
        public void Detach() => unwatch(this);
    }
}
