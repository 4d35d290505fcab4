using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What happened. Logging, counters, the lab's timeline and ladder diagram all read the same events.</summary>
public enum TcpEventKind : byte
{
    /// <summary>A segment arrived for a connection.</summary>
    SegmentIn,
    /// <summary>The engine sent a segment.</summary>
    SegmentOut,
    /// <summary>A connection changed state.</summary>
    StateChanged,
    /// <summary>A timer was armed.</summary>
    TimerSet,
    /// <summary>A timer fired.</summary>
    TimerFired,
    /// <summary>A segment was sent again.</summary>
    Retransmission,
    /// <summary>A packet or segment was dropped; the cause says why.</summary>
    Dropped,
    /// <summary>A connection failed (reset, timed out, refused).</summary>
    ConnectionError,
    /// <summary>Something an operator should know about the stack as a whole (the cause says what): a SYN flood, a cap reached.</summary>
    Warning,
    /// <summary>The stack's buffer memory, used up when this connection last wrote, has room again: a waiting write may go on.</summary>
    MemoryAvailable,
    /// <summary>A retransmission timeout or a fast recovery proved spurious and its reduction of cwnd and ssthresh was undone; the cause says which and how.</summary>
    CongestionUndo,
    /// <summary>The window was reduced without a loss (Linux's CWR state); the cause says why: an ECN echo.</summary>
    CongestionWindowReduced,
}

/// <summary>The engine's per-connection timers (docs/design.md "The engine", timers).</summary>
public enum TcpTimer : byte
{
    /// <summary>No timer.</summary>
    None,
    /// <summary>The retransmission timer (RFC 6298).</summary>
    Retransmission,
    /// <summary>The persist timer, which probes a zero window (RFC 9293 §3.8.6.1).</summary>
    Persist,
    /// <summary>The delayed-ACK timer (RFC 9293 §3.8.6.3).</summary>
    DelayedAck,
    /// <summary>The keep-alive timer (RFC 9293 §3.8.4).</summary>
    KeepAlive,
    /// <summary>The TIME-WAIT timer (2 MSL).</summary>
    TimeWait,
    /// <summary>The timer of an orphaned FIN-WAIT-2 (Linux's tcp_fin_timeout).</summary>
    FinWait2,
    /// <summary>RFC 8985 §7: the probe timeout of a tail loss probe.</summary>
    LossProbe,
    /// <summary>RFC 8985 §6.3: RACK's reordering window for a segment not yet deemed lost.</summary>
    ReorderTimeout,
    /// <summary>Opt-in (<see cref="TcpConfig.CloseWaitTimeout"/>): how long CLOSE-WAIT may sit without the application closing or writing.</summary>
    CloseWait,
    /// <summary>TCP_USER_TIMEOUT (RFC 9293 §3.8.3's USER TIMEOUT): the moment unacknowledged data or probes have waited too long.</summary>
    UserTimeout,
}

/// <summary>The header fields of a segment, for events and traces.</summary>
public readonly record struct SegmentSummary(SeqNumber Seq, SeqNumber Ack, TcpFlags Flags, int PayloadLength, ushort Window)
{
    /// <summary>The fields of a segment about to be sent.</summary>
    public static SegmentSummary From(scoped in TcpRepr repr) =>
        new(repr.SequenceNumber, repr.AcknowledgmentNumber, repr.Flags, repr.Payload.Length, repr.Window);

    /// <summary>The fields of a segment that arrived.</summary>
    public static SegmentSummary From(in TcpSegment segment) =>
        new(segment.SequenceNumber, segment.AcknowledgmentNumber, segment.Flags, segment.Payload.Length, segment.Window);

    /// <summary>"[S.] seq 1 ack 2 win 64240 len 0", as tcpdump writes flags.</summary>
    public override string ToString() =>
        $"[{PacketFormatter.FlagLetters(Flags)}] seq {Seq}{(PayloadLength > 0 ? $":{Seq + PayloadLength}" : "")} ack {Ack} win {Window} len {PayloadLength}";
}

