using System.Runtime.CompilerServices;
using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The connection table and everything around it: demultiplexing arriving packets, listeners, RSTs for segments
/// that match nothing, and the timer queue. Pure: no threads, no I/O, no clock. Every call takes <c>now</c>;
/// <see cref="PollAt"/> says when to call <see cref="Poll"/> next. Single-owner: callers serialize access.
/// </summary>
public sealed partial class TcpEngine
{
    private readonly Dictionary<FourTuple, TcpConnection> _connections = [];
    // Connections in TIME-WAIT, as compact records; a 4-tuple is in at most one of the two tables.
    private readonly Dictionary<FourTuple, TimeWaitRecord> _timeWaits = [];
    private readonly Dictionary<ushort, TcpPassiveOpen> _listeners = [];
    // Connections with output to send at the next Dispatch; each appears once (TcpConnection.IsPending).
    private readonly List<TcpConnection> _pending = [];
    private readonly byte[] _transmitBuffer = new byte[ushort.MaxValue];
    private readonly byte[] _payloadScratch = new byte[ushort.MaxValue];
    private readonly StackSecrets _secrets;
    private readonly IsnGenerator _isns;
    private readonly EphemeralPorts _ephemeralPorts;
    private readonly ITcpEventSink? _events;
    // The kinds the sink consumes, asked once: the others are neither built nor delivered (Publishes).
    private readonly TcpEventKindSet _published;
    private IPacketTransmitter? _output;
    private ushort _ipIdentification;

    /// <summary>An engine for the stack at <paramref name="address"/>, with <paramref name="config"/> (Linux's defaults if null) and an optional event sink.</summary>
    public TcpEngine(Ipv4Address address, TcpConfig? config = null, ITcpEventSink? events = null)
        : this(address, config, events, secrets: null)
    {
    }

    private TcpEngine(Ipv4Address address, TcpConfig? config, ITcpEventSink? events, StackSecrets? secrets, FastOpenCache? fastOpenCookies = null)
    {
        FastOpenCookies = fastOpenCookies ?? new FastOpenCache();
        Address = address;
        Config = config ?? new TcpConfig();
        _events = events;
        _published = TcpEventKindSet.ConsumedBy(events);
        _secrets = secrets ?? new StackSecrets(Config.RandomSeed);
        _isns = new IsnGenerator(_secrets);
        _ephemeralPorts = new EphemeralPorts(_secrets);
        ChallengeAcks = new ChallengeAckLimiter(Config.ChallengeAckLimit, _secrets.Random);
        BufferPool = new BufferPool(Config.MaxBufferMemory, Counters);
    }

    /// <summary>
    /// Another shard of the same stack: an engine at this address that shares this one's secrets (ISNs, TSval offsets,
    /// ephemeral port walks and SYN cookies agree across shards, RFC 6528 §3 and RFC 6056 §3.3.4 per stack, not per
    /// shard); it has its own connections, timers and counters, and claims 4-tuples through <paramref name="claims"/>.
    /// </summary>
    public TcpEngine CreateShard(int shard, IFourTupleClaims claims, TcpConfig? config = null, ITcpEventSink? events = null)
    {
        _shards ??= new ShardGroup(this);
        var engine = new TcpEngine(Address, config ?? Config, events, new StackSecrets(_secrets, shard), FastOpenCookies) { TupleClaims = claims, _shards = _shards };
        _shards.Add(engine);
        return engine;
    }

    // The engines of one stack, for the stack-wide caps (MaxConnections, MaxTimeWait); null for a stack of one engine.
    private ShardGroup? _shards;

    /// <summary>
    /// Set when other engines (shards) share this address: a 4-tuple is claimed there before a connection uses it and
    /// released when it is forgotten. Null for a stack of one engine.
    /// </summary>
    public IFourTupleClaims? TupleClaims { get; init; }

