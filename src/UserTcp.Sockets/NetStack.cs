using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Wire;

namespace UserTcp.Sockets;

/// <summary>
/// The runtime: owns a device, the engine and a clock (<see cref="TimeProvider"/>). Two ways to drive it:
/// <see cref="Start"/> gives it a reader thread of its own (the live stack); <see cref="Create"/> gives none, and the
/// caller runs it with <see cref="Pump"/> — with a <c>FakeTimeProvider</c>, a test steps it deterministically.
/// <para>
/// Every pass over the engine — a batch of packets from the device, a due timer, or an application call — holds the
/// engine lock (the engine is single-owner), collects what the engine sends in a <see cref="TransmitBatch"/>, finishes
/// the pending reads, writes and accepts of the connections the pass touched (each connection keeps its own), then
/// releases the lock and writes the batch to the device and resumes those callers. Nothing blocks or waits while
/// holding the lock; the device is written under a second, transmit lock, taken before the engine lock is released,
/// so packets leave in the order the engine made them.
/// </para>
/// </summary>
public sealed partial class NetStack : IAsyncDisposable, IBatchOwner
{
    private const int TransmitArenaBytes = 256 * 1024;

    // The engine lock: serializes every call into the engine (reader thread, timer, application threads).
    private readonly Lock _gate = new();
    // The transmit lock: taken under the engine lock, released after the batch is written; orders device writes.
    private readonly Lock _transmitGate = new();
    private readonly TcpEngine _engine;
    private readonly IPacketDevice _device;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly ITimer _timer;
    private readonly ILogger _logger;
    private readonly Func<TcpError, SocketError> _errorTranslation;
    // Two batches: one filled under the engine lock while the other may be being written under the transmit lock.
    private readonly TransmitBatch[] _batches;
    private readonly ReceiveBatch _received;
    // Connections the application holds, by 4-tuple: the engine's events find the pending calls to retry through it.
    private readonly Dictionary<FourTuple, UserTcpConnection> _connections = [];
    // Listeners by port, for the accept waiters a new established connection may satisfy.
    private readonly Dictionary<ushort, UserTcpListener> _listeners = [];
    // Connections and listeners this pass touched that have calls pending; each appears once (its IsTouched flag).
    private readonly List<UserTcpConnection> _touched = [];
    private readonly List<UserTcpListener> _touchedListeners = [];
    // Index of the batch the engine lock's holder fills; flipped when a batch is handed to the transmit lock.
    private int _fill;
    // When the timer is set to fire (stack time); null when disarmed. Guarded by _gate.
    private TimeSpan? _timerDue;
    private Thread? _reader;
    private volatile bool _stopping;
    private int _disposed;
    // Why the device stopped working (a read that failed); once set, every waiting call has failed and new calls are refused.
    private volatile Exception? _deviceFailure;
    // Completed with _deviceFailure when it is set.
    private readonly TaskCompletionSource<Exception> _deviceFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _processingErrors;
    private long _acksCoalesced;
    // The first DisposeAsync's work; later calls wait for it.
    private Task? _disposal;