/// <summary>
/// One event. A struct passed by reference, so publishing costs nothing when no sink listens. <see cref="Cause"/>
/// says why (typed, for consumers to switch on); <see cref="WireError"/> says what was wrong with a malformed packet.
/// </summary>
public readonly record struct TcpEvent(
    TimeSpan Time,
    TcpEventKind Kind,
    FourTuple Connection,
    TcpState OldState = TcpState.Closed,
    TcpState NewState = TcpState.Closed,
    TcpCause Cause = TcpCause.None,
    SegmentSummary Segment = default,
    TcpTimer Timer = TcpTimer.None,
    TimeSpan Deadline = default,
    int Attempt = 0,
    TcpError Error = TcpError.None,
    WireError WireError = WireError.None)
{
    /// <summary>
    /// The state a change leaves as RFC 9293's diagram draws it (§3.3.2): LISTEN for a listener's new connection, which
    /// the engine creates CLOSED and the counters count from there — also one whose SYN reused a TIME-WAIT 4-tuple
    /// (RFC 6191; the old connection's own change, TIME-WAIT to CLOSED, has the same cause); otherwise <see cref="OldState"/>.
    /// </summary>
    public TcpState DiagramOldState => Cause switch
    {
        TcpCause.SynInListen => TcpState.Listen,
        TcpCause.SynReusedTimeWait when NewState == TcpState.SynReceived => TcpState.Listen,
        _ => OldState,
    };

    /// <summary>The cause as text, with the parse error of a malformed packet.</summary>
    public string Description => WireError != WireError.None ? $"{Cause.Describe()} ({WireError.Describe()})" : Cause.Describe();

    /// <summary>One line: time, connection and what happened.</summary>
    public override string ToString()
    {
        string at = $"{Time.TotalSeconds,10:F6} {Connection}";
        return Kind switch
        {
            TcpEventKind.SegmentIn => $"{at} in  {Segment}",
            TcpEventKind.SegmentOut => $"{at} out {Segment}",
            TcpEventKind.StateChanged => $"{at} {DiagramOldState.ToRfcName()} -> {NewState.ToRfcName()} ({Description})",
            TcpEventKind.TimerSet => $"{at} timer {Timer} set for {Deadline.TotalSeconds:F6}",
            TcpEventKind.TimerFired => $"{at} timer {Timer} fired",
            TcpEventKind.Retransmission => $"{at} retransmit #{Attempt} {Segment} ({Description}, RTO {(Deadline - Time).TotalSeconds:F3} s)",
            TcpEventKind.Dropped => $"{at} dropped {Segment}: {Description}",
            TcpEventKind.ConnectionError => $"{at} error {Error}: {Description}",
            TcpEventKind.Warning => $"{at} warning: {Description}",
            TcpEventKind.MemoryAvailable => $"{at} buffer memory available again",
            TcpEventKind.CongestionUndo or TcpEventKind.CongestionWindowReduced => $"{at} {Description}",
            _ => $"{at} {Kind}",
        };
    }
}

/// <summary>Receives the engine's events, synchronously, on the engine's thread.</summary>
public interface ITcpEventSink
{
    /// <summary>Called for every event of a kind it <see cref="Consumes"/>, on the engine's thread, under the stack's lock: keep it short.</summary>
    void OnEvent(in TcpEvent tcpEvent);

    /// <summary>
    /// Whether this sink wants events of <paramref name="kind"/> (all, by default). An engine asks once, when it is made,
    /// and neither builds nor delivers the kinds no sink wants: a request/response exchange raises several events (a
    /// segment in, one out, a timer set three times), and building and passing them down was a measurable share of it.
    /// </summary>
    bool Consumes(TcpEventKind kind) => true;
}

/// <summary>Receives each IPv4 packet the engine sends, to put on a link. The span is only valid during the call.</summary>
public interface IPacketTransmitter
{
    /// <summary>Sends one IPv4 packet; the span is valid only during the call.</summary>
    void Transmit(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Sends one TCP segment of <paramref name="connection"/> (Local: the sender) with the header fields the engine wrote
    /// into it, so a transmitter that looks at them (a batch coalescing ACKs) need not parse the packet again;
    /// <paramref name="carriesSack"/>: it has SACK blocks. Returns whether the local queue took it
    /// (<see cref="TransmitResult.Refused"/>: a full device queue dropped it, and TCP acts on that at once, as Linux's
    /// does on NET_XMIT_DROP). By default, <see cref="Transmit"/>, and <see cref="TransmitResult.Sent"/>.
    /// </summary>
    TransmitResult TransmitSegment(ReadOnlySpan<byte> packet, FourTuple connection, in SegmentSummary segment, bool carriesSack)
    {
        Transmit(packet);
        return TransmitResult.Sent;
    }

    /// <summary>
    /// Where the engine may write its next packet of at most <paramref name="length"/> bytes, so a transmitter that
    /// batches (a device's output batch) gets it in place instead of copying it: the engine then calls
    /// <see cref="Transmit"/> with the written prefix of this span. Empty (the default): the engine uses its own buffer.
    /// </summary>
    Span<byte> GetBuffer(int length) => default;

    /// <summary>
    /// The device completes TCP checksums (checksum offload): the engine writes only the pseudo-header sum into each
    /// segment and never sums the payload. False by default.
    /// </summary>
    bool PartialChecksums => false;
}