    /// <summary>The stack's IPv4 address.</summary>
    public Ipv4Address Address { get; }
    /// <summary>The tunables new connections start with.</summary>
    public TcpConfig Config { get; }
    /// <summary>The TCP Fast Open cookies of the servers this stack connected to (RFC 7413 §4.1.1), shared by its shards.</summary>
    public FastOpenCache FastOpenCookies { get; }
    /// <summary>What the engine has seen and done.</summary>
    public EngineCounters Counters { get; } = new();
    /// <summary>The stack-wide challenge-ACK budget (RFC 5961 §7).</summary>
    internal ChallengeAckLimiter ChallengeAcks { get; }
    /// <summary>The send and receive buffers' memory, lent to connections while they hold data.</summary>
    internal BufferPool BufferPool { get; }
    /// <summary>Every connection's next deadline, earliest first.</summary>
    internal TimerHeap Timers { get; } = new();
    /// <summary>The instant of the latest Receive or Poll: user calls between them are stamped with it.</summary>
    public TimeSpan Now { get; private set; }
    /// <summary>Connections not yet closed, before TIME-WAIT (those are in <see cref="TimeWaits"/>).</summary>
    public IReadOnlyCollection<TcpConnection> Connections => _connections.Values;
    /// <summary>Connections in TIME-WAIT, each a compact record.</summary>
    public IReadOnlyCollection<TimeWaitRecord> TimeWaits => _timeWaits.Values;

    /// <summary>When <see cref="Poll"/> must next run: the earliest timer, or <see cref="Now"/> when output is waiting.</summary>
    public TimeSpan? PollAt
    {
        get
        {
            if (_pending.Count > 0) return Now;
            return Timers.Next;
        }
    }

    /// <summary>
    /// Passive open on <paramref name="port"/> of this engine's address. <paramref name="connectionConfig"/> (default:
    /// the engine's) applies to the connections it makes, e.g. other buffer sizes (SO_RCVBUF/SO_SNDBUF on a listener).
    /// </summary>
    public TcpPassiveOpen Listen(ushort port, int backlog = 128, TcpConfig? connectionConfig = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(backlog);
        if (port == 0) throw new ArgumentOutOfRangeException(nameof(port), "listen needs a port");
        if (_listeners.ContainsKey(port)) throw new TcpException(TcpError.AddressInUse, $"port {port} already has a listener");
        var listener = new TcpPassiveOpen(this, new IpEndpoint(Address, port), backlog, connectionConfig ?? Config);
        TuneFastOpenOnListen(listener);
        _listeners.Add(port, listener);
        return listener;
    }

    /// <summary>
    /// Active open to <paramref name="remote"/>; the SYN goes out on the next <see cref="Poll"/>. <paramref name="config"/>
    /// (default: the engine's) is this connection's, e.g. other buffer sizes.
    /// </summary>
    public TcpConnection Connect(IpEndpoint remote, ushort localPort = 0, TcpConfig? config = null) => Open(remote, localPort, config, fastOpen: false);

    /// <summary>
    /// Active open to <paramref name="remote"/> with TCP Fast Open (RFC 7413; sendto with
    /// MSG_FASTOPEN, or TCP_FASTOPEN_CONNECT): with a cookie cached for the server (<see cref="FastOpenCookies"/>), or in
    /// the client's no-cookie mode, the SYN waits for the first <see cref="TcpConnection.Send"/> and carries as much of it
    /// as <see cref="TcpConnection.FastOpenSynRoom"/> allows; without one it goes on the next poll and asks for a cookie.
    /// </summary>
    public TcpConnection ConnectFastOpen(IpEndpoint remote, ushort localPort = 0, TcpConfig? config = null) => Open(remote, localPort, config, fastOpen: true);

    private TcpConnection Open(IpEndpoint remote, ushort localPort, TcpConfig? config, bool fastOpen)
    {
        FourTuple id = localPort != 0 ? new FourTuple(new IpEndpoint(Address, localPort), remote) : FreeEphemeral(remote);
        TimeWaitRecord? recycled = _timeWaits.GetValueOrDefault(id);
        if (_connections.ContainsKey(id) || recycled is not null && !MayRecycle(recycled, config ?? Config))
            throw new TcpException(TcpError.AddressInUse, $"{id} is already in use");
        if (!HasRoomForConnection(Now, id))
        {
            if (localPort == 0) TupleClaims?.Release(id); // the ephemeral port was claimed as it was chosen
            Counters.Count(MibCounter.UserTcpConnectsRefusedByLimit);
            throw new TcpException(TcpError.NoBufferSpace, $"connect to {remote}: the stack holds its maximum of {Config.MaxConnections} connections");
        }
        SeqNumber? iss = null;
        if (recycled is not null)
        {
            // Linux's tcp_twsk_unique: the new connection takes the TIME-WAIT over, numbered beyond the old one (SND.NXT + 65537).
            iss = recycled.SuccessorIss;
            recycled.End(Now, TcpCause.TimeWaitRecycled);
            Counters.Count(MibCounter.TcpExtTWRecycled);
        }
        if (localPort != 0 && TupleClaims?.TryClaim(id) == false) throw new TcpException(TcpError.AddressInUse, $"{id} is already in use on another shard");
        TcpConnection connection = NewConnection(id, listener: null, config ?? Config, iss);
        if (fastOpen) connection.OpenActiveFastOpen();
        else connection.OpenActive();
        return connection;
    }

