using UserTcp.Wire;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation, Linux tcp_rate.c) on hand-made segments: the
/// interval is the longer of the send and the ACK phase, a sample shorter than min RTT is not valid, and the samples of
/// an application-limited stretch say so until that stretch is delivered.
/// </summary>
public class DeliveryRateEstimatorTests
{
    private const int Length = 1000;
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static SentSegment Send(DeliveryRateEstimator estimator, uint seq, TimeSpan at, bool idle)
    {
        DeliverySnapshot snapshot = estimator.OnSent(at, idle, out bool appLimited);
        return new SentSegment
        {
            Start = new SeqNumber(seq),
            End = new SeqNumber(seq + Length),
            SentAt = at,
            Marks = appLimited ? SegmentMarks.AppLimited : SegmentMarks.None,
            Delivery = snapshot,
        };
    }

    private static DeliveryRateSample Ack(DeliveryRateEstimator estimator, TimeSpan at, TimeSpan minRtt, params SentSegment[] delivered)
    {
        DeliveryRateSample sample = DeliveryRateEstimator.BeginAck(inFlight: 0, totalLostBytes: 0);
        foreach (SentSegment segment in delivered) estimator.OnDelivered(ref sample, segment, at);
        estimator.EndAck(ref sample, at, minRtt, totalLostBytes: 0);
        return sample;
    }

    [Fact]
    public void The_interval_is_the_longer_of_the_send_and_the_ack_phase()
    {
        var estimator = new DeliveryRateEstimator();
        SentSegment a = Send(estimator, 1, Ms(0), idle: true);
        SentSegment b = Send(estimator, 1001, Ms(1), idle: false);
        // ACK phase: 10 ms since the flight began (nothing was delivered before); send phase: 1 ms.
        DeliveryRateSample first = Ack(estimator, Ms(10), Ms(5), a, b);
        Assert.True(first.IsValid);
        Assert.Equal(2 * Length, first.Delivered);
        Assert.Equal(Ms(10), first.Interval);
        Assert.Equal(Ms(9), first.Rtt); // the newest segment's
        Assert.False(first.IsAppLimited);

        // The next flight. c: the send phase (from b's send at 1 ms to c's at 10 ms) is longer than the ACK phase (10 → 16 ms).
        SentSegment c = Send(estimator, 2001, Ms(10), idle: false);
        SentSegment d = Send(estimator, 3001, Ms(12), idle: false);
        DeliveryRateSample second = Ack(estimator, Ms(16), Ms(5), c);
        Assert.Equal(Length, second.Delivered);
        Assert.Equal(Ms(9), second.Interval);
        // d: both c and d were delivered since d left; the ACK phase (10 → 25 ms) beats the send phase (1 → 12 ms).
        DeliveryRateSample third = Ack(estimator, Ms(25), Ms(5), d);
        Assert.Equal(2 * Length, third.Delivered);
        Assert.Equal(Ms(15), third.Interval);
    }

    [Fact]
    public void A_sample_shorter_than_the_min_rtt_is_not_valid()
    {
        var estimator = new DeliveryRateEstimator();
        SentSegment a = Send(estimator, 1, Ms(0), idle: true);
        DeliveryRateSample sample = Ack(estimator, Ms(2), Ms(5), a);
        Assert.False(sample.IsValid);
        Assert.Equal(Length, sample.AckedSacked); // still delivered
        Assert.Equal(Length, estimator.Delivered);
    }

    [Fact]
    public void Segments_sent_while_application_limited_give_app_limited_samples_until_that_flight_is_delivered()
    {
        var estimator = new DeliveryRateEstimator();
        SentSegment a = Send(estimator, 1, Ms(0), idle: true);
        estimator.MarkAppLimited(inFlight: Length); // the application had nothing more: the bubble ends past a
        Assert.True(estimator.AppLimited);
        SentSegment b = Send(estimator, 1001, Ms(1), idle: false);
        Assert.True(b.Is(SegmentMarks.AppLimited));
        Assert.False(Ack(estimator, Ms(10), Ms(1), a).IsAppLimited);
        Assert.True(estimator.AppLimited); // delivered == the bubble's end: not past it yet
        Assert.True(Ack(estimator, Ms(11), Ms(1), b).IsAppLimited);
        Assert.False(estimator.AppLimited);
        SentSegment c = Send(estimator, 2001, Ms(11), idle: false);
        Assert.False(c.Is(SegmentMarks.AppLimited));
    }
    /// <summary>The peer's ACK at SND.UNA + <paramref name="ack"/> segments, SACKing the given segment ranges.</summary>
    private static void SackAck(Harness h, int ack, params (int From, int To)[] segments) =>
        h.Send(TcpFlags.Ack, Their(0), Our(ack * ModernPeer.Mss), window: PeerWindow,
            options: Options(h, 100, [.. segments.Select(r => (r.From * ModernPeer.Mss, r.To * ModernPeer.Mss))]));

