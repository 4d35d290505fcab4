using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Counters named as Linux's SNMP and netstat MIBs name them (`nstat -az`: the Ip, Icmp and Tcp groups of RFC 4293,
/// RFC 4022 and Linux's TcpExt), so a reader who knows one knows the other. Those without a Linux counterpart start
/// with UserTcp. Each counts events, except the gauges noted.
/// </summary>
public enum MibCounter
{
    /// <summary>Every packet handed to the engine.</summary>
    IpInReceives,
    /// <summary>IPv4 headers that did not parse (version, IHL, total length, header checksum).</summary>
    IpInHdrErrors,
    /// <summary>Packets shorter than their headers claim.</summary>
    IpInTruncatedPkts,
    /// <summary>Packets for another address than the stack's.</summary>
    IpInAddrErrors,
    /// <summary>Packets of a protocol other than TCP and ICMP.</summary>
    IpInUnknownProtos,
    /// <summary>IP fragments, which UserTcp refuses rather than reassembles (docs/design.md "Wire format").</summary>
    IpReasmFails,

    /// <summary>ICMP messages received, valid or not (RFC 792).</summary>
    IcmpInMsgs,
    /// <summary>ICMP messages that did not parse, or whose quoted packet did not.</summary>
    IcmpInErrors,
    /// <summary>ICMP messages with a bad checksum.</summary>
    IcmpInCsumErrors,
    /// <summary>Destination-unreachable messages received.</summary>
    IcmpInDestUnreachs,
    /// <summary>Time-exceeded messages received.</summary>
    IcmpInTimeExcds,
    /// <summary>Parameter-problem messages received.</summary>
    IcmpInParmProbs,
    /// <summary>Echo requests received.</summary>
    IcmpInEchos,
    /// <summary>ICMP messages sent.</summary>
    IcmpOutMsgs,
    /// <summary>Echo replies sent.</summary>
    IcmpOutEchoReps,

    /// <summary>Connections that went SYN-SENT from CLOSED (connect()).</summary>
    TcpActiveOpens,
    /// <summary>Connections that went SYN-RECEIVED from LISTEN, or ESTABLISHED from a SYN cookie.</summary>
    TcpPassiveOpens,
    /// <summary>SYN-SENT or SYN-RECEIVED straight to CLOSED.</summary>
    TcpAttemptFails,
    /// <summary>ESTABLISHED or CLOSE-WAIT straight to CLOSED (a reset, an abort, a timeout).</summary>
    TcpEstabResets,
    /// <summary>Gauge: connections in ESTABLISHED or CLOSE-WAIT now.</summary>
    TcpCurrEstab,
    /// <summary>TCP segments received that parsed (for us).</summary>
    TcpInSegs,
    /// <summary>TCP segments sent, retransmissions not included (RFC 4022 tcpOutSegs).</summary>
    TcpOutSegs,
    /// <summary>TCP segments sent again (RFC 4022 tcpRetransSegs).</summary>
    TcpRetransSegs,
    /// <summary>TCP segments that did not parse (checksum, data offset, options).</summary>
    TcpInErrs,
    /// <summary>TCP segments sent with RST (RFC 4022 tcpOutRsts).</summary>
    TcpOutRsts,
    /// <summary>TCP segments with a bad checksum.</summary>
    TcpInCsumErrors,

