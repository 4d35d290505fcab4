using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>The sender's side of TCP_INFO: the recovery phase and the scoreboard's segment counts.</summary>
internal sealed partial class Sender
{
    /// <summary>Linux's tcpi_ca_state from the recovery variables (tcp_fastretrans_alert's phases).</summary>
    public TcpCongestionState CongestionState
    {
        get
        {
            if (InRecovery) return TcpCongestionState.Recovery;
            // A timeout set the recovery point to SND.MAX; until it is acknowledged Linux stays in Loss (high_seq).
            if (SndUna < _recoveryPoint || LossHeld) return TcpCongestionState.Loss; // without SACK, held at it too
            if (InCwr) return TcpCongestionState.Cwr;
            // Linux moves to Disorder only on ACKs (tcp_try_keep_open): a tail loss probe's retransmission, until an ACK
            // answers it, leaves the connection Open.
            bool retransmitted = _queue.RetransmittedBytes > 0 && !(_probeEnd is not null && ProbeWasRetransmission);
            bool disorder = _dupAcks > 0 || _queue.SackedSegments > 0 || _queue.LostBytes > 0 || retransmitted;
            return disorder ? TcpCongestionState.Disorder : TcpCongestionState.Open;
        }
    }

    /// <summary>The reordering degree: DupThresh (RFC 6675), raised as RACK measures reordering (Linux's tp->reordering).</summary>
    public int Reordering => Rack ? _rack.Degree : DupThresh;

    /// <summary>Reordering events RACK detected (Linux's tp->reord_seen); none without RACK.</summary>
    public int ReorderingEvents => Rack ? _rack.Events : 0;

    /// <summary>Segments marked lost and not SACKed, and retransmissions in flight (tcpi_lost, tcpi_retrans).</summary>
    public (int Lost, int Retransmitted) CountLostAndRetransmitted()
    {
        int lost = 0, retransmitted = 0;
        for (int i = 0; i < _queue.Count; i++)
        {
            SentSegment segment = _queue[i];
            if (segment.Is(SegmentMarks.Sacked)) continue;
            if (segment.Is(SegmentMarks.Lost)) lost++;
            if (segment.Is(SegmentMarks.Retransmitted)) retransmitted++;
        }
        return (lost, retransmitted);
    }

    /// <summary>Segments in the scoreboard (tcpi_unacked) and of them SACKed (tcpi_sacked).</summary>
    public (int Unacked, int Sacked) CountUnackedAndSacked() => (_queue.Count, _queue.SackedSegments);

    /// <summary>
    /// tcpi_delivered: segments delivered over the connection's life, cumulatively acknowledged or SACKed, our SYN or
    /// SYN-ACK counted as one (Linux's tp->delivered; the rate estimator's count is bytes).
    /// </summary>
    public uint DeliveredSegments { get; private set; }

    /// <summary>tcpi_delivered_ce: of <see cref="DeliveredSegments"/>, those an ACK with ECE reported (RFC 3168; Linux's tp->delivered_ce).</summary>
    public uint DeliveredCeSegments { get; private set; }

    /// <summary>
    /// Linux's tcp_count_delivered: an ACK that echoes congestion counts what it delivered as CE too. What tcp_ack
    /// delivers is counted again as TCPDelivered and TCPDeliveredCE (tcp_newly_delivered); <paramref name="inAck"/> is
    /// false for the one delivery Linux adds outside it, the passive side's SYN-ACK.
    /// </summary>
    private void CountDelivered(int segments, bool ecnEcho, bool inAck = true)
    {
        if (segments <= 0) return;
        DeliveredSegments += (uint)segments;
        if (ecnEcho) DeliveredCeSegments += (uint)segments;
        if (!inAck) return;
        _counters.Count(MibCounter.TcpExtTCPDelivered, segments);
        if (ecnEcho) _counters.Count(MibCounter.TcpExtTCPDeliveredCE, segments);
    }

    // Segments D-SACK reported received twice over the connection's life (Linux's tp->dsack_dups).
    private int _duplicatesReported;

    /// <summary>
    /// Linux's tcp_dsack_seen: the needless copy a D-SACK block reports left the network, so it counts as delivered (in
    /// segments, at least one), unless the block is dubious: longer than the largest window, or reporting more duplicates
    /// over the connection's life than segments were ever resent (a copy the network made, not we).
    /// </summary>
    private int DuplicateSegmentsDelivered(SackBlock block)
    {
        int length = block.Right - block.Left;
        int segments = length > Mss ? Segments(length) : 1;
        if (length > 0 && (uint)length <= MaxSndWnd) _duplicatesReported += segments;
        if (length <= 0 || (uint)length > MaxSndWnd || _duplicatesReported > Retransmissions)
        {
            _counters.Count(MibCounter.TcpExtTCPDSACKIgnoredDubious); // tcp_check_dsack
            return 0;
        }
        _counters.Count(MibCounter.TcpExtTCPDSACKRecvSegs, segments);
        return segments;
    }

    /// <summary>
    /// Without SACK (Linux's tcp_add_reno_sack, tcp_remove_reno_sacks): a duplicate ACK delivered what it added to the
    /// duplicates' count; a cumulative ACK what it acknowledged whole less what the duplicates counted, at least one.
    /// </summary>
    private int RenoDeliveredSegments(bool newAck, int ackedSegments, int duplicatesBefore) =>
        !newAck ? _dupAckDelivered - duplicatesBefore : ackedSegments > 0 ? Math.Max(ackedSegments - duplicatesBefore, 1) : 0;

    /// <summary>
    /// The SYN-ACK acknowledged all the data our SYN carried: the SYN and its data, counted apart, were one segment
    /// (Linux's tcp_rcv_fastopen_synack takes one back from tp->delivered, after tcp_ack counted both as TCPDelivered).
    /// </summary>
    public void CountSynDataAsOne()
    {
        if (DeliveredSegments > 1) DeliveredSegments--;
    }

    /// <summary>Queued data never sent (tcpi_notsent_bytes).</summary>
    public int NotSentBytes => Math.Max(0, Buffer.End - SndMax);
}
