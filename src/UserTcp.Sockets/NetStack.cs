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
/// The runtime: owns the device (one queue, or several: one shard per queue), the engines and a clock
/// (<see cref="TimeProvider"/>). Two ways to drive it: <see cref="Start"/> gives each shard a reader thread of its own
/// (the live stack); <see cref="Create"/> gives none, and the caller runs it with <see cref="Pump"/> — with a
/// <c>FakeTimeProvider</c>, a test steps it deterministically.
/// <para>
/// Every pass over an engine — a batch of packets from its queue, a due timer, or an application call — holds that
/// shard's engine lock (each engine is single-owner), collects what the engine sends in a batch, finishes the pending
/// reads, writes and accepts of the connections the pass touched (each connection keeps its own), then releases the lock
/// and writes the batch to the queue and resumes those callers. Nothing blocks or waits while holding the lock; the
/// queue is written under a second, transmit lock, taken before the engine lock is released, so packets leave in the
/// order the engine made them. Shards share no lock: a connection lives on one shard, a listener on all of them
/// (docs/design.md "Several cores").
/// </para>
/// </summary>
public sealed partial class NetStack : IAsyncDisposable
{
    private readonly StackShard[] _shards;
    // The last connection options applied and what they gave: connecting again with the same options takes no new TcpConfig.
    private AppliedOptions? _lastApplied;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly ILogger _logger;
    private readonly Func<TcpError, SocketError> _errorTranslation;
    // Which shard owns each 4-tuple; null with one shard.
    private readonly FourTupleOwners? _owners;
    // Round robin over the shards for connections we open.
    private int _nextShard = -1;
    private long _handedOver;
    private volatile bool _stopping;
    private int _disposed;
    // Why the device stopped working (a read that failed); once set, every waiting call has failed and new calls are refused.
    private volatile Exception? _deviceFailure;
    // Completed with _deviceFailure when it is set.
    private readonly TaskCompletionSource<Exception> _deviceFailed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // The first DisposeAsync's work; later calls wait for it.
    private Task? _disposal;

    private NetStack(IReadOnlyList<IPacketDevice> queues, NetStackOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Options = options;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _logger = loggerFactory.CreateLogger("UserTcp.Sockets");
        _errorTranslation = options.ErrorTranslation ?? SocketErrors.ToSocketError;
        ITcpEventSink log = new LoggingEventSink(loggerFactory.CreateLogger("UserTcp.Engine"));
        // The options' sink sees one stream of events: with several shards, one at a time.
        ITcpEventSink? extra = options.Events is null ? null : queues.Count > 1 ? new SerializedEventSink(options.Events) : options.Events;
        ITcpEventSink next = extra is null ? log : new FanOutEventSink(log, extra);
        _owners = queues.Count > 1 ? new FourTupleOwners(queues.Count) : null;
        _shards = new StackShard[queues.Count];
        TcpEngine? first = null;
        for (int i = 0; i < queues.Count; i++)
        {
            var events = new StackShard.RuntimeEvents(next);
            TcpConfig config = ShareOfLimits(FitToDevice(options.Tcp, queues[i]), queues.Count);
            TcpEngine engine = first is null
                ? new TcpEngine(options.Address, config, events) { TupleClaims = _owners?.For(0) }
                : first.CreateShard(i, _owners!.For(i), config, events);
            first ??= engine;
            _shards[i] = new StackShard(this, i, queues[i], engine, _logger, time);
            events.Shard = _shards[i];
            _shards[i].Events = events;
        }
        Counters = _shards.Length == 1 ? _shards[0].Engine.Counters : EngineCounters.Combine([.. _shards.Select(s => s.Engine.Counters)]);
    }

    /// <summary>
    /// Starts a stack on <paramref name="device"/> with a reader thread of its own; it owns the device from now on and
    /// disposes it. Timers run on <paramref name="timeProvider"/> (the system's by default).
    /// </summary>
    public static NetStack Start(IPacketDevice device, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        return StartQueues([device], options, loggerFactory, timeProvider);
    }