    /// <summary>SYNs or final ACKs dropped because a listener's queue was full.</summary>
    TcpExtListenOverflows,
    /// <summary>Everything a listener dropped, overflows included.</summary>
    TcpExtListenDrops,
    /// <summary>SYN-ACKs sent with a SYN cookie instead of a SYN-queue entry.</summary>
    TcpExtSyncookiesSent,
    /// <summary>ACKs that carried a valid SYN cookie and made a connection.</summary>
    TcpExtSyncookiesRecv,
    /// <summary>ACKs to a listener in a SYN flood whose cookie did not check out.</summary>
    TcpExtSyncookiesFailed,
    /// <summary>SYNs answered with a cookie because the SYN queue was full (every cookie with <see cref="SynCookieMode.Always"/>, as Linux counts it).</summary>
    TcpExtTCPReqQFullDoCookies,
    /// <summary>SYNs dropped because the SYN queue was full and cookies are off.</summary>
    TcpExtTCPReqQFullDrop,
    /// <summary>Challenge ACKs sent (RFC 5961 §3, §4, §5).</summary>
    TcpExtTCPChallengeACK,
    /// <summary>SYNs in a synchronized state (each answered by a challenge ACK unless rate-limited).</summary>
    TcpExtTCPSYNChallenge,
    /// <summary>Challenge ACKs not sent: the per-connection or per-stack rate limit (RFC 5961 §7).</summary>
    TcpExtTCPACKSkippedChallenge,
    /// <summary>ACKs for out-of-window segments without data not sent: the per-connection rate limit.</summary>
    TcpExtTCPACKSkippedSeq,
    /// <summary>ACKs for PAWS-rejected segments without data not sent: the per-connection rate limit.</summary>
    TcpExtTCPACKSkippedPAWS,
    /// <summary>Repeated SYNs in SYN-RECEIVED not answered: the per-connection rate limit.</summary>
    TcpExtTCPACKSkippedSynRecv,
    /// <summary>Segments rejected by PAWS (RFC 7323 §5) on a synchronized connection: <see cref="TcpExtPAWSEstab"/> under Linux's internal name (LINUX_MIB_PAWSESTABREJECTED), which nstat does not print.</summary>
    [Obsolete("nstat names it TcpExtPAWSEstab; read that one (the same count).")]
    TcpExtPAWSEstabRejected,
    /// <summary>ICMP errors whose quoted sequence number lies outside SND.UNA..SND.NXT (RFC 5927 §4.1), ignored.</summary>
    TcpExtOutOfWindowIcmps,
    /// <summary>Path MTU decreases taken from ICMP fragmentation-needed errors (RFC 1191).</summary>
    UserTcpPathMtuDecreases,
    /// <summary>Connections aborted by an ICMP hard error in SYN-SENT (RFC 1122 §4.2.3.9).</summary>
    UserTcpIcmpHardErrors,
    /// <summary>ICMP soft errors recorded on a connection (reported only if it later times out).</summary>
    UserTcpIcmpSoftErrors,
    /// <summary>ICMP errors that named no connection of ours.</summary>
    UserTcpIcmpNoConnection,

    // ── Limits and aborts (issue 11 §5); appended, as the values are public ──
    /// <summary>Retransmission timeouts, SYN and SYN-ACK ones included (Linux's TCPTimeouts).</summary>
    TcpExtTCPTimeouts,
    /// <summary>SYNs and SYN-ACKs sent again.</summary>
    TcpExtTCPSynRetrans,
    /// <summary>Connections reset because data arrived after the application closed or shut down receiving, or closed with SO_LINGER 0 (as Linux counts it).</summary>
    TcpExtTCPAbortOnData,
    /// <summary>Connections reset because the application closed them with unread data (RFC 2525 §2.17).</summary>
    TcpExtTCPAbortOnClose,
    /// <summary>Connections given up after retransmissions, zero-window probes, keepalives or the user timeout ran out (not SYN-RECEIVED).</summary>
    TcpExtTCPAbortOnTimeout,
    /// <summary>Connections that ended TIME-WAIT when 2MSL ran out (Linux's TW).</summary>
    TcpExtTW,
    /// <summary>Connections closed at once instead of entering TIME-WAIT: the stack held <see cref="TcpConfig.MaxTimeWait"/> records.</summary>
    TcpExtTCPTimeWaitOverflow,
    /// <summary>Segments held out of order (Linux's TCPOFOQueue).</summary>
    TcpExtTCPOFOQueue,
    /// <summary>Out-of-order segments dropped: past <see cref="TcpConfig.MaxOutOfOrderBytes"/>, the 64 held ranges, or the stack's buffer memory.</summary>
    TcpExtTCPOFODrop,
    /// <summary>In-order data dropped unacknowledged because the stack's buffer memory (<see cref="TcpConfig.MaxBufferMemory"/>) was used up.</summary>
    TcpExtTCPRcvQDrop,
    /// <summary>Times the stack's buffer memory reached <see cref="TcpConfig.MaxBufferMemory"/> (Linux's TCPMemoryPressures).</summary>
    TcpExtTCPMemoryPressures,