    /// <summary>
    /// Whether a connect() from a TIME-WAIT record's own 4-tuple may take the record over (only a connect() given its local
    /// port reaches one: an ephemeral port is chosen free). Linux's tcp_twsk_unique does with no port search (so whatever
    /// tcp_tw_reuse says) once the peer's timestamps were seen: PAWS then keeps the old connection's segments out of the new
    /// one (RFC 7323 §5), whose sequence numbers start beyond the old ones. Without timestamps the record holds the 4-tuple.
    /// </summary>
    private static bool MayRecycle(TimeWaitRecord record, TcpConfig config) => config.Timestamps && record.TsRecent is not null;

    /// <summary>
    /// Feeds one arriving IPv4 packet. Malformed packets are counted and dropped, never thrown. With
    /// <paramref name="checksumTrusted"/> the TCP checksum is not verified: the device vouches for the packet (one the
    /// kernel made on this host and handed over with only its pseudo-header sum, or validated already).
    /// </summary>
    public void Receive(ReadOnlySpan<byte> packet, TimeSpan now, IPacketTransmitter output, bool checksumTrusted = false)
    {
        Now = now;
        SetOutput(output);
        // Linux hands IPv6 to its IPv6 stack, never to IPv4's: not an IPv4 header error, counted on its own and dropped quietly.
        if (!packet.IsEmpty && packet[0] >> 4 == 6)
        {
            Counters.Count(MibCounter.UserTcpDroppedNotIpv4);
            return;
        }
        Counters.CountPacketReceived();
        scoped TcpSegment seg = default;
        WireError error = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        if (error == WireError.None && ip.Protocol == Ipv4Packet.ProtocolIcmp && !ip.IsFragment)
        {
            OnIcmp(now, ip); // Icmp/TcpEngine.Icmp.cs
            Dispatch(now);
            return;
        }
        if (error == WireError.None) error = TcpSegment.TryParse(ip, out seg, verifyChecksum: !checksumTrusted);
        if (error != WireError.None)
        {
            Counters.CountMalformed(error);
            Emit(new TcpEvent(now, TcpEventKind.Dropped, default, Cause: TcpCause.Malformed, WireError: error));
            return;
        }
        if (ip.Destination != Address)
        {
            Counters.PacketsNotForUs++;
            return;
        }
        Counters.Count(MibCounter.TcpInSegs);
        var id = new FourTuple(new IpEndpoint(ip.Destination, seg.DestinationPort), new IpEndpoint(ip.Source, seg.SourcePort));
        if (Publishes(TcpEventKind.SegmentIn)) Emit(new TcpEvent(now, TcpEventKind.SegmentIn, id, Segment: SegmentSummary.From(seg)));

        if (_connections.TryGetValue(id, out TcpConnection? connection) && connection.State != TcpState.Closed)
        {
            connection.OnSegment(now, seg);
        }
        else if (_timeWaits.TryGetValue(id, out TimeWaitRecord? timeWait))
        {
            if (timeWait.AcceptsNewSyn(seg) && _listeners.TryGetValue(seg.DestinationPort, out TcpPassiveOpen? successorListener))
            {
                // RFC 6191, as Linux: the SYN ends TIME-WAIT and opens a new connection, numbered beyond the old one.
                SeqNumber iss = timeWait.SuccessorIss;
                timeWait.End(now, TcpCause.SynReusedTimeWait);
                OnSegmentInListen(now, successorListener, id, seg, iss);
            }
            else
            {
                timeWait.OnSegment(now, seg);
            }
        }
        else if (_listeners.TryGetValue(seg.DestinationPort, out TcpPassiveOpen? listener))
        {
            OnSegmentInListen(now, listener, id, seg);
        }
        else
        {
            OnSegmentInClosed(now, id, seg);
        }
        Dispatch(now);
    }