    /// <summary>
    /// Starts a stack on the queues of one multi-queue device (<c>TunDevice.OpenQueues</c>), one shard per queue, each with
    /// its own engine and reader thread; it owns the queues from now on and disposes them.
    /// </summary>
    public static NetStack StartQueues(IReadOnlyList<IPacketDevice> queues, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        NetStack stack = CreateQueues(queues, options, loggerFactory, timeProvider);
        foreach (StackShard shard in stack._shards)
        {
            shard.StartReader(stack._shards.Length == 1 ? $"usertcp {options.Address} reader" : $"usertcp {options.Address} reader {shard.Index}");
        }
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
        return CreateQueues([device], options, loggerFactory, timeProvider);
    }

    /// <summary>Makes a stack of one shard per queue without reader threads: the caller runs every shard with <see cref="Pump"/>.</summary>
    public static NetStack CreateQueues(IReadOnlyList<IPacketDevice> queues, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(options);
        if (queues.Count == 0) throw new ArgumentException("a stack needs at least one device queue", nameof(queues));
        foreach (IPacketDevice queue in queues) ArgumentNullException.ThrowIfNull(queue, nameof(queues));
        var stack = new NetStack(queues, options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
        NetStackLog.Started(stack._logger, options.Address, queues[0].Mtu, queues.Count);
        return stack;
    }

    /// <summary>The options the stack was started with.</summary>
    public NetStackOptions Options { get; }
    /// <summary>The stack's IPv4 address.</summary>
    public Ipv4Address Address => Options.Address;
    /// <summary>Device queues, one shard (engine, reader thread, timer) each.</summary>
    public int Queues => _shards.Length;
    /// <summary>Time since the stack started: the engines' clock.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_startTimestamp);
    /// <summary>What the engines have counted (read without the locks; values may be a moment old); with several shards, their sums.</summary>
    public EngineCounters Counters { get; }

    /// <summary>The TCP Fast Open cookies this stack holds for the servers it connected to (RFC 7413 §4.1.1); <see cref="FastOpenCache.Flush"/> forgets them (<c>ip tcp_metrics flush</c>).</summary>
    public FastOpenCache FastOpenCookies => _shards[0].Engine.FastOpenCookies;
    /// <summary>The engine's configuration in force (the options' TcpConfig, with the MSS fitted to the device).</summary>
    public TcpConfig TcpConfig => _shards.Length == 1 ? _shards[0].Engine.Config : FitToDevice(Options.Tcp, _shards[0].Device);
    /// <summary>Packets whose processing threw (a bug, or a failing event sink); each is logged and dropped.</summary>
    public long ProcessingErrors => _shards.Sum(s => s.ProcessingErrors);
    /// <summary>Pure ACKs not sent because a later segment of the same connection, sent at the same time, acknowledged more.</summary>
    public long AcksCoalesced => _shards.Sum(s => s.AcksCoalesced);
    /// <summary>
    /// Packets a pass took from the device before firing a due timer, because the reader had not read them yet (a reader
    /// held up on a busy machine; see <see cref="UserTcp.Link.IPacketDevice.ReadsMayOverlapWait"/>).
    /// </summary>
    public long PacketsTakenBeforeTimers => _shards.Sum(s => s.PacketsTakenBeforeTimers);
    /// <summary>Passes over the engines that application calls made (each takes an engine lock once), for tests that count what a connection costs.</summary>
    internal long CallPasses => _shards.Sum(s => s.CallPasses);
    /// <summary>Packets a shard read from its queue and handed to the shard that owns their connection (the kernel put them on another queue).</summary>
    public long PacketsHandedOver => Interlocked.Read(ref _handedOver);
    /// <summary>The stack has begun disposing: application calls are refused, closes and disposes do nothing.</summary>
    public bool IsStopping => _disposed != 0;
    /// <summary>Closing, aborting or disposing is moot (and never throws): the stack is stopping, or its device has failed.</summary>
    internal bool CleanupIsMoot => _disposed != 0 || _deviceFailure is not null;
    /// <summary>The reader threads must end.</summary>
    internal bool ReadersStop => _stopping;

    /// <summary>When the next engine timer falls due, in stack time (<see cref="Now"/>); null when none is armed.</summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            TimeSpan? earliest = null;
            foreach (StackShard shard in _shards)
            {
                if (shard.NextDeadline is TimeSpan due && (earliest is null || due < earliest)) earliest = due;
            }
            return earliest;
        }
    }

    internal TimeProvider TimeProvider => _time;
    /// <summary>The first shard's engine (the only one of a stack of one queue), for tests that look inside.</summary>
    internal TcpEngine Engine => _shards[0].Engine;
    internal FourTupleOwners? Owners => _owners;
    internal StackShard ShardAt(int index) => _shards[index];
    internal IReadOnlyList<StackShard> Shards => _shards;
    internal SocketError Translate(TcpError error) => _errorTranslation(error);
    internal void CountHandedOver() => Interlocked.Increment(ref _handedOver);

    /// <summary>Listens on <paramref name="port"/> of this stack's address, on every shard; <paramref name="options"/> apply to the connections it accepts.</summary>
    /// <exception cref="SocketException"><see cref="SocketError.AddressAlreadyInUse"/>: the port has a listener.</exception>
    public UserTcpListener Listen(ushort port, int backlog = 128, UserTcpConnectionOptions? options = null)
    {
        TcpConfig config = ConfigFor(options);
        var listener = new UserTcpListener(this, backlog, options ?? new UserTcpConnectionOptions(), ConfigFor(options is null ? null : options with { MaxSegmentSize = null }).Mss);
        // Each shard takes its share of the backlog (SYN queue and accept queue alike), so the listener as a whole holds about what listen() asked.
        int shardBacklog = backlog < 1 ? backlog : (backlog + _shards.Length - 1) / _shards.Length;
        foreach (StackShard shard in _shards)
        {
            shard.Enter();
            try
            {
                if (DeviceFailedError() is IOException failed) throw failed;
                try
                {
                    listener.AddPart(shard, shard.Engine.Listen(port, shardBacklog, config));
                }
                catch (TcpException e)
                {
                    throw new SocketException((int)Translate(e.Error));
                }
            }
            catch
            {
                shard.Exit();
                listener.CloseParts(); // the shards already listening stop again
                throw;
            }
            shard.Exit();
        }
        if (options?.FastOpenQueueLength is int fastOpenQueue) listener.SetFastOpenQueueLength(fastOpenQueue);
        return listener;
    }

    /// <summary>Opens a connection; completes when it is established, throws <see cref="SocketException"/> when refused or timed out.</summary>
    public Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, CancellationToken cancellationToken = default) =>
        ConnectAsync(remote, null, cancellationToken);

    /// <summary>
    /// Opens a connection with its own <paramref name="options"/> (buffer sizes, NoDelay, KeepAlive...). With
    /// <see cref="UserTcpConnectionOptions.FastOpenConnect"/> and a Fast Open cookie cached for the server it completes at
    /// once, and the first write carries the SYN.
    /// </summary>
    public async Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, UserTcpConnectionOptions? options, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested(); // cancelled already: no SYN (and no RST after it), as Socket.ConnectAsync
        UserTcpConnection connection = Connect(remote, options);
        // TCP_FASTOPEN_CONNECT with a cookie cached: the SYN waits for the first write, so there is nothing to wait for.
        if (connection.FastOpenAwaitsData) return connection;
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
    /// <see cref="UserTcpConnection.TakeError"/> reads a failure the way SO_ERROR does. With several shards the
    /// connections we open take turns over them; the kernel answers on the queue the SYN left by (docs/design.md
    /// "Several cores").
    /// </summary>
    /// <exception cref="SocketException"><see cref="SocketError.AddressAlreadyInUse"/>: that local port towards that peer is taken.</exception>
    public UserTcpConnection Connect(IpEndpoint remote, UserTcpConnectionOptions? options = null)
    {
        // A connect() given its local port goes to the shard that holds that 4-tuple, if one does: a TIME-WAIT record there may be
        // taken over (TcpEngine.MayRecycle), and a live connection refuses it there.
        int? owner = options?.LocalPort is ushort port && _owners is not null ? _owners.OwnerOf(new FourTuple(new IpEndpoint(Address, port), remote)) : null;
        StackShard shard = _shards.Length == 1 ? _shards[0]
            : owner is int index ? _shards[index]
            : _shards[(int)((uint)Interlocked.Increment(ref _nextShard) % (uint)_shards.Length)];
        return shard.Connect(remote, options, ConfigFor(options));
    }

    /// <summary>The engine configuration of a connection made with <paramref name="options"/>: its own base or the stack's, the options on top.</summary>
    private TcpConfig ConfigFor(UserTcpConnectionOptions? options)
    {
        if (options is null) return TcpConfig;
        TcpConfig from = options.Tcp ?? TcpConfig;
        AppliedOptions? last = Volatile.Read(ref _lastApplied);
        if (last is not null && ReferenceEquals(last.Options, options) && ReferenceEquals(last.From, from)) return last.Config;
        TcpConfig config = FitToDevice(options.Apply(from), _shards[0].Device);
        Volatile.Write(ref _lastApplied, new AppliedOptions(options, from, config));
        return config;
    }

    /// <summary>One options object, the configuration it was applied to, and the result (immutable, so shared by connections).</summary>
    private sealed record AppliedOptions(UserTcpConnectionOptions Options, TcpConfig From, TcpConfig Config);

    /// <summary>
    /// Buffer memory is each engine's own pool: with several shards each holds its share of
    /// <see cref="TcpConfig.MaxBufferMemory"/> (rounded up), so the stack as a whole holds about what was configured.
    /// Connections and TIME-WAIT records are capped over all shards by the engines themselves.
    /// </summary>
    private static TcpConfig ShareOfLimits(TcpConfig config, int shards) =>
        shards == 1 ? config : config with { MaxBufferMemory = Math.Max(16 * 1024, (config.MaxBufferMemory + shards - 1) / shards) };

    /// <summary>The MSS we offer can never exceed what the device carries (MTU minus IPv4 and TCP headers).</summary>
    private static TcpConfig FitToDevice(TcpConfig config, IPacketDevice device) =>
        config.Mss > device.Mtu - 40 ? config with { Mss = (ushort)(device.Mtu - 40) } : config;

    /// <summary>A consistent copy of each shard's connection table (every shard's, one after the other), for `usertcp ss` and diagnostics.</summary>
    public IReadOnlyList<ConnectionSnapshot> Snapshot() => [.. _shards.SelectMany(s => s.Snapshot())];

    /// <summary>
    /// The open listeners as LISTEN rows, the way `ss -tln` shows them: <see cref="ConnectionSnapshot.ReceiveQueue"/> is the
    /// number of established connections waiting to be accepted (on every shard), <see cref="ConnectionSnapshot.SendQueue"/>
    /// the backlog given to Listen, and the remote endpoint is 0.0.0.0:0. Read-only, for `usertcp ss` and diagnostics.
    /// </summary>
    public IReadOnlyList<ConnectionSnapshot> SnapshotListeners()
    {
        var rows = new Dictionary<ushort, ConnectionSnapshot>();
        foreach (StackShard shard in _shards)
        {
            lock (shard.Gate)
            {
                foreach (UserTcpListener.Part part in shard.Listeners)
                {
                    ConnectionSnapshot row = ConnectionSnapshot.OfListener(part.Engine) with { SendQueue = part.Owner.Backlog };
                    rows[part.LocalEndpoint.Port] = rows.TryGetValue(part.LocalEndpoint.Port, out ConnectionSnapshot? seen)
                        ? row with { ReceiveQueue = seen.ReceiveQueue + row.ReceiveQueue }
                        : row;
                }
            }
        }
        return [.. rows.Values];
    }

    /// <summary>The options' event sink, called by one shard at a time (a recorder or a lab need not be thread-safe).</summary>
    private sealed class SerializedEventSink(ITcpEventSink next) : ITcpEventSink
    {
        private readonly Lock _gate = new();

        public bool Consumes(TcpEventKind kind) => next.Consumes(kind);

        public void OnEvent(in TcpEvent tcpEvent)
        {
            lock (_gate) next.OnEvent(tcpEvent);
        }
    }
}