    /// <summary>Connects refused with ENOBUFS: the stack held <see cref="TcpConfig.MaxConnections"/> connections.</summary>
    UserTcpConnectsRefusedByLimit,
    /// <summary>Connections whose buffer sizes were cut to <see cref="TcpConfig.MaxSendBufferSize"/> or <see cref="TcpConfig.MaxReceiveBufferSize"/>.</summary>
    UserTcpBufferSizesCapped,
    /// <summary>Writes that took fewer bytes than the send buffer had room for: the stack's buffer memory was used up.</summary>
    UserTcpSendMemoryShort,
    /// <summary>ICMP messages of a type UserTcp does not act on (echo replies, source quench, redirects, ...), ignored (RFC 6633, RFC 1122 §3.2.2.2).</summary>
    UserTcpIcmpIgnored,
    /// <summary>Gauge: send and receive buffer memory lent out now, in bytes (16 KiB chunks; <see cref="TcpConfig.MaxBufferMemory"/> bounds it).</summary>
    UserTcpBufferMemory,
    /// <summary>Gauge: the most buffer memory lent out at once, in bytes.</summary>
    UserTcpBufferMemoryPeak,
    /// <summary>Bare final ACKs a TCP_DEFER_ACCEPT listener dropped while it waited for data.</summary>
    TcpExtTCPDeferAcceptDrop,
    /// <summary>IPv6 packets (version 6) that reached the IPv4-only stack, dropped: Linux's IPv4 stack never sees them, so no IpInHdrErrors.</summary>
    UserTcpDroppedNotIpv4,
    /// <summary>Retransmission timeouts undone in their Loss phase: F-RTO, timestamps (Eifel) or D-SACK showed them spurious (Linux's TCPLossUndo).</summary>
    TcpExtTCPLossUndo,
    /// <summary>Of those, the ones F-RTO found (RFC 5682; Linux's TCPSpuriousRTOs).</summary>
    TcpExtTCPSpuriousRTOs,
    /// <summary>Fast recoveries undone as they ended: D-SACK or timestamps (Eifel) showed every retransmission needless (Linux's TCPFullUndo).</summary>
    TcpExtTCPFullUndo,
    /// <summary>Fast recoveries undone on a partial ACK that echoed a timestamp older than the retransmission (Linux's TCPPartialUndo).</summary>
    TcpExtTCPPartialUndo,
    /// <summary>Reductions undone by D-SACK in a fast recovery or after a recovery or timeout ended (Linux's TCPDSACKUndo).</summary>
    TcpExtTCPDSACKUndo,
    /// <summary>Passive opens in SYN-RECEIVED ended by the peer's RST or by a new SYN, which is answered by a RST (Linux's EmbryonicRsts).</summary>
    TcpExtEmbryonicRsts,
    /// <summary>Data segments that arrived marked CE (congestion experienced) on a connection that negotiated ECN (RFC 3168 §6.1.3).</summary>
    UserTcpEcnCeReceived,
    /// <summary>cwnd reductions an ECN echo (ECE) started, at most one per window of data (RFC 3168 §6.1.2; Linux's tcp_enter_cwr).</summary>
    UserTcpEcnEchoReductions,
    /// <summary>Retransmissions the local device's queue refused, not sent (Linux's TCPRetransFail).</summary>
    TcpExtTCPRetransFail,
    /// <summary>Segments the local device's queue refused (a full queue): none of them left, TCP retries as Linux does after NET_XMIT_DROP.</summary>
    UserTcpTransmitRefused,
    /// <summary>Fast Open SYNs whose data the SYN-ACK acknowledged (RFC 7413 §4.2.2; Linux's TCPFastOpenActive).</summary>
    TcpExtTCPFastOpenActive,
    /// <summary>Fast Open SYNs whose data the SYN-ACK did not acknowledge, sent again after the handshake (Linux's TCPFastOpenActiveFail).</summary>
    TcpExtTCPFastOpenActiveFail,
    /// <summary>SYN-ACKs whose TSecr echoes no TSval our SYN could have carried: answered by a RST and dropped (Linux's PAWSActiveRejected).</summary>
    TcpExtPAWSActiveRejected,
    /// <summary>SYNs with data a Fast Open listener took at once, with a valid cookie or none needed (RFC 7413 §4.2.2).</summary>
    TcpExtTCPFastOpenPassive,
    /// <summary>Fast Open SYNs whose cookie was not valid (answered with a fresh cookie, data not acknowledged).</summary>
    TcpExtTCPFastOpenPassiveFail,
    /// <summary>Fast Open SYNs a listener handled as plain SYNs because its Fast Open queue was full.</summary>
    TcpExtTCPFastOpenListenOverflow,
    /// <summary>SYNs asking for a Fast Open cookie (an empty option, RFC 7413 §4.1.2).</summary>
    TcpExtTCPFastOpenCookieReqd,
    /// <summary>Fast Open SYNs taken with a cookie of the backup key (the SYN-ACK then hands out the primary's).</summary>
    TcpExtTCPFastOpenPassiveAltKey,
    /// <summary>Retransmissions deemed lost again, by RACK or a timeout that recurs while they are in flight (Linux's TCPLostRetransmit).</summary>
    TcpExtTCPLostRetransmit,
    /// <summary>Segment-size decreases by path MTU black-hole detection (<see cref="TcpConfig.MtuBlackHoleDetection"/>).</summary>
    UserTcpMtuBlackHoleDecreases,
    /// <summary>ACKs the delayed-ACK timer sent, its time up with nothing to carry them (Linux's DelayedACKs, tcp_delack_timer_handler).</summary>
    TcpExtDelayedACKs,
    /// <summary>Segments of new data (or a new FIN) sent, never a retransmission (Linux's TCPOrigDataSent, tcp_event_new_data_sent).</summary>
    TcpExtTCPOrigDataSent,
    /// <summary>Fast recoveries entered on a connection with SACK (Linux's TCPSackRecovery, tcp_enter_recovery).</summary>
    TcpExtTCPSackRecovery,
    /// <summary>Fast recoveries entered on a connection without SACK (Linux's TCPRenoRecovery, tcp_enter_recovery).</summary>
    TcpExtTCPRenoRecovery,
    /// <summary>Segments deemed lost resent outside a timeout's Loss phase, once sent (Linux's TCPFastRetrans, tcp_xmit_retransmit_queue); not the timer's own resend, not a loss probe.</summary>
    TcpExtTCPFastRetrans,
    /// <summary>Segments deemed lost resent in a timeout's Loss phase after the timer's own resend, once sent (Linux's TCPSlowStartRetrans, tcp_xmit_retransmit_queue).</summary>
    TcpExtTCPSlowStartRetrans,
    /// <summary>Tail loss probes sent, new data or a resend, one per probe however many segments it took (Linux's TCPLossProbes, tcp_send_loss_probe).</summary>
    TcpExtTCPLossProbes,
    /// <summary>Slow starts CUBIC's HyStart ended on an ACK train that lasted half the minimum RTT (Linux's TCPHystartTrainDetect, hystart_update).</summary>
    TcpExtTCPHystartTrainDetect,
    /// <summary>The cwnd, in segments, at each ACK-train end of slow start, added up (Linux's TCPHystartTrainCwnd).</summary>
    TcpExtTCPHystartTrainCwnd,
    /// <summary>Slow starts CUBIC's HyStart ended on a round's RTT rising above the minimum (Linux's TCPHystartDelayDetect, hystart_update).</summary>
    TcpExtTCPHystartDelayDetect,
    /// <summary>The cwnd, in segments, at each delay end of slow start, added up (Linux's TCPHystartDelayCwnd).</summary>
    TcpExtTCPHystartDelayCwnd,
    /// <summary>Path MTU probes acknowledged, the segment size raised to theirs (Linux's TCPMTUPSuccess, tcp_mtup_probe_success).</summary>
    TcpExtTCPMTUPSuccess,
    /// <summary>Path MTU probes found lost, the search's top lowered below them (Linux's TCPMTUPFail, tcp_mtup_probe_failed).</summary>
    TcpExtTCPMTUPFail,
    /// <summary>Segments an ACK newly acknowledged or SACKed, D-SACKed copies included (Linux's TCPDelivered, tcp_newly_delivered in tcp_ack): tcpi_delivered but for the passive side's SYN-ACK, which Linux counts outside tcp_ack, and a Fast Open SYN's data, which tcpi_delivered takes back.</summary>
    TcpExtTCPDelivered,
    /// <summary>Of those, the ones an ACK with ECE delivered (Linux's TCPDeliveredCE).</summary>
    TcpExtTCPDeliveredCE,
    /// <summary>Segments with data wholly or partly below RCV.NXT, sent again because our ACK was lost or late: answered at once (Linux's DelayedACKLost, tcp_send_dupack and tcp_data_queue).</summary>
    TcpExtDelayedACKLost,
    /// <summary>D-SACKs set for a duplicate below RCV.NXT (RFC 2883; Linux's TCPDSACKOldSent, tcp_dsack_set).</summary>
    TcpExtTCPDSACKOldSent,
    /// <summary>D-SACKs set for a duplicate of data held out of order (Linux's TCPDSACKOfoSent, tcp_dsack_set).</summary>
    TcpExtTCPDSACKOfoSent,
    /// <summary>ACKs whose first SACK block is a D-SACK below the cumulative ACK (Linux's TCPDSACKRecv, tcp_check_dsack).</summary>
    TcpExtTCPDSACKRecv,
    /// <summary>ACKs whose first SACK block is a D-SACK inside the second (Linux's TCPDSACKOfoRecv, tcp_check_dsack).</summary>
    TcpExtTCPDSACKOfoRecv,
    /// <summary>Segments the D-SACKs taken reported received twice (Linux's TCPDSACKRecvSegs, tcp_dsack_seen).</summary>
    TcpExtTCPDSACKRecvSegs,
    /// <summary>D-SACKs not taken: longer than the largest window, or more duplicates than segments ever resent (Linux's TCPDSACKIgnoredDubious).</summary>
    TcpExtTCPDSACKIgnoredDubious,
    /// <summary>D-SACK blocks below SND.UNA ignored for undo: older than the last reduction's record (Linux's TCPDSACKIgnoredOld, tcp_is_sackblock_valid).</summary>
    TcpExtTCPDSACKIgnoredOld,
    /// <summary>D-SACK blocks below SND.UNA ignored for undo: no reduction recorded to undo (Linux's TCPDSACKIgnoredNoUndo, tcp_is_sackblock_valid).</summary>
    TcpExtTCPDSACKIgnoredNoUndo,
    /// <summary>Segments on which the window chosen fell to zero but the offer stayed, as the right edge never moves left (Linux's TCPWantZeroWindowAdv, tcp_select_window).</summary>
    TcpExtTCPWantZeroWindowAdv,
    /// <summary>Segments that advertised a zero window after a nonzero one (Linux's TCPToZeroWindowAdv, tcp_select_window).</summary>
    TcpExtTCPToZeroWindowAdv,
    /// <summary>Segments that advertised a nonzero window after a zero one (Linux's TCPFromZeroWindowAdv, tcp_select_window).</summary>
    TcpExtTCPFromZeroWindowAdv,
    /// <summary>Zero-window probes sent, SND.UNA - 1 and no data; not the data sent once the window opened (Linux's TCPWinProbe, tcp_xmit_probe_skb).</summary>
    TcpExtTCPWinProbe,
    /// <summary>Keepalive probes sent, SND.UNA - 1 and no data (Linux's TCPKeepAlive, tcp_xmit_probe_skb).</summary>
    TcpExtTCPKeepAlive,
    /// <summary>Tail loss probes that resent data and repaired a loss: the ACK passed the probe, cwnd reduced (Linux's TCPLossProbeRecovery, tcp_process_tlp_ack).</summary>
    TcpExtTCPLossProbeRecovery,
    /// <summary>Segments rejected by PAWS (RFC 7323 §5) on a synchronized connection, as nstat names it (Linux's PAWSEstab).</summary>
    TcpExtPAWSEstab,
    /// <summary>Pure ACKs below RCV.NXT rejected by PAWS: old ACKs, common with reordering (Linux's PAWSOldAck, tcp_disordered_ack_check).</summary>
    TcpExtPAWSOldAck,
    /// <summary>
    /// Segments whose data lay past the right edge of the window offered, dropped (Linux 6.17's BeyondWindow, tcp_sequence;
    /// by default a segment at RCV.NXT into a zero window, its ACK still taken, or one starting past the edge).
    /// </summary>
    TcpExtBeyondWindow,
    /// <summary>SACK blocks discarded as invalid: beyond SND.NXT, empty, or not above SND.UNA, a dubious D-SACK among them (Linux's TCPSACKDiscard, tcp_sacktag_write_queue).</summary>
    TcpExtTCPSACKDiscard,
    /// <summary>TIME-WAIT records taken over by a connect() from their own 4-tuple, the peer's timestamps seen (Linux's TWRecycled, tcp_twsk_unique).</summary>
    TcpExtTWRecycled,
}