    /// <summary>Fires due timers and sends whatever user calls and timers left waiting.</summary>
    public void Poll(TimeSpan now, IPacketTransmitter output)
    {
        Now = now;
        SetOutput(output);
        while (Timers.TryTakeDue(now, out TimedEntry due))
        {
            if (due is ConnectionTimers timers)
            {
                timers.FireDue(now);
                Timers.Reschedule(timers); // the entry was taken out; this files the next deadline
            }
            else if (due is TimeWaitRecord timeWait)
            {
                timeWait.Expire(now);
            }
        }
        Dispatch(now);
    }

    // RFC 9293 §3.10.7.1: CLOSED (no connection, no listener).
    private void OnSegmentInClosed(TimeSpan now, FourTuple id, in TcpSegment seg)
    {
        Emit(new TcpEvent(now, TcpEventKind.Dropped, id, Cause: TcpCause.NoConnection, Segment: SegmentSummary.From(seg)));
        if (seg.Has(TcpFlags.Rst)) return;
        QueueResetFor(id, seg);
    }

    /// <summary>The RST that answers a segment no connection takes (RFC 9293 §3.10.7.1), shaped by its ACK bit.</summary>
    internal void QueueResetFor(FourTuple id, in TcpSegment seg)
    {
        if (seg.Has(TcpFlags.Ack))
        {
            QueueReset(id, seg.AcknowledgmentNumber, default, TcpFlags.Rst); // <SEQ=SEG.ACK><CTL=RST>
        }
        else
        {
            QueueReset(id, default, seg.SequenceNumber + seg.SegmentLength, TcpFlags.Rst | TcpFlags.Ack); // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
        }
    }

    /// <summary>Keyed per address pair, as Linux's tcp_timestamps = 1: TSvals say nothing about uptime (RFC 7323 §5.4).</summary>
    private uint TimestampOffsetOf(FourTuple id, TcpConfig config) => config.TimestampOffset?.Invoke(id) ?? _isns.TimestampOffset(id);

    /// <summary>Sends a RST that belongs to no connection (or to one being refused).</summary>
    internal void QueueReset(FourTuple id, SeqNumber seq, SeqNumber ack, TcpFlags flags)
    {
        var repr = new TcpRepr { SequenceNumber = seq, AcknowledgmentNumber = ack, Flags = flags };
        TransmitFor(id, repr);
        Counters.ResetsSent++;
    }

    /// <summary>A new connection; <paramref name="fixedIss"/> when its ISS is already chosen (a TIME-WAIT successor, a SYN cookie).</summary>
    private TcpConnection NewConnection(FourTuple id, TcpPassiveOpen? listener, TcpConfig config, SeqNumber? fixedIss = null)
    {
        uint iss = fixedIss?.Value ?? config.InitialSequenceNumber?.Invoke(id) ?? _isns.InitialSequenceNumber(id, Now);
        uint timestampOffset = TimestampOffsetOf(id, config);
        // A passive open claims its 4-tuple too; the runtime steers the peer's packets to the owner first, so only two
        // shards taking SYNs of one 4-tuple at once could both claim it, and then each keeps its own.
        if (listener is not null) TupleClaims?.TryClaim(id);
        var connection = new TcpConnection(this, id, CapBufferSizes(config), new SeqNumber(iss), listener, timestampOffset);
        _connections[id] = connection;
        return connection;
    }

    // RFC 6056 Algorithm 4 (Security/EphemeralPorts.cs); a port is free when no connection to this peer and no listener has it.
    private FourTuple FreeEphemeral(IpEndpoint remote)
    {
        var local = new IpEndpoint(Address, 0);
        ushort? port = _ephemeralPorts.Choose(local, remote, Config.EphemeralPortFirst, Config.EphemeralPortLast,
            p => !InUse(new FourTuple(new IpEndpoint(Address, p), remote)) && !_listeners.ContainsKey(p)
                && TupleClaims?.TryClaim(new FourTuple(new IpEndpoint(Address, p), remote)) != false); // claimed last: only the port chosen
        return port is ushort free
            ? new FourTuple(new IpEndpoint(Address, free), remote)
            : throw new TcpException(TcpError.AddressInUse, $"no free ephemeral port towards {remote}");
    }

    private bool InUse(FourTuple id) => _connections.ContainsKey(id) || _timeWaits.ContainsKey(id);

