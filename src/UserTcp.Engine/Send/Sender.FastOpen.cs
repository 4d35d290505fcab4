using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>The data a Fast Open SYN carried (RFC 7413 §4.2.2): sent with the SYN, and sent again if the SYN-ACK left it out.</summary>
internal sealed partial class Sender
{
    /// <summary>
    /// The SYN-ACK came for a SYN that carried <paramref name="length"/> bytes at <paramref name="sentAt"/>: they become
    /// a segment sent then, after the SYN (Linux keeps SYN-data as an skb behind the SYN in the retransmission queue), so
    /// the ACK takes them as any data sent.
    /// </summary>
    public void TakeSynData(int length, TimeSpan sentAt)
    {
        SeqNumber start = Iss + 1;
        _queue.Append(start, start + length, sentAt, SegmentMarks.Push | SegmentMarks.PacketEnd);
        SndMax = start + length;
    }

    /// <summary>
    /// A simultaneous open's SYN-ACK acknowledged our SYN but none of the data it carried: the data waits for the
    /// retransmission timer, as Linux's tcp_ack re-arms it while packets are out (tcp_set_xmit_timer).
    /// </summary>
    public void AwaitSynData(TimeSpan now)
    {
        if (SndUna < SndMax) _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
    }

    /// <summary>
    /// The SYN-ACK acknowledged only part of the SYN's data: the rest is marked lost and goes at the next dispatch as a
    /// retransmission, without a congestion response (Linux's tcp_non_congestion_loss_retransmit).
    /// </summary>
    public void ResendSynData()
    {
        _queue.SplitLargerThan(Mss); // the SYN-ACK's MSS may be smaller than what the SYN carried (pieces come back marked lost)
        for (int i = 0; i < _queue.Count; i++)
        {
            ref SentSegment segment = ref _queue[i];
            if (!segment.Is(SegmentMarks.Lost)) _queue.MarkLost(ref segment);
        }
        _lossCause = TcpCause.FastOpenDataNotAcknowledged;
        _rttSeq = null; // Karn's rule: what is resent is not timed
        ForceRetransmission = true;
    }
}