/// <summary>What the engine has seen and done, for the lab, logs, `usertcp ss --stats` and tests that count.</summary>
public sealed class EngineCounters
{
    // In nstat's order: Ip, Icmp, Tcp, TcpExt, then UserTcp's own (values appended later stay with their group).
    private static readonly MibCounter[] AllMib = [.. Enum.GetValues<MibCounter>().OrderBy(GroupRank)];
    private static readonly WireError[] AllWireErrors = Enum.GetValues<WireError>();
    private static readonly TcpCause[] AllCauses = Enum.GetValues<TcpCause>();

    private readonly long[] _malformed = new long[AllWireErrors.Length];
    private readonly long[] _mib = new long[AllMib.Length];
    private readonly long[] _dropped = new long[AllCauses.Length];
    // Set for a view over several engines' counters (the shards of one stack): every read adds theirs up.
    private readonly EngineCounters[]? _parts;
    private long _packetsReceived, _segmentsSent, _retransmissions, _bytesRetransmitted, _retransmissionTimeouts, _resetsSent, _segmentsDroppedByState, _packetsNotForUs, _listenOverflows;

    /// <summary>An engine's own counters, all zero.</summary>
    public EngineCounters()
    {
    }

    private EngineCounters(EngineCounters[] parts) => _parts = parts;

