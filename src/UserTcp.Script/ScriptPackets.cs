using System.Buffers.Binary;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>
/// The script's packets: inbound lines injected into the stack with their relative numbers mapped to the wire, outbound
/// lines matched against what UserTcp sent (joined where Linux's TSO would have sent one packet), and every segment
/// nobody claimed reported.
/// </summary>
internal sealed partial class ScriptExecution
{
    /// <summary>Sends a scripted segment to UserTcp, mapping relative numbers to the wire.</summary>
    private void Inject(PacketEvent e)
    {
        PacketSpec p = e.Packet;
        bool ack = (p.Flags & TcpFlags.Ack) != 0;
        // packetdrill (remote_seq_script_to_live_offset): an inbound SYN's sequence number is the script's own, and the
        // numbers after it count from it when it is a SYN-ACK or the first SYN to reach a listener (so `< S. 123:123(0)` is
        // answered by `> . 1:1(0) ack 1`, and `< S 999000:999000(0)` is followed by `< . 1:1(0)`).
        bool syn = (p.Flags & TcpFlags.Syn) != 0;
        if (syn && (ack || _listenerUnderTest)) _remoteBase = unchecked(p.Seq + _remoteIsnBase);
        if (_listenerUnderTest)
        {
            // packetdrill gives each passive child a port of its own (next_ephemeral_port): a new listen()'s first SYN
            // opens a new connection, not one on the tuple of the last (TIME-WAIT, or still open).
            _remotePort = unchecked((ushort)(_passivePeerPort + _passiveChildren++));
            _listenerUnderTest = false;
        }
        uint seq = unchecked(p.Seq + (syn ? _remoteIsnBase : _remoteBase));
        uint ackNumber = ack ? unchecked((p.Ack ?? 0) + LocalBase(syn)) : p.Ack ?? 0;
        byte[] options = (p.Options ?? []).SelectMany(o => (o switch
        {
            SackOption sack => new SackOption(sack.Blocks.Select(b => (unchecked(b.Left + _localBase), unchecked(b.Right + _localBase))).ToList()),
            // packetdrill: an inbound TSecr names an outbound TSval in script terms; send the live value it stands for.
            TimestampOption ts when ack => ts with
            {
                EchoReply = _timestamps.ToLiveEcr(ts.EchoReply)
                    ?? throw Fail(e.Line, $"unable to infer the live TS ecr for script TS ecr {ts.EchoReply}: no outbound line matched with that TS val "
                        + "(as packetdrill; --tcp_ts_ecr_scaled shifts it by the first TS val instead)"),
            },
            _ => o,
        }).Encode()).ToArray();
        int tcpLength = TcpSegment.MinHeaderLength + options.Length + p.PayloadLength;
        byte[] packet = new byte[Ipv4Packet.MinHeaderLength + tcpLength];
        var ip = new Ipv4Repr(_remoteIp, _localIp);
        if (p.Ip is { } annotation) ip = WithAnnotation(ip, annotation, e.Line);
        PacketWriter.WriteIpv4Header(packet, ip, tcpLength);
        Span<byte> tcp = packet.AsSpan(Ipv4Packet.MinHeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, _remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], _localPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ackNumber);
        tcp[12] = (byte)((TcpSegment.MinHeaderLength + options.Length) / 4 << 4);
        tcp[13] = (byte)p.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], p.Window ?? 0);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], p.UrgentPointer ?? 0);
        options.CopyTo(tcp[TcpSegment.MinHeaderLength..]);
        ulong sum = InternetChecksum.PseudoHeader(_remoteIp, _localIp, Ipv4Packet.ProtocolTcp, (ushort)tcpLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Finish(InternetChecksum.Add(sum, tcp)));

        Trace($"{Seconds(_now)} line {e.Line}: {p}");
        _device.Inject(packet);
        _stack.Pump();
        AfterEngine();
    }

    /// <summary>An inbound line's IP fields: the ECN codepoint in the low two TOS bits (RFC 3168 §5), the TOS byte, the TTL.</summary>
    private static Ipv4Repr WithAnnotation(Ipv4Repr ip, IpAnnotation annotation, int line)
    {
        if (annotation.EitherEct || annotation.FlowLabel is not null)
        {
            throw Fail(line, $"{annotation} describes what to expect, not what to send: an inbound packet needs one ECN codepoint, and IPv4 has no flow label");
        }
        if (annotation.Tos is byte tos) ip.TypeOfService = tos;
        if (annotation.Ecn is EcnCodepoint ecn) ip.TypeOfService = (byte)((ip.TypeOfService & ~3) | (byte)ecn);
        if (annotation.Ttl is byte ttl) ip.TimeToLive = ttl;
        return ip;
    }

    /// <summary>Takes the next segment UserTcp sent (waiting through its timers for one) and checks it against the line.</summary>
    private void ExpectOutbound(PacketEvent e)
    {
        PacketSpec p = e.Packet;
        if (p.Ip is { FlowLabel: not null } ipv6) throw Fail(e.Line, $"{ipv6} names an IPv6 flow label; the runner's packets are IPv4");
        long baseTime = e.Time.IsRelative ? _now : 0;
        long expected = baseTime + e.Time.Start;
        long tolerance = Tolerance(expected);
        (long earliest, long latest, string when) = e.Time.Kind switch
        {
            TimeKind.Any => (long.MinValue, long.MaxValue, "at any time"),
            TimeKind.AbsoluteRange or TimeKind.RelativeRange =>
                (expected - tolerance, baseTime + e.Time.End + tolerance, $"between {Seconds(expected)} and {Seconds(baseTime + e.Time.End)} s"),
            _ => (expected - tolerance, expected + tolerance, $"at {Seconds(expected)} s"),
        };

        int steps = 0;
        DropOtherConnections();
        while (_sent.Count == 0 && _stack.NextDeadline is TimeSpan next && Micros(next) <= latest)
        {
            Step(Math.Max(Micros(next), _now));
            DropOtherConnections();
            if (++steps > MaxSteps) throw Fail(e.Line, $"UserTcp's timers fired more than {MaxSteps} times and it sent nothing");
        }
        if (_sent.Count == 0)
        {
            // Too late either way; like packetdrill, go on to see what UserTcp does send next, and when, so the
            // message can say so (the script has failed, so running its timers further changes nothing).
            long horizon = latest == long.MaxValue ? latest : latest + MaxBlockMicros;
            while (_sent.Count == 0 && steps++ < MaxSteps && _stack.NextDeadline is TimeSpan next && Micros(next) <= horizon)
            {
                Step(Math.Max(Micros(next), _now));
            }
        }
        if (_sent.Count == 0)
        {
            string timer = _stack.NextDeadline is null ? "it has no timer armed" : $"nor in the {MaxBlockMicros / 3_600_000_000} hours after";
            throw Fail(e.Line, $"expected `{p}` {when}, got nothing: UserTcp sent nothing by {Seconds(Math.Max(_now, latest == long.MaxValue ? _now : latest))} s, and {timer}");
        }

        CapturedSegment segment = _sent.Dequeue();
        int pieces = 1;
        if (_relaxed && !_strictSegments && p.PayloadLength > segment.PayloadLength && segment.PayloadLength > 0)
        {
            string? unjoinable;
            (segment, pieces, unjoinable) = Aggregate(segment, p.PayloadLength);
            if (unjoinable is not null)
            {
                throw Fail(e.Line, $"expected `{p}` {when}, got segments UserTcp sent at {Seconds(segment.Time)} s that packetdrill would not join into one: {unjoinable}");
            }
        }
        if (_learnScriptLocalIsn && (p.Flags & TcpFlags.Syn) != 0)
        {
            // packetdrill's script.local_isn: this line's seq names UserTcp's ISN, whatever number it is.
            _scriptLocalIsn = p.Seq;
            _learnScriptLocalIsn = false;
        }
        RelativeSegment actual = Relative(segment);
        // Timestamps are judged against the time since the script started, as packetdrill does.
        long timestampTolerance = Math.Max(_tolerance, (long)(_tolerancePercent / 100.0 * expected));
        List<string> differences = PacketMatcher.Differences(p, actual, _relaxed, _timestamps, timestampTolerance, zeroPayload: !_wroteText);
        if (p.Ip is { } expectedIp) differences.AddRange(CapturedSegment.IpDifferences(expectedIp, segment.Ip));
        if (segment.SourcePort != _localPort || segment.DestinationPort != _remotePort)
        {
            differences.Insert(0, $"sent from port {segment.SourcePort} to {segment.DestinationPort}, not on the connection under test ({_localPort} to {_remotePort})");
        }
        if (differences.Count > 0)
        {
            throw Fail(e.Line, $"expected `{p}` {when}, got `{actual.Format(p)}` at {Seconds(segment.Time)} s ({string.Join("; ", differences)})");
        }
        if (segment.Time < earliest || segment.Time > latest)
        {
            string off = segment.Time < earliest ? "early" : "late";
            throw Fail(e.Line, $"expected `{p}` {when}, got it at {Seconds(segment.Time)} s, {Seconds(Math.Abs(segment.Time - expected))} s {off} (tolerance {Seconds(tolerance)} s)");
        }
        PacketMatcher.Learn(p, actual, _timestamps);
        Trace($"{Seconds(segment.Time)} line {e.Line}: {actual.Format()}{(pieces > 1 ? $" ({pieces} segments taken as one, as Linux's TSO sends them)" : "")}");
        _lastEventTime = segment.Time;
    }

    /// <summary>
    /// --relaxed: a line written for Linux may expect several TSO/GSO packets joined, as packetdrill joins what it
    /// sniffs until the line's payload is met (run_packet.c). Contiguous segments sent at the same instant with the
    /// same ACK and window are joined until they carry the expected payload, across the PSH that ends each TSO packet;
    /// PSH comes from the last piece, and nothing joins a FIN. As packetdrill's verify_packet_fragments, every piece but
    /// the one that completes the line has the size of the piece before it; another size is <c>Unjoinable</c>.
    /// </summary>
    private (CapturedSegment Segment, int Pieces, string? Unjoinable) Aggregate(CapturedSegment first, int wanted)
    {
        const TcpFlags LastOnly = TcpFlags.Psh | TcpFlags.Fin;
        CapturedSegment total = first;
        int pieces = 1, previous = first.PayloadLength;
        while (total.PayloadLength < wanted && (total.Flags & TcpFlags.Fin) == 0 && _sent.TryPeek(out CapturedSegment? next)
            && next.Time == first.Time && next.Seq == unchecked(total.Seq + (uint)total.PayloadLength) && next.Ack == total.Ack && next.Window == total.Window && next.Ip == total.Ip
            && (next.Flags & ~LastOnly) == (total.Flags & ~TcpFlags.Psh) && next.SourcePort == total.SourcePort && next.DestinationPort == total.DestinationPort)
        {
            if (next.PayloadLength < wanted - total.PayloadLength && next.PayloadLength != previous)
            {
                return (total, pieces, $"a {next.PayloadLength}-byte piece after a {previous}-byte one, with {wanted - total.PayloadLength} bytes still to come");
            }
            _sent.Dequeue();
            pieces++;
            previous = next.PayloadLength;
            total = total with { PayloadLength = total.PayloadLength + next.PayloadLength, Flags = next.Flags, ZeroPayload = total.ZeroPayload && next.ZeroPayload };
        }
        return (total, pieces, null);
    }

    // packetdrill's remote_seq_live_to_script_offset: our SYN-ACK's ack is the script's own number (the peer's SYN seq + 1).
    private RelativeSegment Relative(CapturedSegment segment)
    {
        bool syn = (segment.Flags & TcpFlags.Syn) != 0;
        return RelativeSegment.From(segment, LocalBase(syn), syn ? _remoteIsnBase : _remoteBase, _timestamps);
    }

    // packetdrill's local_seq_script_to_live_offset: a SYN's numbers count from the script's ISN, the others from 0.
    private uint LocalBase(bool syn) => syn ? unchecked(_localBase - _scriptLocalIsn) : _localBase;

    /// <summary>Fails when UserTcp sent a segment no line has claimed before <paramref name="line"/> runs.</summary>
    /// <summary>
    /// Under --relaxed, as packetdrill's sniff_outbound_live_packet: a segment of another connection than the one under
    /// test (the FIN of one closed before a new one opened) is passed over when a &gt; line looks for its segment.
    /// </summary>
    private void DropOtherConnections()
    {
        while (_relaxed && _sent.Count > 0 && (_sent.Peek().SourcePort != _localPort || _sent.Peek().DestinationPort != _remotePort))
        {
            CapturedSegment other = _sent.Dequeue();
            Trace($"{Seconds(_now)} passed over `{Relative(other).Format()}` from port {other.SourcePort}: not on the connection under test");
        }
    }

    private void CheckNothingUnexpected(int line, bool atEnd = false)
    {
        // packetdrill reads UserTcp's segments only for > lines: under --relaxed, as there, a segment no line claims
        // fails only when a later > line meets it instead of the segment it expects.
        if (_sent.Count == 0 || _relaxed) return;
        CapturedSegment segment = _sent.Peek();
        string more = _sent.Count > 1 ? $" (and {_sent.Count - 1} more)" : "";
        throw Fail(line, atEnd
            ? $"UserTcp sent `{Relative(segment).Format()}` at {Seconds(segment.Time)} s{more}, and the script ended without expecting it"
            : $"UserTcp sent `{Relative(segment).Format()}` at {Seconds(segment.Time)} s{more}, and no line expects it before this one (at {Seconds(_now)} s)");
    }

    /// <summary>IPacketTransmitter (the device's sink): every segment the stack sends, stamped with the script time.</summary>
    public void Transmit(ReadOnlySpan<byte> packet)
    {
        if (_finished) return;
        CapturedSegment? segment = CapturedSegment.TryParse(packet, _now, out string? problem);
        if (segment is null)
        {
            _transmitProblem ??= problem;
            return;
        }
        // packetdrill learns the local ISN from an active open's SYN and from the SYN-ACK of the first connection to the
        // listener; a later SYN-ACK on the same tuple (TIME-WAIT reuse, RFC 6191) keeps the old base there too.
        if ((segment.Flags & TcpFlags.Syn) != 0 && ((segment.Flags & TcpFlags.Ack) == 0 || !_learnedFromSynAck))
        {
            _localBase = segment.Seq;
            _learnedFromSynAck |= (segment.Flags & TcpFlags.Ack) != 0;
        }
        _sent.Enqueue(segment);
    }

    /// <summary>ITcpEventSink: the engine's own account, in the verbose trace.</summary>
    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (_finished) return;
        // Connections that came and went between two code blocks still answer tcpi_state (as TCP_CLOSE).
        if (tcpEvent.Connection != default) _seen.Add(tcpEvent.Connection);
        if (_trace is null) return;
        string? text = tcpEvent.Kind switch
        {
            TcpEventKind.StateChanged => $"{tcpEvent.DiagramOldState.ToRfcName()} -> {tcpEvent.NewState.ToRfcName()} ({tcpEvent.Description})",
            TcpEventKind.TimerFired => $"{tcpEvent.Timer} timer fired",
            TcpEventKind.Retransmission => $"retransmission ({tcpEvent.Description}), next RTO {Seconds((long)(tcpEvent.Deadline - tcpEvent.Time).TotalMicroseconds)} s",
            TcpEventKind.Dropped => $"dropped {tcpEvent.Segment}: {tcpEvent.Description}",
            TcpEventKind.ConnectionError => $"error {tcpEvent.Error}: {tcpEvent.Description}",
            TcpEventKind.CongestionUndo or TcpEventKind.CongestionWindowReduced => tcpEvent.Description,
            _ => null,
        };
        if (text is not null) Trace($"{Seconds(Micros(tcpEvent.Time))}    engine: {text}");
    }
}