    [Fact]
    public void New_data_sent_before_a_retransmission_in_one_pass_is_not_the_newest_delivered_segment()
    {
        // Three duplicate ACKs in one batch share one instant: the first two each free a new segment (10, 11), the third
        // deems the hole (0) lost and it is resent. The ACK that then delivers all three must sample from the
        // retransmission, sent last (3 segments delivered when it left), not from segment 11 (2 delivered), which the
        // sequence number would call newer at that shared instant (Linux: tcp_skb_sent_after, in transmission order).
        const int mss = ModernPeer.Mss;
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr, TsoWindowDivisor = 0 });
        c.Send(Bytes(20 * mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 2));
        SackAck(h, 0, (1, 3));
        SackAck(h, 0, (1, 4));
        // New segments 10 to 13 went first, then the hole's retransmission, all at 200 ms.
        Assert.Equal([10, 11, 12, 13, 0], Drain(h).Select(s => (int)((s.Seq - Our(0)) / mss)));
        var bbr = (Bbr)c.CongestionController;
        Assert.Equal(30.0 * mss, bbr.BottleneckBandwidth, 6); // one segment per 100 ms ACK phase, best of the three

        // Segments 0 and 4 to 11 are acknowledged 100 ms later.
        h.AdvanceTo(Ms(300));
        SackAck(h, 12);
        // From the retransmission: 12 − 3 segments over the 100 ms since 200 ms. Not from segment 11 (12 − 1 = 11 segments,
        // a bandwidth the path never showed).
        Assert.NotEqual(110.0 * mss, bbr.BottleneckBandwidth, 6);
        Assert.Equal(90.0 * mss, bbr.BottleneckBandwidth, 6);
    }

    [Fact]
    public void A_dsacked_copy_counts_in_bbrs_delivered_sample_and_growth()
    {
        // A tail loss probe resends the last of ten segments; the ACK of the last five D-SACKs it (both copies arrived).
        // Linux's tcp_dsack_seen adds the copy to tp->delivered, so rs->acked_sacked and rs->delivered hold six
        // segments, not five: BBR's cwnd grows one segment more, and C.delivered, from which every later sample is taken
        // (rs->delivered = tp->delivered - prior_delivered), holds the copy too. The same ACK without the D-SACK is the baseline.
        const int mss = ModernPeer.Mss;
        (int Cwnd, long RateDelivered, uint Delivered, long RecvSegs) Run(bool dsack)
        {
            (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr, TsoWindowDivisor = 0 });
            c.Send(Bytes(10 * mss));
            h.Poll();
            Assert.Equal(10, Drain(h).Count); // at 100 ms
            h.AdvanceTo(Ms(200));
            SackAck(h, 5);
            h.AdvanceToNextDeadline(); // the probe timer: the last segment again
            Sent probe = Assert.Single(Drain(h));
            Assert.Equal(Our(9 * mss), probe.Seq);
            h.Advance(Ms(100));
            if (dsack) h.Send(TcpFlags.Ack, Their(0), Our(10 * mss), window: PeerWindow, options: Options(h, 100, (9 * mss, 10 * mss)));
            else SackAck(h, 10);
            var bbr = (Bbr)c.CongestionController;
            return (c.CongestionWindow, bbr.DeliveryRate.Delivered, c.Info().DeliveredSegments, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
        }

        var plain = Run(dsack: false);
        var duplicated = Run(dsack: true);
        Assert.Equal((0L, 1L), (plain.RecvSegs, duplicated.RecvSegs)); // as Linux 6.18 on sack/bbr-dsack-counts-delivered.pkt
        Assert.Equal(plain.Delivered + 1, duplicated.Delivered);
        Assert.Equal(plain.Cwnd + mss, duplicated.Cwnd); // STARTUP grows by what the ACK delivered
        Assert.Equal(plain.RateDelivered + mss, duplicated.RateDelivered);
    }

    private static List<Sent> Drain(Harness h)
    {
        var list = new List<Sent>();
        while (h.TryNext() is Sent s) list.Add(s);
        return list;
    }
}