    /// <summary>
    /// A view of several engines' counters added up (the shards of a multi-queue stack, for `usertcp ss --stats`): every
    /// read sums the parts then, without their owners' locks, so a value may be a moment old, as each engine's own are.
    /// </summary>
    public static EngineCounters Combine(IReadOnlyList<EngineCounters> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return new EngineCounters([.. parts]);
    }

    private long Total(Func<EngineCounters, long> read)
    {
        long sum = 0;
        foreach (EngineCounters part in _parts!) sum += read(part);
        return sum;
    }

    // Per packet, on an engine's own counters: the field itself, not the getter that checks for parts (the engine's hot path).
    internal void CountPacketReceived() => _packetsReceived++;
    internal void CountSegmentSent() => _segmentsSent++;

    /// <summary>IPv4 packets handed to the engine.</summary>
    public long PacketsReceived { get => _parts is null ? _packetsReceived : Total(static c => c.PacketsReceived); internal set => _packetsReceived = value; }
    /// <summary>Segments the engine sent, retransmissions included.</summary>
    public long SegmentsSent { get => _parts is null ? _segmentsSent : Total(static c => c.SegmentsSent); internal set => _segmentsSent = value; }
    /// <summary>Segments sent again: timeouts, fast retransmits, loss probes.</summary>
    public long Retransmissions { get => _parts is null ? _retransmissions : Total(static c => c.Retransmissions); internal set => _retransmissions = value; }
    /// <summary>Payload bytes sent again (SYN and FIN count one each), over every connection.</summary>
    public long BytesRetransmitted { get => _parts is null ? _bytesRetransmitted : Total(static c => c.BytesRetransmitted); internal set => _bytesRetransmitted = value; }
    /// <summary>Retransmission timer expiries (RFC 6298 §5.4), over every connection: what loss recovery did not repair in time.</summary>
    public long RetransmissionTimeouts { get => _parts is null ? _retransmissionTimeouts : Total(static c => c.RetransmissionTimeouts); internal set => _retransmissionTimeouts = value; }
    /// <summary>RST segments sent.</summary>
    public long ResetsSent { get => _parts is null ? _resetsSent : Total(static c => c.ResetsSent); internal set => _resetsSent = value; }
    /// <summary>Well-formed segments for one of our connections that the state machine refused (each with a Dropped event and its cause).</summary>
    public long SegmentsDroppedByState { get => _parts is null ? _segmentsDroppedByState : Total(static c => c.SegmentsDroppedByState); internal set => _segmentsDroppedByState = value; }
    /// <summary>Well-formed packets addressed to another IPv4 address than the stack's.</summary>
    public long PacketsNotForUs { get => _parts is null ? _packetsNotForUs : Total(static c => c.PacketsNotForUs); internal set => _packetsNotForUs = value; }
    /// <summary>SYNs dropped because a listener's SYN queue was full.</summary>
    public long ListenOverflows { get => _parts is null ? _listenOverflows : Total(static c => c.ListenOverflows); internal set => _listenOverflows = value; }

