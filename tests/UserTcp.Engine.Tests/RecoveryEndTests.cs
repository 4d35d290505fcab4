using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.LossPhaseRecoveryTests;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The ACK that ends a recovery, as Linux 6.18's tcp_ack handles it: tcp_fastretrans_alert ends the phase once SND.UNA
/// reaches the recovery point (high_seq), and on that same ACK, in the Open state, RACK may find a later segment lost and
/// tcp_time_to_recover start the next recovery (RFC 6675 §5 and §5.1 allow it with SACK); otherwise tcp_cong_control,
/// no longer in a reduction, grows cwnd from ssthresh by what the ACK delivered. Without SACK the recovery holds at
/// exactly its recovery point, PRR's cwnd with it (RecoveryHoldWithoutSackTests, PrrWithoutSackTests). tests/scripts/sack/recovery-end*.pkt and rto-loss-ends-at-recovery-point-starts-recovery.pkt
/// pin the same on Linux. No timestamps and no loss probe: only the ACKs and the timers drive the sender.
/// </summary>
public class RecoveryEndTests
{
    // NewReno: ssthresh half the flight, congestion avoidance by byte counting, so each window's growth is one segment.
    private static readonly TcpConfig Reno = new() { CongestionControl = CongestionControlAlgorithm.NewReno, TailLossProbe = false };

    private static long Count(Harness h, MibCounter counter) => h.Engine.Counters[counter];

    /// <summary>
    /// Ten segments at 100 ms (RTT 100 ms); at 200 ms the first is missing and three SACKs of 1-3 start a SACK recovery
    /// (ssthresh 5) and resend it.
    /// </summary>
    private static (Harness H, TcpConnection C) RecoveryOfTen(bool sack = true)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Reno, timestamps: false, sack);
        c.Send(Bytes(10 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, 10), Sent(h));
        h.AdvanceTo(Ms(200));
        for (int sacked = 2; sacked <= 4; sacked++)
        {
            if (sack) Ack(h, 0, (1, sacked));
            else Ack(h, 0);
        }
        Assert.Equal([0], Sent(h));
        Assert.True(c.InFastRecovery);
        Assert.Equal(5 * PlainMss, c.SlowStartThreshold);
        return (h, c);
    }

    [Fact]
    public void The_ack_that_ends_a_sack_recovery_sets_cwnd_to_ssthresh_and_grows_it_once_by_what_it_delivered()
    {
        (Harness h, TcpConnection c) = RecoveryOfTen();
        h.AdvanceTo(Ms(300));
        Ack(h, 10); // the resend and the six never SACKed: seven segments against a window of five
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(5 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(6 * PlainMss, c.CongestionWindow); // ssthresh, then one segment of congestion avoidance; not 5, not 7
        h.ExpectNothing();

        // The two segments left over count toward the next: two more acknowledged do not make a window of six.
        c.Send(Bytes(2 * PlainMss));
        h.Poll();
        Assert.Equal([10, 11], Sent(h));
        h.AdvanceTo(Ms(400));
        Ack(h, 12);
        Assert.Equal(6 * PlainMss, c.CongestionWindow);
    }

    [Fact]
    public void Without_sack_the_ack_of_the_recovery_point_holds_recovery_and_prr_brings_cwnd_to_ssthresh()
    {
        (Harness h, TcpConnection c) = RecoveryOfTen(sack: false);
        h.AdvanceTo(Ms(300));
        Ack(h, 10);
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState); // until data above it (Linux's Reno hold)
        Assert.Equal(5 * PlainMss, c.SlowStartThreshold);
        // PRR goes on in the hold (Linux's tcp_cwnd_reduction): nothing in flight, so up to ssthresh, grown no further.
        Assert.Equal(5 * PlainMss, c.CongestionWindow);
    }

    [Fact]
    public void The_ack_of_the_recovery_point_starts_the_next_recovery_when_rack_finds_a_later_segment_lost()
    {
        (Harness h, TcpConnection c) = RecoveryOfTen();
        c.Send(Bytes(4 * PlainMss));
        h.AdvanceTo(Ms(210));
        Ack(h, 0, (1, 10)); // PRR: nothing left in flight but the resend, so up to ssthresh: four new segments
        Assert.Equal([10, 11, 12, 13], Sent(h));

        // 40 ms later (sooner than the minimum RTT after the resend of 0, so it does not move RACK): 0 arrived, and 11-13
        // but not 10. The recovery ends at its recovery point, and 10 is lost (three SACKed above it, no reordering seen).
        h.AdvanceTo(Ms(250));
        Ack(h, 10, (11, 14));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold); // the second reduction: half of the four in flight
        Assert.Equal(2 * PlainMss, c.CongestionWindow); // PRR with nothing in flight: up to ssthresh
        Assert.Equal([10], Sent(h)); // 10 only: not 10 under the first recovery's cwnd of 5
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPSackRecovery));
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);

        h.AdvanceTo(Ms(350));
        Ack(h, 14);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(2, c.Info().TotalRetransmissions);
        h.ExpectNothing();
    }

    [Fact]
    public void The_ack_of_the_recovery_point_with_nothing_yet_lost_above_it_starts_no_recovery_until_the_reorder_timer()
    {
        (Harness h, TcpConnection c) = RecoveryOfTen();
        c.Send(Bytes(4 * PlainMss));
        h.AdvanceTo(Ms(210));
        Ack(h, 0, (1, 10));
        Assert.Equal([10, 11, 12, 13], Sent(h));

        // Only 13 arrived above the recovery point: one SACKed, so RACK waits its reordering window in the Open state.
        h.AdvanceTo(Ms(250));
        Ack(h, 10, (13, 14));
        Assert.Equal(TcpCongestionState.Disorder, c.Info().CongestionState);
        Assert.Equal(5 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPSackRecovery));
        h.ExpectNothing();

        // The window passes: 10-12 are lost, and the reorder timer starts a recovery (Linux's tcp_rack_reo_timeout),
        // although SND.UNA is at, not above, the last one's recovery point.
        h.AdvanceToNextDeadline();
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPSackRecovery));
        Assert.Equal(10, Sent(h)[0]);
    }

    [Fact]
    public void The_ack_that_ends_a_loss_phase_at_its_recovery_point_may_start_a_recovery()
    {
        (Harness h, TcpConnection c) = LossPhaseAtCwndFour(7); // 0-6 lost; the Loss phase's recovery point is 7
        c.Send(Bytes(4 * PlainMss));
        h.Poll();
        h.ExpectNothing(); // cwnd 4 is full of resends
        h.AdvanceTo(Ms(730));
        Ack(h, 5); // slow start: cwnd 6, two resends in flight, so the new 7-10 go
        Assert.Equal([7, 8, 9, 10], Sent(h));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);

        // 30 ms later: 5 and 6 arrived (the recovery point) and 8-10, but not 7: the Loss phase ends, and 7 is lost.
        h.AdvanceTo(Ms(760));
        Ack(h, 7, (8, 11));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(4 * PlainMss, c.SlowStartThreshold); // 6 x 0.7, not the timeout's 7
        Assert.Equal(4 * PlainMss, c.CongestionWindow);
        Assert.Equal([7], Sent(h));
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPSackRecovery));

        h.AdvanceTo(Ms(860));
        Ack(h, 11);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(4 * PlainMss, c.SlowStartThreshold);
    }
}
