using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The connection's delivery state when a segment left (draft-cheng-iccrg-delivery-rate-estimation §3.2 "Transmitting
/// a data packet"; Linux tcp_rate_skb_sent): what had been delivered, when the last delivery was, and when the flight
/// the segment belongs to began.
/// </summary>
internal struct DeliverySnapshot
{
    /// <summary>P.delivered: bytes delivered (acknowledged or SACKed) when the segment left.</summary>
    public long Delivered;
    /// <summary>P.delivered_time: when the most recent of them was delivered.</summary>
    public TimeSpan DeliveredTime;
    /// <summary>P.first_sent_time: when the segment whose delivery came last had left (the send phase's start).</summary>
    public TimeSpan FirstSentTime;
}

/// <summary>
/// One ACK's rate sample (the draft's RS, Linux struct rate_sample): what was delivered over which interval, whether the
/// sender was application-limited, and what the ACK acknowledged and revealed lost. Bytes throughout.
/// </summary>
internal struct DeliveryRateSample
{
    /// <summary>RS.prior_delivered: C.delivered when the newest delivered segment left; 0 with no segment delivered.</summary>
    public long PriorDelivered;
    /// <summary>RS.prior_time: C.delivered_time then.</summary>
    public TimeSpan PriorTime;
    /// <summary>RS.delivered: bytes delivered over <see cref="Interval"/>; -1 when the sample is not valid.</summary>
    public long Delivered;
    /// <summary>RS.interval: max(send phase, ACK phase); not positive when the sample is not valid.</summary>
    public TimeSpan Interval;
    /// <summary>RS.is_app_limited: the newest delivered segment left while the application had not filled the pipe.</summary>
    public bool IsAppLimited;
    /// <summary>Bytes this ACK newly acknowledged or SACKed.</summary>
    public int AckedSacked;
    /// <summary>Bytes this ACK's processing newly marked lost.</summary>
    public long Losses;
    /// <summary>RTT of the newest delivered segment never resent (Linux rs->rtt_us); negative when there is none.</summary>
    public TimeSpan Rtt;
    /// <summary>What was in flight before the ACK (Linux rs->prior_in_flight).</summary>
    public int PriorInFlight;
    // Send time, transmission order and end of the newest delivered segment, and the send phase of its flight.
    // Bytes this ACK delivered of segments deemed lost (they leave the lost count without having been found lost now).
    internal long LostDelivered;
    internal bool HasNewest;
    internal TimeSpan NewestSentAt;
    internal uint NewestSendOrder;
    internal SeqNumber NewestEnd;
    internal TimeSpan SendElapsed;

    /// <summary>A bandwidth sample can be taken: bytes over a positive interval.</summary>
    public readonly bool IsValid => Delivered >= 0 && Interval > TimeSpan.Zero;
    /// <summary>The delivery rate in bytes per second (valid samples only).</summary>
    public readonly double BytesPerSecond => Delivered / Interval.TotalSeconds;
}

/// <summary>
/// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation; Linux tcp_rate.c): every segment carries a
/// snapshot of the delivery state when it left; an ACK that delivers it yields a sample of bytes delivered over the
/// longer of the send and the ACK phase of its flight. Samples taken while the application did not keep the pipe full
/// are marked application-limited, so a rate-based congestion control does not take them for the path's rate. O(1)
/// per segment; allocates nothing per ACK (the sample lives on the stack). The sender keeps one only while its
/// congestion control reads the samples (BBR), so an idle CUBIC connection pays nothing for it (issue 10's 2 KB).
/// </summary>
internal sealed class DeliveryRateEstimator
{
    // C.delivered, C.delivered_time, C.first_sent_time (Linux tp->delivered, delivered_mstamp, first_tx_mstamp).
    private long _delivered;
    private TimeSpan _deliveredTime;
    private TimeSpan _firstSentTime;
    // C.app_limited: the delivered count at which the application-limited bubble ends; 0 when not app-limited.
    private long _appLimitedUntil;

    /// <summary>C.delivered: bytes delivered over the connection's life.</summary>
    public long Delivered => _delivered;
    /// <summary>C.delivered_time: when the last delivery was seen.</summary>
    public TimeSpan DeliveredTime => _deliveredTime;
    /// <summary>The sender is application-limited now (segments sent now are marked so).</summary>
    public bool AppLimited => _appLimitedUntil != 0;

    /// <summary>
    /// A segment leaves (first time or again): the snapshot it carries. With nothing in flight the flight starts now
    /// (draft §3.2: "if SND.NXT == SND.UNA").
    /// </summary>
    public DeliverySnapshot OnSent(TimeSpan now, bool nothingInFlight, out bool appLimited)
    {
        if (nothingInFlight)
        {
            _firstSentTime = now;
            _deliveredTime = now;
        }
        appLimited = _appLimitedUntil != 0;
        return new DeliverySnapshot { Delivered = _delivered, DeliveredTime = _deliveredTime, FirstSentTime = _firstSentTime };
    }