    /// <summary>Packets that failed to parse, by reason.</summary>
    public long Malformed(WireError error) => _parts is null ? _malformed[(int)error] : Total(c => c.Malformed(error));
    /// <summary>Packets that failed to parse, whatever the reason.</summary>
    public long MalformedTotal => _parts is null ? _malformed.Sum() : Total(static c => c.MalformedTotal);

    /// <summary>Segments and packets dropped (each with a Dropped event), by cause.</summary>
    public long Dropped(TcpCause cause) => _parts is null ? _dropped[(int)cause] : Total(c => c.Dropped(cause));

    /// <summary>One counter as Linux names it.</summary>
    public long this[MibCounter counter] => counter switch
    {
        MibCounter.IpInReceives => PacketsReceived,
        MibCounter.IpInAddrErrors => PacketsNotForUs,
        MibCounter.TcpOutSegs => SegmentsSent - Retransmissions,
        MibCounter.TcpRetransSegs => Retransmissions,
        MibCounter.TcpOutRsts => ResetsSent,
        MibCounter.TcpExtListenOverflows => ListenOverflows,
        MibCounter.TcpExtTCPTimeouts => RetransmissionTimeouts,
#pragma warning disable CS0618 // the old name reads the same count
        MibCounter.TcpExtPAWSEstabRejected => this[MibCounter.TcpExtPAWSEstab],
#pragma warning restore CS0618
        _ => _parts is null ? _mib[(int)counter] : Total(c => c[counter]),
    };

