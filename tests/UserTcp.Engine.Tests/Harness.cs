using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>A segment the engine sent, as values.</summary>
internal sealed record Sent(TcpFlags Flags, uint Seq, uint Ack, ushort Window, byte[] Payload, TcpOptions Options, ushort SourcePort, ushort DestinationPort)
{
    /// <summary>The IPv4 header's TOS byte (IP_TOS).</summary>
    public byte TypeOfService { get; init; }
    /// <summary>The IPv4 header's ECN field (RFC 3168 §5).</summary>
    public EcnCodepoint Ecn => (EcnCodepoint)(TypeOfService & 3);
    /// <summary>The IPv4 header's Don't Fragment bit (IP_MTU_DISCOVER).</summary>
    public bool DontFragment { get; init; }

    public override string ToString() => $"[{PacketFormatter.FlagLetters(Flags)}] seq {Seq} ack {Ack} win {Window} len {Payload.Length}";
}

/// <summary>Records every engine event, for assertions on state sequences and retransmissions.</summary>
internal sealed class EventLog : ITcpEventSink
{
    public List<TcpEvent> Events { get; } = [];

    public void OnEvent(in TcpEvent tcpEvent) => Events.Add(tcpEvent);

    public IEnumerable<TcpState> States(FourTuple id) =>
        Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == id).Select(e => e.NewState);

    public IEnumerable<TcpEvent> Of(TcpEventKind kind) => Events.Where(e => e.Kind == kind);
}

/// <summary>
/// One engine at 10.77.0.2 and a scripted peer at 10.77.0.1, on a manual clock, in the style of smoltcp's socket
/// tests: the test sends exact segments in and expects exact segments out, and jumps the clock to deadlines.
/// </summary>
internal sealed class Harness : IPacketTransmitter
{
    public static readonly Ipv4Address LocalAddress = new(10, 77, 0, 2);
    public static readonly Ipv4Address PeerAddress = new(10, 77, 0, 1);
    public const ushort LocalPort = 80;
    public const ushort PeerPort = 40000;
    /// <summary>Our ISS sits just below 2^32 so every test crosses the sequence-number wrap.</summary>
    public const uint LocalIss = 0xFFFF_FFF0;
    public const uint PeerIss = 0x7FFF_FFF0;

    private readonly Queue<Sent> _sent = new();

    public Harness(TcpConfig? config = null)
    {
        // Our TSval is the clock in milliseconds (offset 0), so tests can say which TSval a segment carries.
        TcpConfig given = config ?? new TcpConfig();
        Config = given with { InitialSequenceNumber = _ => LocalIss, TimestampOffset = given.TimestampOffset ?? (_ => 0) };
        Engine = new TcpEngine(LocalAddress, Config, Log);
    }

    public TcpConfig Config { get; }
    public TcpEngine Engine { get; }
    public EventLog Log { get; } = new();
    public TimeSpan Now { get; private set; }
    public static FourTuple Id => new(new IpEndpoint(LocalAddress, LocalPort), new IpEndpoint(PeerAddress, PeerPort));

    /// <summary>The local queue refuses every segment (a full device queue, a <c>pfifo limit 0</c>): none is sent.</summary>
    public bool Refusing { get; set; }

    /// <summary>Segments the local queue refused so far.</summary>
    public int Refused { get; private set; }

    public TransmitResult TransmitSegment(ReadOnlySpan<byte> packet, FourTuple connection, in SegmentSummary segment, bool carriesSack)
    {
        if (Refusing)
        {
            Refused++;
            return TransmitResult.Refused;
        }
        Transmit(packet);
        return TransmitResult.Sent;
    }

    public void Transmit(ReadOnlySpan<byte> packet)
    {
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(LocalAddress, ip.Source);
        _sent.Enqueue(new Sent(tcp.Flags, tcp.SequenceNumber.Value, tcp.AcknowledgmentNumber.Value, tcp.Window, tcp.Payload.ToArray(), tcp.Options, tcp.SourcePort, tcp.DestinationPort)
        {
            TypeOfService = ip.TypeOfService,
            DontFragment = ip.DontFragment,
        });
    }

    /// <summary>The peer sends a segment to the engine.</summary>
    public void Send(TcpFlags flags, uint seq, uint ack = 0, ushort window = 64240, byte[]? payload = null, TcpOptions options = default, ushort sourcePort = PeerPort, ushort destinationPort = LocalPort,
        EcnCodepoint ecn = EcnCodepoint.NotEct)
    {
        var repr = new TcpRepr
        {
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            SequenceNumber = new SeqNumber(seq),
            AcknowledgmentNumber = new SeqNumber(ack),
            Flags = flags,
            Window = window,
            Options = options,
            Payload = payload ?? [],
        };
        byte[] packet = new byte[PacketWriter.Ipv4TcpLength(repr)];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(PeerAddress, LocalAddress) { TypeOfService = (byte)ecn }, repr, out _));
        Engine.Receive(packet, Now, this);
    }

    /// <summary>The next segment the engine sent; fails when it sent none.</summary>
    public Sent Expect(TcpFlags flags, uint seq, uint? ack = null, int payloadLength = 0)
    {
        Assert.True(_sent.Count > 0, $"expected [{PacketFormatter.FlagLetters(flags)}] seq {seq} at {Now}, but nothing was sent");
        Sent sent = _sent.Dequeue();
        Assert.True(flags == sent.Flags && seq == sent.Seq && (ack is null || ack == sent.Ack) && payloadLength == sent.Payload.Length,
            $"expected [{PacketFormatter.FlagLetters(flags)}] seq {seq}{(ack is null ? "" : $" ack {ack}")} len {payloadLength}, got {sent} at {Now}");
        return sent;
    }

    /// <summary>The next segment sent, or null when there is none.</summary>
    public Sent? TryNext() => _sent.Count > 0 ? _sent.Dequeue() : null;

    public Sent Next()
    {
        Assert.True(_sent.Count > 0, $"expected a segment at {Now}, but nothing was sent");
        return _sent.Dequeue();
    }

    public void ExpectNothing() => Assert.True(_sent.Count == 0, $"expected nothing, got {string.Join(", ", _sent)}");

    public int PendingCount => _sent.Count;

    public void DrainSent() => _sent.Clear();

    public void Poll() => Engine.Poll(Now, this);

    public void AdvanceTo(TimeSpan at)
    {
        Assert.True(at >= Now);
        Now = at;
        Poll();
    }

    public void Advance(TimeSpan by) => AdvanceTo(Now + by);

    /// <summary>Jumps the clock straight to the engine's next deadline and polls; returns that instant.</summary>
    public TimeSpan AdvanceToNextDeadline()
    {
        TimeSpan? at = Engine.PollAt;
        Assert.True(at is not null, "the engine has no deadline");
        AdvanceTo(at.Value > Now ? at.Value : Now);
        return Now;
    }
}