    /// <summary>An ACK arrives: a new sample starts (Losses holds the lost count until <see cref="EndAck"/>).</summary>
    public static DeliveryRateSample BeginAck(int inFlight, long totalLostBytes) =>
        new() { Delivered = -1, Rtt = TimeSpan.MinValue, PriorInFlight = inFlight, Losses = totalLostBytes };

    /// <summary>
    /// Draft §3.3 UpdateRateSample for a segment delivered whole for the first time (acknowledged, or SACKed before):
    /// the sample takes the snapshot of the newest such segment: sent last, a tie in time broken by the order of
    /// transmission as RACK breaks it (Linux's tcp_skb_sent_after), since one engine pass stamps new data and a
    /// retransmission sent after it with one instant, and the sequence number would call the new data newer.
    /// </summary>
    public void OnDelivered(ref DeliveryRateSample sample, in SentSegment segment, TimeSpan now)
    {
        int length = segment.Length;
        _delivered += length;
        sample.AckedSacked += length;
        if (segment.Is(SegmentMarks.Lost)) sample.LostDelivered += length;
        bool newest = !sample.HasNewest || Rack.SentAfter(segment.SentAt, segment.SendOrder, segment.End, sample.NewestSentAt, sample.NewestSendOrder, sample.NewestEnd);
        if (newest)
        {
            sample.HasNewest = true;
            sample.PriorDelivered = segment.Delivery.Delivered;
            sample.PriorTime = segment.Delivery.DeliveredTime;
            sample.IsAppLimited = segment.Is(SegmentMarks.AppLimited);
            sample.NewestSentAt = segment.SentAt;
            sample.NewestSendOrder = segment.SendOrder;
            sample.NewestEnd = segment.End;
            sample.SendElapsed = segment.SentAt - segment.Delivery.FirstSentTime;
            _firstSentTime = segment.SentAt; // the next flight's send phase starts with this send
        }
        // Linux's ca_rtt: the newest segment never resent gives the RTT (Karn).
        if (!segment.Is(SegmentMarks.EverRetransmitted))
        {
            TimeSpan rtt = now - segment.SentAt;
            if (sample.Rtt < TimeSpan.Zero || rtt < sample.Rtt) sample.Rtt = rtt;
        }
    }

    /// <summary>Part of a segment acknowledged (the ACK cut it): delivered, without a snapshot to sample.</summary>
    public void OnPartlyDelivered(ref DeliveryRateSample sample, in SentSegment segment, int bytes)
    {
        _delivered += bytes;
        sample.AckedSacked += bytes;
        if (segment.Is(SegmentMarks.Lost)) sample.LostDelivered += bytes;
    }

    /// <summary>
    /// A needless copy D-SACK reported left the network (Linux's tcp_dsack_seen adds it to tp->delivered, and so to
    /// rs->acked_sacked and rs->delivered): delivered, without a snapshot to sample.
    /// </summary>
    public void OnDuplicateDelivered(ref DeliveryRateSample sample, int bytes)
    {
        _delivered += bytes;
        sample.AckedSacked += bytes;
    }

    /// <summary>
    /// Draft §3.3 GenerateRateSample (Linux tcp_rate_gen) once the ACK is processed: the interval is the longer of the
    /// send and the ACK phase (so ACK compression cannot overestimate), and a sample shorter than min RTT is not valid.
    /// </summary>
    public void EndAck(ref DeliveryRateSample sample, TimeSpan now, TimeSpan minRtt, long totalLostBytes)
    {
        if (_appLimitedUntil != 0 && _delivered > _appLimitedUntil) _appLimitedUntil = 0; // the bubble is acknowledged
        if (sample.AckedSacked > 0) _deliveredTime = now;
        sample.Losses = totalLostBytes - sample.Losses;
        if (!sample.HasNewest) return;
        sample.Delivered = _delivered - sample.PriorDelivered;
        TimeSpan ackElapsed = now - sample.PriorTime;
        sample.Interval = sample.SendElapsed > ackElapsed ? sample.SendElapsed : ackElapsed;
        if (sample.Interval < minRtt) sample.Interval = TimeSpan.Zero; // too short to trust (Linux: interval_us = -1)
    }

    /// <summary>
    /// Draft §3.4 / Linux tcp_rate_check_app_limited: the application left the pipe unfilled (less than a segment
    /// waits, cwnd has room, nothing lost waits to be resent), so samples until what is in flight now is delivered are
    /// application-limited.
    /// </summary>
    public void MarkAppLimited(int inFlight) => _appLimitedUntil = Math.Max(1, _delivered + inFlight);
}