    /// <summary>
    /// Every counter as `nstat -az` would print it: the MIB counters in order, then UserTcp's reasons for each
    /// malformed packet (UserTcpMalformedBadTcpChecksum, ...) and each dropped segment (UserTcpDropOutsideWindow, ...).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, long>> Snapshot()
    {
        var all = new List<KeyValuePair<string, long>>(AllMib.Length + AllWireErrors.Length + AllCauses.Length);
        foreach (MibCounter counter in AllMib)
        {
            if (!IsRenamed(counter)) all.Add(new(counter.ToString(), this[counter]));
        }
        foreach (WireError error in AllWireErrors)
        {
            if (error != WireError.None) all.Add(new($"UserTcpMalformed{error}", Malformed(error)));
        }
        foreach (TcpCause cause in AllCauses)
        {
            // Every reason a segment is refused, zero or not; any other cause only when something was dropped for it.
            bool dropCause = cause is > TcpCause.Malformed and <= TcpCause.PawsRejected or TcpCause.AckTooOld or TcpCause.BadSynCookie
                or TcpCause.ConnectionLimit or TcpCause.ResetInListen or TcpCause.AckInListen;
            long dropped = Dropped(cause);
            if (dropCause || dropped > 0) all.Add(new($"UserTcpDrop{cause}", dropped));
        }
        return all;
    }

#pragma warning disable CS0618 // the one name it checks for
    // A counter kept under an old name for compatibility, printed under its nstat name only.
    private static bool IsRenamed(MibCounter counter) => counter == MibCounter.TcpExtPAWSEstabRejected;
#pragma warning restore CS0618

