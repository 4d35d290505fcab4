using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// docs/design.md "Loss probes in recovery" (issue 15): once every segment deemed lost has been resent, a probe watches
/// the flight in recovery too, so a lost final ACK or a lost retransmission costs a probe timeout, not the 200 ms RTO.
/// </summary>
public class RecoveryProbeTests
{
    [Fact]
    public void In_recovery_with_the_hole_resent_a_probe_goes_a_probe_timeout_later_well_before_the_rto()
    {
        (Harness h, TcpConnection c) = Established(Ms(10)); // SRTT 10 ms: RTO 200 ms (the minimum), probe 25 ms (the minimum)
        SendSegments(h, c, 10); // at 10 ms
        h.AdvanceTo(Ms(20));
        SackAck(h, 0, (1, 4)); // three segments SACKed above the first: RACK deems it lost at once
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.True(c.InFastRecovery);
        h.ExpectNothing();

        // The ACK that would answer the retransmission and the rest of the flight never comes.
        Assert.Equal(Ms(20 + 25), c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(20 + 200), c.TimerDeadline(TcpTimer.Retransmission)); // re-armed by the retransmission
        Assert.Equal(Ms(45), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(9 * Mss), Their(0), Mss); // the last segment, PSH as it first went
        h.ExpectNothing();
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
        Assert.Equal(Ms(45 + 25), c.TimerDeadline(TcpTimer.LossProbe)); // a second one if no ACK comes (TcpConfig.LossProbes)

        // Its ACK acknowledges everything: recovery ends, and the probe is no congestion event of its own. It echoes the
        // retransmission's TSval (20 ms), which filled the hole: one echoing the original's would undo the recovery (Eifel).
        int ssthresh = c.SlowStartThreshold;
        h.AdvanceTo(Ms(55));
        h.Send(TcpFlags.Ack, Their(0), Our(10 * Mss), window: PeerWindow, options: Options(h, 20));
        Assert.False(c.InFastRecovery);
        Assert.Equal(ssthresh, c.SlowStartThreshold);
        Assert.Equal(0, c.RetransmissionTimeouts);
    }