    private NetStack(IPacketDevice device, NetStackOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _device = device;
        Options = options;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _logger = loggerFactory.CreateLogger("UserTcp.Sockets");
        _errorTranslation = options.ErrorTranslation ?? SocketErrors.ToSocketError;
        ITcpEventSink log = new LoggingEventSink(loggerFactory.CreateLogger("UserTcp.Engine"));
        _engine = new TcpEngine(options.Address, FitToDevice(options.Tcp, device), new RuntimeEvents(this, options.Events is null ? log : new FanOutEventSink(log, options.Events)));
        _batches = [new TransmitBatch(this, TransmitArenaBytes, device.Offloads), new TransmitBatch(this, TransmitArenaBytes, device.Offloads)];
        _received = new ReceiveBatch(device);
        _timer = time.CreateTimer(static state => ((NetStack)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Starts a stack on <paramref name="device"/> with a reader thread of its own; it owns the device from now on and
    /// disposes it. Timers run on <paramref name="timeProvider"/> (the system's by default).
    /// </summary>
    public static NetStack Start(IPacketDevice device, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        NetStack stack = Create(device, options, loggerFactory, timeProvider);
        stack._reader = new Thread(stack.ReadLoop) { IsBackground = true, Name = $"usertcp {options.Address} reader" };
        stack._reader.Start();
        return stack;
    }

    /// <summary>
    /// Makes a stack on <paramref name="device"/> without a reader thread: the caller runs it with <see cref="Pump"/>,
    /// and its timers fire from <paramref name="timeProvider"/>. With a <c>FakeTimeProvider</c> every step is the
    /// test's: advance the clock to <see cref="NextDeadline"/>, pump, repeat. It owns the device and disposes it.
    /// </summary>
    public static NetStack Create(IPacketDevice device, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        var stack = new NetStack(device, options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
        NetStackLog.Started(stack._logger, options.Address, device.Mtu);
        return stack;
    }

    /// <summary>The options the stack was started with.</summary>
    public NetStackOptions Options { get; }
    /// <summary>The stack's IPv4 address.</summary>
    public Ipv4Address Address => Options.Address;
    /// <summary>Time since the stack started: the engine's clock.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_startTimestamp);
    /// <summary>What the engine has counted (read without the lock; values may be a moment old).</summary>
    public EngineCounters Counters => _engine.Counters;
    /// <summary>The engine's configuration in force (the options' TcpConfig, with the MSS fitted to the device).</summary>
    public TcpConfig TcpConfig => _engine.Config;
    /// <summary>Packets whose processing threw (a bug, or a failing event sink); each is logged and dropped.</summary>
    public long ProcessingErrors => Interlocked.Read(ref _processingErrors);
    /// <summary>Pure ACKs not sent because a later segment of the same connection, sent at the same time, acknowledged more.</summary>
    public long AcksCoalesced => Interlocked.Read(ref _acksCoalesced);
    /// <summary>The stack has begun disposing: application calls are refused, closes and disposes do nothing.</summary>
    public bool IsStopping => _disposed != 0;
    /// <summary>Closing, aborting or disposing is moot (and never throws): the stack is stopping, or its device has failed.</summary>
    internal bool CleanupIsMoot => _disposed != 0 || _deviceFailure is not null;

    /// <summary>When the next engine timer falls due, in stack time (<see cref="Now"/>); null when none is armed.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            lock (_gate) return _engine.PollAt;
        }
    }

    internal TimeProvider TimeProvider => _time;
    internal TcpEngine Engine => _engine;
    /// <summary>The engine lock, for the pending calls' cancellation callbacks.</summary>
    internal Lock Gate => _gate;
    /// <summary>The batch the engine lock's holder fills.</summary>
    internal TransmitBatch Batch => _batches[_fill];
    internal SocketError Translate(TcpError error) => _errorTranslation(error);

    /// <summary>Listens on <paramref name="port"/> of this stack's address; <paramref name="options"/> apply to the connections it accepts.</summary>
    /// <exception cref="SocketException"><see cref="SocketError.AddressAlreadyInUse"/>: the port has a listener.</exception>
    public UserTcpListener Listen(ushort port, int backlog = 128, UserTcpConnectionOptions? options = null)
    {
        Enter();
        try
        {
            if (DeviceFailedError() is IOException failed) throw failed;
            TcpPassiveOpen listener;
            try
            {
                listener = _engine.Listen(port, backlog, ConfigFor(options));
            }
            catch (TcpException e)
            {
                throw new SocketException((int)Translate(e.Error));
            }
            var user = new UserTcpListener(this, listener, options ?? new UserTcpConnectionOptions(), ConfigFor(options is null ? null : options with { MaxSegmentSize = null }).Mss);
            _listeners[port] = user;
            return user;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Opens a connection; completes when it is established, throws <see cref="SocketException"/> when refused or timed out.</summary>
    public Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, CancellationToken cancellationToken = default) =>
        ConnectAsync(remote, null, cancellationToken);

    /// <summary>Opens a connection with its own <paramref name="options"/> (buffer sizes, NoDelay, KeepAlive...).</summary>
    public async Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, UserTcpConnectionOptions? options, CancellationToken cancellationToken = default)
    {
        UserTcpConnection connection = Connect(remote, options);
        try
        {
            await connection.WaitConnectedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            connection.Abort();
            throw;
        }
        return connection;
    }

    /// <summary>
    /// Starts opening a connection and returns at once, in SYN-SENT (a non-blocking connect(), EINPROGRESS): the SYN
    /// goes out now, <see cref="UserTcpConnection.WaitConnectedAsync"/> waits for the outcome, and
    /// <see cref="UserTcpConnection.TakeError"/> reads a failure the way SO_ERROR does.
    /// </summary>
    /// <exception cref="SocketException"><see cref="SocketError.AddressAlreadyInUse"/>: that local port towards that peer is taken.</exception>
    public UserTcpConnection Connect(IpEndpoint remote, UserTcpConnectionOptions? options = null)
    {
        Enter();
        try
        {
            if (DeviceFailedError() is IOException failed) throw failed;
            TcpConfig config = ConfigFor(options);
            TcpConnection tcb;
            try
            {
                tcb = _engine.Connect(remote, options?.LocalPort ?? 0, config);
            }
            catch (TcpException e)
            {
                throw new SocketException((int)Translate(e.Error));
            }
            var connection = new UserTcpConnection(this, tcb, config, options?.Linger);
            _connections[tcb.Id] = connection;
            return connection;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The engine configuration of a connection made with <paramref name="options"/>: its own base or the stack's, the options on top.</summary>
    private TcpConfig ConfigFor(UserTcpConnectionOptions? options) =>
        options is null ? _engine.Config : FitToDevice(options.Apply(options.Tcp ?? _engine.Config), _device);

    /// <summary>The MSS we offer can never exceed what the device carries (MTU minus IPv4 and TCP headers).</summary>
    private static TcpConfig FitToDevice(TcpConfig config, IPacketDevice device) =>
        config.Mss > device.Mtu - 40 ? config with { Mss = (ushort)(device.Mtu - 40) } : config;

    /// <summary>A consistent copy of the connection table, for `usertcp ss` and diagnostics.</summary>
    public IReadOnlyList<ConnectionSnapshot> Snapshot()
    {
        lock (_gate)
        {
            TimeSpan now = Now;
            return [.. _engine.Connections.Select(c => ConnectionSnapshot.Of(c, now)), .. _engine.TimeWaits.Select(t => ConnectionSnapshot.Of(t, now))];
        }
    }

    /// <summary>
    /// The open listeners as LISTEN rows, the way `ss -tln` shows them: <see cref="ConnectionSnapshot.ReceiveQueue"/> is the
    /// number of established connections waiting to be accepted, <see cref="ConnectionSnapshot.SendQueue"/> the backlog,
    /// and the remote endpoint is 0.0.0.0:0. Read-only, for `usertcp ss` and diagnostics.
    /// </summary>
    public IReadOnlyList<ConnectionSnapshot> SnapshotListeners()
    {
        lock (_gate)
        {
            return [.. _listeners.Values.Select(l => ConnectionSnapshot.OfListener(l.EngineListener))];
        }
    }

    // ───────────── one pass over the engine ─────────────

    /// <summary>
    /// Takes the engine lock for an application call and brings the engine to the present (due timers fire first, so
    /// what the call arms counts from now). Pair with <see cref="Exit"/> in a finally.
    /// </summary>
    internal TimeSpan Enter(bool pollFirst = true)
    {
        _gate.Enter();
        if (_stopping && _disposed != 0)
        {
            _gate.Exit();
            throw new ObjectDisposedException(nameof(NetStack));
        }
        TimeSpan now = Now;
        if (pollFirst) Poll(now);
        return now;
    }

    /// <summary>
    /// Ends a pass: retries the pending calls of what it touched, sends what the engine produced, re-arms the timer,
    /// then releases the engine lock and writes the batch and resumes the finished callers under the transmit lock.
    /// </summary>
    internal void Exit()
    {
        try
        {
            TimeSpan now = Now;
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
        if (batch.IsEmpty)
        {
            _gate.Exit();
            return;
        }
        _transmitGate.Enter(); // waits for the other batch to be written: the two never interleave
        _fill ^= 1;
        _gate.Exit();
        try
        {
            batch.WriteTo(_device);
            batch.SignalCompletions();
        }
        finally
        {
            _transmitGate.Exit();
        }
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
    internal void Touch(UserTcpConnection connection)
    {
        if (connection.IsTouched || !connection.HasPendingCalls) return;
        connection.IsTouched = true;
        _touched.Add(connection);
    }

    internal void Touch(UserTcpListener listener)
    {
        if (listener.IsTouched || !listener.HasPendingAccepts) return;
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
            UserTcpListener listener = _touchedListeners[i];
            listener.IsTouched = false;
            listener.Service();
        }
        _touchedListeners.Clear();
    }

    /// <summary>Under the engine lock: an accepted connection becomes the application's.</summary>
    internal UserTcpConnection Adopt(TcpConnection tcb, TcpConfig config, TimeSpan? linger)
    {
        var connection = new UserTcpConnection(this, tcb, config, linger);
        // Reset after the peer's FIN, before accept(): it was in CLOSE-WAIT (nothing else reads the FIN then resets).
        if (tcb.Error == TcpError.ConnectionReset && tcb.FinReceived) connection.ResetAfterPeerClosed = true;
        _connections[tcb.Id] = connection;
        return connection;
    }

    internal void Forget(UserTcpListener listener)
    {
        if (_listeners.TryGetValue(listener.LocalEndpoint.Port, out UserTcpListener? current) && ReferenceEquals(current, listener))
        {
            _listeners.Remove(listener.LocalEndpoint.Port);
        }
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
        // A passive open that completed may satisfy an accept.
        if (e is { Kind: TcpEventKind.StateChanged, NewState: TcpState.Established } && _listeners.TryGetValue(e.Connection.Local.Port, out UserTcpListener? listener))
        {
            Touch(listener);
        }
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

    /// <summary>Under the engine lock: makes sure the timer fires by the engine's next deadline (a timer that fires early just re-arms).</summary>
    private void ArmTimer(TimeSpan now)
    {
        if (_engine.PollAt is not TimeSpan due || _timerDue is TimeSpan armed && armed <= due) return;
        if (_stopping && _disposed != 0 || _deviceFailure is not null) return;
        _timerDue = due;
        _timer.Change(due > now ? due - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        _gate.Enter();
        if (_stopping && _disposed != 0 || _deviceFailure is not null)
        {
            _gate.Exit();
            return;
        }
        _timerDue = null;
        try
        {
            Poll(Now);
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

    /// <summary>The engine's events go to the log and the options' sink, and tell the runtime which connections changed.</summary>
    private sealed class RuntimeEvents(NetStack stack, ITcpEventSink next) : ITcpEventSink
    {
        public void OnEvent(in TcpEvent tcpEvent)
        {
            next.OnEvent(tcpEvent);
            if (tcpEvent.Connection != default) stack.OnEngineEvent(tcpEvent);
        }
    }
}