    private static int GroupRank(MibCounter counter)
    {
        string name = counter.ToString();
        return name.StartsWith("Ip", StringComparison.Ordinal) ? 0
            : name.StartsWith("Icmp", StringComparison.Ordinal) ? 1
            : name.StartsWith("TcpExt", StringComparison.Ordinal) ? 3
            : name.StartsWith("Tcp", StringComparison.Ordinal) ? 2
            : 4;
    }

    internal void SetBufferMemory(long inUse, long peak)
    {
        _mib[(int)MibCounter.UserTcpBufferMemory] = inUse;
        _mib[(int)MibCounter.UserTcpBufferMemoryPeak] = peak;
    }

    internal void Count(MibCounter counter, long by = 1) => _mib[(int)counter] += by;

    internal void CountMalformed(WireError error)
    {
        _malformed[(int)error]++;
        MibCounter? aggregate = error switch
        {
            WireError.Truncated => MibCounter.IpInTruncatedPkts,
            WireError.BadVersion or WireError.BadIhl or WireError.BadTotalLength or WireError.BadHeaderChecksum => MibCounter.IpInHdrErrors,
            WireError.Fragment => MibCounter.IpReasmFails,
            WireError.NotTcp => MibCounter.IpInUnknownProtos,
            WireError.BadDataOffset or WireError.MalformedOption => MibCounter.TcpInErrs,
            WireError.BadTcpChecksum => MibCounter.TcpInCsumErrors,
            _ => null,
        };
        if (aggregate is MibCounter counter) Count(counter);
        if (error == WireError.BadTcpChecksum) Count(MibCounter.TcpInErrs);
    }

    internal void CountDropped(TcpCause cause)
    {
        _dropped[(int)cause]++;
        switch (cause)
        {
            case TcpCause.AcceptQueueFull:
                // Linux counts a SYN or a final ACK that finds the accept queue full as an overflow (tcp_conn_request, tcp_v4_syn_recv_sock).
                ListenOverflows++;
                Count(MibCounter.TcpExtListenDrops);
                break;
            case TcpCause.ListenNotSyn or TcpCause.ConnectionLimit:
                Count(MibCounter.TcpExtListenDrops);
                break;
        }
    }

    /// <summary>The Tcp group's transitions (RFC 4022 §3), and TcpExt's aborts, from each state change.</summary>
    internal void CountTransition(TcpState from, TcpState to, TcpCause cause)
    {
        if (to == TcpState.Closed)
        {
            MibCounter? abort = cause switch
            {
                // Linux's tcp_write_err; an expired SYN-RECEIVED is a request sock there, never counted.
                TcpCause.RetransmissionsExhausted or TcpCause.ZeroWindowProbesUnanswered or TcpCause.OrphanProbesBackedOff or TcpCause.KeepAliveTimeout
                    or TcpCause.UserTimeoutExpired when from != TcpState.SynReceived => MibCounter.TcpExtTCPAbortOnTimeout,
                TcpCause.CloseWithUnreadData => MibCounter.TcpExtTCPAbortOnClose,
                TcpCause.DataAfterClose => MibCounter.TcpExtTCPAbortOnData,
                _ => null,
            };
            if (abort is MibCounter counter) Count(counter);
        }
        bool wasEstablished = from is TcpState.Established or TcpState.CloseWait;
        bool isEstablished = to is TcpState.Established or TcpState.CloseWait;
        if (to == TcpState.SynSent && from == TcpState.Closed) Count(MibCounter.TcpActiveOpens);
        if (to == TcpState.SynReceived && from is TcpState.Closed or TcpState.Listen) Count(MibCounter.TcpPassiveOpens);
        if (to == TcpState.Closed && from is TcpState.SynSent or TcpState.SynReceived) Count(MibCounter.TcpAttemptFails);
        // An active open's SYN-RECEIVED ends on a RST as ConnectionRefused, so these are passive opens only.
        if (from == TcpState.SynReceived && cause is TcpCause.ResetReceived or TcpCause.SynInPassiveSynReceived) Count(MibCounter.TcpExtEmbryonicRsts);
        if (to == TcpState.Closed && wasEstablished) Count(MibCounter.TcpEstabResets);
        if (isEstablished != wasEstablished) Count(MibCounter.TcpCurrEstab, isEstablished ? 1 : -1);
    }
}
