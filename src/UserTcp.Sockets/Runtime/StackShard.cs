using System.Buffers;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Link;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// One engine of a <see cref="NetStack"/> on one device queue (one TUN queue of an IFF_MULTI_QUEUE interface, or the
/// only device): its own engine lock, transmit lock, engine, timer, batches, reader thread and the waiters of the
/// connections and listeners it holds. Nothing here is shared with another shard; what the shards share lives in
/// <see cref="NetStack"/> (the flags, the device failure) and <see cref="FourTupleOwners"/> (which shard a 4-tuple
/// belongs to). docs/design.md "Runtime" describes a pass; "Several cores" the shards.
/// </summary>
internal sealed partial class StackShard : IBatchOwner
{
    private const int TransmitArenaBytes = 256 * 1024;

    private readonly NetStack _stack;
    // The engine lock: serializes every call into this shard's engine (its reader, its timer, application threads).
    private readonly Lock _gate = new();
    // The transmit lock: taken under the engine lock, released after the batch is written; orders device writes.
    private readonly Lock _transmitGate = new();
    private readonly TcpEngine _engine;
    private readonly IPacketDevice _device;
    private readonly ITimer _timer;
    private readonly ILogger _logger;
    // Two batches: one filled under the engine lock while the other may be being written under the transmit lock.
    private readonly TransmitBatch[] _batches;
    private readonly ReceiveBatch _received;
    // Connections the application holds, by 4-tuple: the engine's events find the pending calls to retry through it.
    private readonly Dictionary<FourTuple, UserTcpConnection> _connections = [];
    // This shard's part of each listener, by port, for the accept waiters a new established connection may satisfy.
    private readonly Dictionary<ushort, UserTcpListener.Part> _listeners = [];
    // Connections and listeners this pass touched that have calls pending; each appears once (its IsTouched flag).
    private readonly List<UserTcpConnection> _touched = [];
    private readonly List<UserTcpListener.Part> _touchedListeners = [];
    // Index of the batch the engine lock's holder fills; flipped when a batch is handed to the transmit lock.
    private int _fill;
    // When the timer is set to fire, in stack-time ticks; TimerDisarmed when it is not. Guarded by _gate. The reader's pass
    // compares its clock with it (ProcessReceived).
    private long _timerDueTicks = TimerDisarmed;
    private const long TimerDisarmed = long.MaxValue;
    // The instant Enter read for the pass in progress, which its Exit reuses (a pass is one instant; a clock read was 7 %
    // of the managed time of a request/response). Valid while _passHasNow; guarded by _gate.
    private TimeSpan _passNow;
    private bool _passHasNow;
    private Thread? _reader;
    // Set under the engine lock as the stack stops: from then on application calls are refused here.
    private bool _stopped;
    private long _processingErrors;
    private long _acksCoalesced;
    // Passes made by application calls (a read, a write, an accept, a close: Enter with pollFirst), for tests that count
    // what a connection costs. Written under the engine lock.
    private long _callPasses;