    [Fact]
    public void Without_recovery_probes_the_stall_waits_for_the_rto_as_in_rfc_8985_and_linux()
    {
        (Harness h, TcpConnection c) = Established(Ms(10), new TcpConfig { RecoveryProbe = false });
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(20));
        SackAck(h, 0, (1, 4));
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(220), h.AdvanceToNextDeadline());
        Assert.Equal(1, c.RetransmissionTimeouts);
    }

    [Fact]
    public void In_recovery_a_segment_deemed_lost_that_cwnd_holds_back_goes_as_the_probe_before_the_rto()
    {
        (Harness h, TcpConnection c) = Established(Ms(10));
        c.Send(Bytes(30 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next(); // at 10 ms, the initial window
        h.AdvanceTo(Ms(20));
        SackAck(h, 0, (2, 3)); // one segment SACKed above the first two: RACK waits out its reordering window
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss); // the SACKed segment left the network: one new in its place
        h.ExpectNothing();

        h.AdvanceToNextDeadline(); // the reorder timer: both deemed lost, recovery halves cwnd to 7 segments
        Assert.True(c.InFastRecovery);
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss); // the first hole at once; the second waits for cwnd (9 in flight)
        h.ExpectNothing();

        // No ACK comes (the one for the retransmission is lost): the probe resends the hole cwnd held back.
        TimeSpan rto = c.TimerDeadline(TcpTimer.Retransmission)!.Value;
        Assert.True(h.AdvanceToNextDeadline() < rto);
        h.Expect(TcpFlags.Ack, Our(Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
        Assert.Equal(0, c.RetransmissionTimeouts);
    }

    [Fact]
    public void Without_recovery_probes_no_probe_goes_in_the_loss_phase_after_a_timeout_as_in_rfc_8985_and_linux()
    {
        const int mss = LossPhaseMss;
        (Harness h, TcpConnection c) = LossPhaseWithTheTailResent(new TcpConfig { RecoveryProbe = false });

        // Segment 3's retransmission goes unanswered: the Loss phase is recovery, so the RTO, not a probe, resends it.
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe));
        TimeSpan rto = c.TimerDeadline(TcpTimer.Retransmission)!.Value;
        Assert.Equal(rto, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * mss), Their(0), mss);
        h.ExpectNothing();
        Assert.Equal(2, c.RetransmissionTimeouts);
        Assert.Equal(TcpCause.RetransmissionTimeout, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
    }

    [Fact]
    public void A_probe_in_the_loss_phase_that_repairs_the_tail_is_no_second_congestion_event()
    {
        const int mss = LossPhaseMss;
        (Harness h, TcpConnection c) = LossPhaseWithTheTailResent(config: null);
        Assert.Equal(7 * mss, c.SlowStartThreshold); // the RTO's: CUBIC's β of 10 segments

        // The recovery probe resends segment 3 (TcpConfig.RecoveryProbe); new data follows it, and one ACK covers both.
        Assert.Equal(Ms(1212), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * mss), Their(0), mss);
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
        c.Send(Bytes(mss));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(4 * mss), Their(0), mss);
        h.ExpectNothing();
        int cwnd = c.CongestionWindow;
        h.AdvanceTo(Ms(1262));
        h.Send(TcpFlags.Ack, Their(0), Our(5 * mss), window: PeerWindow);

        // The timeout already answered the loss: the probe's repair does not cut ssthresh and cwnd again.
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.True(c.CongestionWindow >= cwnd, $"cwnd {c.CongestionWindow} fell below {cwnd}");
        h.ExpectNothing();
    }

    private const int LossPhaseMss = 1460; // without timestamps

    /// <summary>
    /// Four segments at 100 ms, none answered: the Open state's loss probes (302 and 504 ms) resend the last, the RTO at
    /// 602 ms resends the first and starts the Loss phase, and the ACKs at 702 and 802 ms draw the retransmissions of
    /// segments 1 to 3 (each ACK the next, until every segment deemed lost has gone again). At 812 ms segments 0 to 2 are
    /// acknowledged, segment 3's retransmission is unanswered, and the connection is still in Loss.
    /// </summary>
    private static (Harness H, TcpConnection C) LossPhaseWithTheTailResent(TcpConfig? config)
    {
        const int mss = LossPhaseMss;
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps: false);
        c.Send(Bytes(4 * mss));
        h.Poll();
        for (int i = 0; i < 4; i++) h.Next(); // at 100 ms
        Assert.Equal(Ms(302), h.AdvanceToNextDeadline()); // the loss probes of the Open state (the last segment)
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * mss), Their(0), mss);
        Assert.Equal(Ms(504), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * mss), Their(0), mss);
        Assert.Equal(Ms(602), h.AdvanceToNextDeadline()); // the RTO: go-back-N from segment 0, the Loss phase
        h.Expect(TcpFlags.Ack, Our(0), Their(0), mss);
        h.ExpectNothing();
        h.AdvanceTo(Ms(702));
        h.Send(TcpFlags.Ack, Their(0), Our(mss), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(mss), Their(0), mss);
        h.Expect(TcpFlags.Ack, Our(2 * mss), Their(0), mss);
        h.AdvanceTo(Ms(802));
        h.Send(TcpFlags.Ack, Their(0), Our(2 * mss), window: PeerWindow);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * mss), Their(0), mss);
        h.AdvanceTo(Ms(812));
        h.Send(TcpFlags.Ack, Their(0), Our(3 * mss), window: PeerWindow);
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        return (h, c);
    }

    private static void SackAck(Harness h, int ack, params (int From, int To)[] segments) =>
        h.Send(TcpFlags.Ack, Their(0), Our(ack * Mss), window: PeerWindow,
            options: Options(h, 10, [.. segments.Select(r => (r.From * Mss, r.To * Mss))]));
}