    /// <summary>
    /// Stops a listener: connections it made that are still in SYN-RECEIVED go silently, as Linux drops a closed
    /// listener's pending requests (the peer's ACK then finds no connection and draws a RST, RFC 9293 §3.5.2 rule 1);
    /// established ones waiting in its accept queue the listener resets itself.
    /// </summary>
    internal void RemoveListener(TcpPassiveOpen listener)
    {
        _listeners.Remove(listener.LocalEndpoint.Port);
        foreach (TcpConnection connection in _connections.Values)
        {
            // A Fast Open connection is already in the accept queue (reset by Close) or accepted (the application's now).
            if (ReferenceEquals(connection.Listener, listener) && connection.State == TcpState.SynReceived && !connection.IsFastOpenChild) connection.DropHalfOpen();
        }
    }

    private void Dispatch(TimeSpan now)
    {
        if (_pending.Count == 0 && _memoryWaiters.Count == 0) return; // most polls of a request/response pass (4 of 6)
        if (_memoryWaiters.Count > 0) WakeMemoryWaiters(now); // first, so the window updates it asks for leave in this pass
        // Dispatch may mark further connections pending (never the same one twice in a row), so index, not foreach.
        for (int i = 0; i < _pending.Count; i++)
        {
            TcpConnection connection = _pending[i];
            connection.IsPending = false;
            connection.Dispatch(now);
            if (connection.WindowLimitedByMemory) WaitForMemory(connection);
            Timers.Reschedule(connection.Timers);
            if (connection.State == TcpState.TimeWait && connection.TimeWaitRecord is null) EnterTimeWaitOrOverflow(now, connection);
            else if (connection.State == TcpState.Closed && !connection.IsPending) Forget(connection);
        }
        _pending.Clear();
    }

    private void Forget(TcpConnection connection, bool keepClaim = false)
    {
        if (_connections.TryGetValue(connection.Id, out TcpConnection? current) && ReferenceEquals(current, connection))
        {
            _connections.Remove(connection.Id);
            Timers.Remove(connection.Timers);
            if (!keepClaim) TupleClaims?.Release(connection.Id);
            if (connection.Listener is { } listener && connection.InSynQueue) listener.SynQueueLength--;
        }
    }

    // Its ACK of the peer's FIN is out: the connection leaves the table, a compact record takes its place.
    private void HandOverToTimeWait(TcpConnection connection)
    {
        Forget(connection, keepClaim: true); // the TIME-WAIT record keeps the 4-tuple
        TimeWaitRecord record = connection.HandOverToTimeWait();
        _timeWaits[record.Id] = record;
    }

    internal void ForgetTimeWait(TimeWaitRecord record)
    {
        if (_timeWaits.TryGetValue(record.Id, out TimeWaitRecord? current) && ReferenceEquals(current, record))
        {
            _timeWaits.Remove(record.Id);
            TupleClaims?.Release(record.Id);
        }
        Timers.Remove(record);
    }

    // Six polls and a segment per request, mostly with the same transmitter (the runtime switches batches only after one is
    // written): a compare is cheaper than the GC write barrier a reference store pays.
    private void SetOutput(IPacketTransmitter output)
    {
        if (!ReferenceEquals(_output, output)) _output = output;
    }

    internal void MarkPending(TcpConnection connection)
    {
        if (connection.IsPending) return;
        connection.IsPending = true;
        _pending.Add(connection);
    }

    internal Span<byte> PayloadScratch => _payloadScratch;

    /// <summary>Plain segments go through PlainSegmentWriter; off, through PacketWriter alone (tests and benchmarks compare the two).</summary>
    internal bool WritesPlainSegments { get; set; } = true;

    /// <summary>
    /// Whether the sink consumes <paramref name="kind"/>. The frequent kinds (segments in and out, timers set and fired) are
    /// built only when it does; the rest, rare, are always built (the counters read drops and state changes).
    /// </summary>
    internal bool Publishes(TcpEventKind kind) => _published.Contains(kind);

    internal void Emit(in TcpEvent tcpEvent)
    {
        // The counters read the same events as everyone else: drops by cause, the Tcp group's transitions.
        if (tcpEvent.Kind == TcpEventKind.Dropped) Counters.CountDropped(tcpEvent.Cause);
        else if (tcpEvent.Kind == TcpEventKind.StateChanged) Counters.CountTransition(tcpEvent.OldState, tcpEvent.NewState, tcpEvent.Cause);
        if (_published.Contains(tcpEvent.Kind)) _events!.OnEvent(tcpEvent);
    }