    public StackShard(NetStack stack, int index, IPacketDevice device, TcpEngine engine, ILogger logger, TimeProvider time)
    {
        _stack = stack;
        Index = index;
        _device = device;
        _engine = engine;
        _logger = logger;
        _batches = [new TransmitBatch(this, TransmitArenaBytes, device.Offloads), new TransmitBatch(this, TransmitArenaBytes, device.Offloads)];
        _received = new ReceiveBatch(device);
        // On the system clock the engine's deadlines fire from a thread of the shard's own: the system timer's callbacks wait
        // for a thread-pool thread, and a starved pool made a CLOSE-WAIT timer 824 ms late. Any other clock (a manual one)
        // fires inside its Advance.
        _timer = time == TimeProvider.System
            ? new DedicatedTimer(OnTimer, $"usertcp timer {index}")
            : time.CreateTimer(static state => ((StackShard)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Which queue this shard serves (0 for a stack of one).</summary>
    public int Index { get; }
    public NetStack Stack => _stack;
    public TcpEngine Engine => _engine;
    public IPacketDevice Device => _device;
    /// <summary>Where the engine's events come in (set once, as the stack is made).</summary>
    public RuntimeEvents? Events { get; set; }
    /// <summary>The engine lock, for the pending calls' cancellation callbacks.</summary>
    public Lock Gate => _gate;
    /// <summary>The batch the engine lock's holder fills.</summary>
    public TransmitBatch Batch => _batches[_fill];
    public TimeProvider TimeProvider => _stack.TimeProvider;
    public bool CleanupIsMoot => _stack.CleanupIsMoot;
    public Exception? DeviceFailure => _stack.DeviceFailure;
    public long ProcessingErrors => Interlocked.Read(ref _processingErrors);
    public long AcksCoalesced => Interlocked.Read(ref _acksCoalesced);
    public long CallPasses => Interlocked.Read(ref _callPasses);
    /// <summary>Packets a batch had to parse to coalesce ACKs (the engine's own segments come with their fields), for tests.</summary>
    public long PacketsParsed => _batches[0].PacketsParsed + _batches[1].PacketsParsed;
    public IReadOnlyCollection<UserTcpListener.Part> Listeners => _listeners.Values;
    public IReadOnlyCollection<UserTcpConnection> HeldConnections => _connections.Values;

    public System.Net.Sockets.SocketError Translate(TcpError error) => _stack.Translate(error);
    public IOException? DeviceFailedError() => _stack.DeviceFailedError();

    /// <summary>Opens a connection on this shard (its SYN leaves on this shard's queue, so the kernel steers the answers here).</summary>
    public UserTcpConnection Connect(IpEndpoint remote, UserTcpConnectionOptions? options, TcpConfig config)
    {
        Enter();
        try
        {
            if (DeviceFailedError() is IOException failed) throw failed;
            TcpConnection tcb;
            try
            {
                // TCP_FASTOPEN_CONNECT needs the client bit of net.ipv4.tcp_fastopen (Linux answers EOPNOTSUPP; here an ordinary open).
                tcb = options?.FastOpenConnect == true && (config.FastOpen & FastOpenFlags.Client) != 0
                    ? _engine.ConnectFastOpen(remote, options.LocalPort ?? 0, config)
                    : _engine.Connect(remote, options?.LocalPort ?? 0, config);
            }
            catch (TcpException e)
            {
                throw new System.Net.Sockets.SocketException((int)Translate(e.Error));
            }
            var connection = new UserTcpConnection(this, tcb, config, options?.Linger, options?.InlineCompletions ?? false);
            _connections[tcb.Id] = connection;
            return connection;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Under the engine lock: this shard takes its part of a listener.</summary>
    public void AddListener(UserTcpListener.Part part) => _listeners[part.LocalEndpoint.Port] = part;

    /// <summary>Under the engine lock: a listener's part stops (its listener closed).</summary>
    public void Forget(UserTcpListener.Part part)
    {
        if (_listeners.TryGetValue(part.LocalEndpoint.Port, out UserTcpListener.Part? current) && ReferenceEquals(current, part))
        {
            _listeners.Remove(part.LocalEndpoint.Port);
        }
    }

    // ───────────── one pass over the engine ─────────────

    /// <summary>
    /// Takes the engine lock for an application call and brings the engine to the present (due timers fire first, so
    /// what the call arms counts from now). Pair with <see cref="Exit"/> in a finally.
    /// </summary>
    public TimeSpan Enter(bool pollFirst = true)
    {
        EnterLockOnly();
        return BeginPass(pollFirst);
    }

    /// <summary>
    /// Takes the engine lock for an application call that may need no pass: no clock read, no engine poll. The caller
    /// either ends with <see cref="ExitLockOnly"/> (it changed nothing a pass would act on; see <see cref="NothingToRetry"/>)
    /// or turns the hold into a pass with <see cref="BeginPass"/> and ends it with <see cref="Exit"/>.
    /// </summary>
    public void EnterLockOnly()
    {
        _gate.Enter();
        if (_stopped)
        {
            _gate.Exit();
            throw new ObjectDisposedException(nameof(NetStack));
        }
    }

    /// <summary>Under the engine lock: no earlier pass left calls to retry (it ran out of rounds), so a call may end without one.</summary>
    public bool NothingToRetry => _touched.Count == 0 && _touchedListeners.Count == 0;

    /// <summary>Releases the engine lock after <see cref="EnterLockOnly"/> when the call needed no pass.</summary>
    public void ExitLockOnly() => _gate.Exit();

    /// <summary>
    /// Under the engine lock (<see cref="EnterLockOnly"/>): starts a pass — reads the clock and, for an application call,
    /// brings the engine to the present. Pair with <see cref="Exit"/> in a finally.
    /// </summary>
    public TimeSpan BeginPass(bool pollFirst = true)
    {
        TimeSpan now = _stack.Now;
        _passNow = now;
        _passHasNow = true;
        if (pollFirst)
        {
            _callPasses++;
            if (now.Ticks >= _timerDueTicks) TakeWaitingBeforeTimers(now); // a timer is due: what the reader has not read goes first
            Poll(now);
        }
        return now;
    }

    /// <summary>
    /// Ends a pass: retries the pending calls of what it touched, sends what the engine produced, re-arms the timer,
    /// then releases the engine lock and writes the batch under the transmit lock, and, with no lock held, resumes the
    /// callers the pass finished (on this thread for connections with inline completions; see <see cref="Completions"/>).
    /// </summary>
    public void Exit()
    {
        try
        {
            TimeSpan now = _passHasNow ? _passNow : _stack.Now;
            _passHasNow = false;
            Poll(now); // what the pass queued (a call's data, a window update, a RST) leaves with this batch
            // A retried call may make the engine send (a window update, new data), which may touch more: a few rounds settle it.
            for (int round = 0; round < 4 && (_touched.Count > 0 || _touchedListeners.Count > 0); round++)
            {
                ServiceTouched();
                Poll(now);
            }
            ArmTimer(now);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug in the runtime or a failing event sink: the pass still ends, so the locks and the batch are not lost.
            Interlocked.Increment(ref _processingErrors);
            NetStackLog.ProcessingFailed(_logger, 0, e);
        }
        TransmitBatch batch = _batches[_fill];
        if (!batch.HasPackets)
        {
            // Nothing to write (a request's pass that finished its read): the calls it finished resume without the
            // transmit lock, which orders packets, not calls.
            bool completed = batch.TakeCompletions();
            _gate.Exit();
            if (completed) Completions.SignalPending(); // none taken: the thread's list is empty or an outer signaller's (no thread-static lookup)
            return;
        }
        _transmitGate.Enter(); // waits for the other batch to be written: the two never interleave
        _fill ^= 1;
        _gate.Exit();
        bool took;
        try
        {
            batch.WriteTo(_device);
        }
        finally
        {
            took = batch.TakeCompletions();
            _transmitGate.Exit();
        }
        if (took) Completions.SignalPending();
    }

    /// <summary>Under the engine lock: the engine's due timers and pending output, into the current batch.</summary>
    private void Poll(TimeSpan now)
    {
        TransmitBatch batch = _batches[_fill];
        long coalescedBefore = batch.AcksCoalesced;
        _engine.Poll(now, batch);
        if (batch.AcksCoalesced != coalescedBefore) Interlocked.Add(ref _acksCoalesced, batch.AcksCoalesced - coalescedBefore);
    }

    /// <summary>
    /// Under the engine lock: feeds one packet (its TCP checksum not verified when the device vouches for it); one whose
    /// processing throws is logged and dropped, and the stack goes on.
    /// </summary>
    private void Receive(ReadOnlySpan<byte> packet, bool checksumTrusted, TimeSpan now)
    {
        TransmitBatch batch = _batches[_fill];
        long coalescedBefore = batch.AcksCoalesced;
        try
        {
            _engine.Receive(packet, now, batch, checksumTrusted);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _processingErrors);
            NetStackLog.ProcessingFailed(_logger, packet.Length, e);
        }
        if (batch.AcksCoalesced != coalescedBefore) Interlocked.Add(ref _acksCoalesced, batch.AcksCoalesced - coalescedBefore);
    }

    /// <summary>Under the engine lock: marks a connection whose pending calls must be retried at the end of this pass.</summary>
    public void Touch(UserTcpConnection connection)
    {
        if (connection.IsTouched || !connection.HasPendingCalls) return;
        connection.IsTouched = true;
        _touched.Add(connection);
    }

    private void Touch(UserTcpListener.Part listener)
    {
        if (listener.IsTouched || !listener.Owner.HasPendingAccepts) return;
        listener.IsTouched = true;
        _touchedListeners.Add(listener);
    }

    private void ServiceTouched()
    {
        TransmitBatch batch = _batches[_fill];
        // Retrying may touch more (a write's data is sent, the engine emits an event): index, not foreach.
        for (int i = 0; i < _touched.Count; i++)
        {
            UserTcpConnection connection = _touched[i];
            connection.IsTouched = false;
            connection.Service(batch);
        }
        _touched.Clear();
        for (int i = 0; i < _touchedListeners.Count; i++)
        {
            UserTcpListener.Part listener = _touchedListeners[i];
            listener.IsTouched = false;
            listener.Owner.ServeFrom(listener);
        }
        _touchedListeners.Clear();
    }

    /// <summary>Under the engine lock: an accepted connection becomes the application's.</summary>
    public UserTcpConnection Adopt(TcpConnection tcb, TcpConfig config, TimeSpan? linger, bool inlineCompletions)
    {
        var connection = new UserTcpConnection(this, tcb, config, linger, inlineCompletions);
        // Reset after the peer's FIN, before accept(): it was in CLOSE-WAIT (nothing else reads the FIN then resets).
        if (tcb.Error == TcpError.ConnectionReset && tcb.FinReceived) connection.ResetAfterPeerClosed = true;
        // One reset while it waited (handed out for the data it holds) has had its last event: held, it would never be let go.
        if (tcb.State != TcpState.Closed) _connections[tcb.Id] = connection;
        return connection;
    }

    /// <summary>Under the engine lock: what an engine event means for the application's pending calls.</summary>
    private void OnEngineEvent(in TcpEvent e)
    {
        // Linux's tcp_reset: a RST after the peer's FIN is EPIPE, not ECONNRESET.
        bool resetAfterFin = e is { Kind: TcpEventKind.ConnectionError, Error: TcpError.ConnectionReset, OldState: TcpState.CloseWait };
        if (_connections.TryGetValue(e.Connection, out UserTcpConnection? connection))
        {
            if (resetAfterFin) connection.ResetAfterPeerClosed = true;
            Touch(connection);
            // Closed for good, or in TIME-WAIT, which nothing the application waits for outlasts: the runtime lets go
            // (the application keeps the object, and its pending calls are retried at the end of this pass), so a
            // TIME-WAIT costs only the engine's compact record, and its 4-tuple may come back as a new connection.
            if (connection.State is TcpState.Closed or TcpState.TimeWait) _connections.Remove(e.Connection);
        }
        // A passive open that completed may satisfy an accept; so may one just made from a Fast Open SYN, which is in the
        // accept queue from its SYN-RECEIVED on (tcp_conn_request): for an ordinary SYN the accept queue is unchanged.
        if (e is { Kind: TcpEventKind.StateChanged, NewState: TcpState.Established or TcpState.SynReceived } && _listeners.TryGetValue(e.Connection.Local.Port, out UserTcpListener.Part? listener))
        {
            Touch(listener);
        }
    }

    /// <summary>
    /// The engine's events go to the log and the options' sink (the kinds they consume), and tell the shard which
    /// connections changed: every kind but a timer armed (the most frequent, several per request) and a segment sent,
    /// which change nothing a call or a poll waits for — room in the send buffer and the readiness to write come with the
    /// ACKs that arrive, as Linux's sk_write_space does; what a send changes comes with its own event (a state change, a
    /// timer fired) — so the engine builds those only for the log or the options' sink.
    /// </summary>
    public sealed class RuntimeEvents : ITcpEventSink
    {
        private readonly ITcpEventSink _next;
        // The kinds _next consumes (bit per TcpEventKind), asked once.
        private readonly uint _nextConsumes;
        // Events delivered to this shard's runtime, for tests that count what a request costs.
        private long _delivered;

        public RuntimeEvents(ITcpEventSink next)
        {
            _next = next;
            foreach (TcpEventKind kind in Enum.GetValues<TcpEventKind>())
            {
                if (next.Consumes(kind)) _nextConsumes |= 1u << (int)kind;
            }
        }

        public StackShard? Shard { get; set; }

        /// <summary>How many events the engine built and delivered here.</summary>
        public long Delivered => Interlocked.Read(ref _delivered);

        public bool Consumes(TcpEventKind kind) => ShardTakes(kind) || NextConsumes(kind);

        public void OnEvent(in TcpEvent tcpEvent)
        {
            _delivered++;
            if (NextConsumes(tcpEvent.Kind)) _next.OnEvent(tcpEvent);
            if (ShardTakes(tcpEvent.Kind) && tcpEvent.Connection != default) Shard?.OnEngineEvent(tcpEvent);
        }

        // Every kind but a timer armed and a segment sent names a connection whose calls may be retried (above).
        private static bool ShardTakes(TcpEventKind kind) => kind is not (TcpEventKind.TimerSet or TcpEventKind.SegmentOut);

        private bool NextConsumes(TcpEventKind kind) => (_nextConsumes & (1u << (int)kind)) != 0;
    }

    // ───────────── the device and the timer ─────────────

    void IBatchOwner.WriteNow(TransmitBatch full)
    {
        // Under the engine lock, mid-pass: the batch is full. Write it now, in order with the other batch.
        lock (_transmitGate) full.WriteTo(_device);
    }

    void IBatchOwner.WriteNow(ReadOnlySpan<byte> packet, PacketOffload offload)
    {
        lock (_transmitGate)
        {
            int headroom = _device.Offloads.Headroom;
            byte[] frame = ArrayPool<byte>.Shared.Rent(headroom + packet.Length);
            try
            {
                packet.CopyTo(frame.AsSpan(headroom));
                _device.WriteFrame(frame.AsSpan(0, headroom + packet.Length), offload);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                NetStackLog.WriteFailed(_logger, packet.Length, e);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
    }

    void IBatchOwner.WriteFailed(int length, Exception error) => NetStackLog.WriteFailed(_logger, length, error);

    bool IBatchOwner.RefusesTransmit(ReadOnlySpan<byte> packet) => _device.RefusesTransmit(packet);

    /// <summary>Under the engine lock: makes sure the timer fires by the engine's next deadline (a timer that fires early just re-arms).</summary>
    private void ArmTimer(TimeSpan now)
    {
        if (_engine.PollAt is not TimeSpan due || _timerDueTicks <= due.Ticks) return;
        if (_stopped || _stack.DeviceFailure is not null) return;
        _timerDueTicks = due.Ticks;
        _timer.Change(due > now ? due - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        _gate.Enter();
        if (_stopped || _stack.DeviceFailure is not null)
        {
            _gate.Exit();
            return;
        }
        _timerDueTicks = TimerDisarmed;
        try
        {
            TimeSpan now = _stack.Now;
            TakeWaitingBeforeTimers(now);
            Poll(now);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An exception must not escape into the timer's thread (it would end the process).
            Interlocked.Increment(ref _processingErrors);
            NetStackLog.ProcessingFailed(_logger, 0, e);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>When this shard's next engine timer falls due; null when none is armed.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            lock (_gate) return _engine.PollAt;
        }
    }

    /// <summary>This shard's connections (TIME-WAIT records too) as `ss` rows, read under its lock.</summary>
    public IEnumerable<ConnectionSnapshot> Snapshot()
    {
        lock (_gate)
        {
            TimeSpan now = _stack.Now;
            return [.. _engine.Connections.Select(c => ConnectionSnapshot.Of(c, now) with { Queue = Index }),
                .. _engine.TimeWaits.Select(t => ConnectionSnapshot.Of(t, now) with { Queue = Index })];
        }
    }
}