    /// <summary>Sends a segment of <paramref name="connection"/>: ports from its 4-tuple, IPv4 header around it.</summary>
    internal TransmitResult Transmit(TcpConnection connection, scoped in TcpRepr segment, bool ect = false) =>
        // The TOS byte's upper six bits are the application's (IP_TOS), the ECN field the stack's (RFC 3168 §5).
        TransmitFor(connection.Id, segment, (byte)(connection.TypeOfService | (ect ? (byte)EcnCodepoint.Ect0 : 0)), connection.DontFragment);

    /// <summary>
    /// Sends one segment; when the device completes checksums it carries only the pseudo-header sum. A segment the local
    /// queue refuses is neither counted nor reported as sent (no SegmentOut: it never reached the link); a Dropped event
    /// says why (Linux's NET_XMIT_DROP).
    /// </summary>
    internal TransmitResult TransmitFor(FourTuple id, scoped in TcpRepr segment, byte typeOfService = 0, bool dontFragment = true)
    {
        bool partialChecksum = _output?.PartialChecksums == true;
        // A plain segment (timestamps at most, no SACK block) by PlainSegmentWriter, the same bytes for less work; the
        // general writer's copies and events stay out of this frame (a smaller stack to clear on every segment).
        if (!WritesPlainSegments || !PlainSegmentWriter.Fits(segment, partialChecksum, out bool timestamp))
        {
            return TransmitGeneral(id, segment, typeOfService, dontFragment, partialChecksum);
        }
        Span<byte> buffer = TransmitBuffer(PlainSegmentWriter.Length(segment, timestamp));
        int length = PlainSegmentWriter.Write(buffer, id, segment, timestamp, typeOfService, dontFragment, _ipIdentification++, partialChecksum);
        return Hand(buffer[..length], id, SegmentSummary.From(segment), carriesSack: false);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TransmitResult TransmitGeneral(FourTuple id, scoped in TcpRepr segment, byte typeOfService, bool dontFragment, bool partialChecksum)
    {
        TcpRepr withPorts = segment;
        withPorts.SourcePort = id.Local.Port;
        withPorts.DestinationPort = id.Remote.Port;
        var ip = new Ipv4Repr(id.Local.Address, id.Remote.Address) { Identification = _ipIdentification++, TypeOfService = typeOfService, DontFragment = dontFragment };
        Span<byte> buffer = TransmitBuffer(Ipv4Packet.MinHeaderLength + withPorts.HeaderLength + withPorts.Payload.Length);
        if (!PacketWriter.TryWriteIpv4Tcp(buffer, ip, withPorts, out int length, partialChecksum))
        {
            throw new InvalidOperationException($"segment for {id} does not fit in an IPv4 packet");
        }
        return Hand(buffer[..length], id, SegmentSummary.From(withPorts), carriesSack: !withPorts.Options.SackBlocks.IsEmpty);
    }

    // Written straight into the transmitter's batch when it offers room: one copy from the send buffer to the device.
    private Span<byte> TransmitBuffer(int needed)
    {
        Span<byte> buffer = _output is null ? default : _output.GetBuffer(needed);
        return buffer.Length < needed ? _transmitBuffer : buffer;
    }

    private TransmitResult Hand(ReadOnlySpan<byte> packet, FourTuple id, in SegmentSummary summary, bool carriesSack)
    {
        TransmitResult result = _output?.TransmitSegment(packet, id, summary, carriesSack) ?? TransmitResult.Sent;
        if (result == TransmitResult.Refused)
        {
            Counters.Count(MibCounter.UserTcpTransmitRefused);
            EmitSegmentEvent(TcpEventKind.Dropped, id, summary, TcpCause.TransmitRefused);
            return result;
        }
        Counters.CountSegmentSent();
        if (Publishes(TcpEventKind.SegmentOut)) EmitSegmentEvent(TcpEventKind.SegmentOut, id, summary, TcpCause.None);
        return result;
    }

    // Its own method, so the event's struct is built in this frame and not in every transmit's.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitSegmentEvent(TcpEventKind kind, FourTuple id, in SegmentSummary summary, TcpCause cause) =>
        Emit(new TcpEvent(Now, kind, id, Cause: cause, Segment: summary));
}
