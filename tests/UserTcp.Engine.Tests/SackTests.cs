using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// SACK: the receiver's blocks (RFC 2018) and D-SACK (RFC 2883); the sender's scoreboard with RFC 6675 recovery,
/// RACK's time-based loss detection and the tail loss probe (RFC 8985); PSH kept on retransmission.
/// </summary>
public class SackTests
{
    private static (uint, uint)[] Blocks(Sent s) => [.. s.Options.SackBlocks.ToArray().Select(b => (b.Left.Value - Their(0), b.Right.Value - Their(0)))];

    private static void SendData(Harness h, int offset, int length) =>
        h.Send(TcpFlags.Ack, Their(offset), Our(0), window: PeerWindow, payload: Bytes(length), options: h.Engine.Connections.Single().TimestampsEnabled ? Options(h, 0) : default);

    // ───────────── the receiver (RFC 2018, RFC 2883) ─────────────

    [Fact]
    public void Out_of_order_data_is_reported_most_recent_block_first_three_blocks_beside_timestamps()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendData(h, 1000, 100);
        Assert.Equal([(1000u, 1100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        SendData(h, 2000, 100);
        Assert.Equal([(2000u, 2100u), (1000u, 1100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        SendData(h, 3000, 100);
        SendData(h, 4000, 100);
        h.Next();
        Assert.Equal([(4000u, 4100u), (3000u, 3100u), (2000u, 2100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        // A segment growing the oldest block makes it the most recent (RFC 2018 §4: "the block containing the segment").
        SendData(h, 1100, 100);
        Assert.Equal([(1000u, 1200u), (4000u, 4100u), (3000u, 3100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        // Filling the first hole delivers up to 1200; the blocks above remain, most recent first.
        SendData(h, 0, 1000);
        Assert.Equal([(4000u, 4100u), (3000u, 3100u), (2000u, 2100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(1200))));
        Assert.Equal(1200, c.BytesToRead);
        h.ExpectNothing();
    }

    [Fact]
    public void Without_timestamps_four_blocks_fit()
    {
        (Harness h, TcpConnection _) = Established(Ms(100), timestamps: false);
        Sent ack = null!;
        for (int i = 1; i <= 5; i++)
        {
            SendData(h, i * 1000, 100);
            ack = h.Expect(TcpFlags.Ack, Our(0), Their(0));
        }
        Assert.Equal([(5000u, 5100u), (4000u, 4100u), (3000u, 3100u), (2000u, 2100u)], Blocks(ack));
    }

    [Fact]
    public void A_duplicate_below_rcv_nxt_is_reported_with_a_dsack_block_once()
    {
        (Harness h, TcpConnection _) = Established(Ms(100));
        SendData(h, 0, 100);
        Assert.Empty(Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(100))));
        SendData(h, 0, 100); // our ACK was lost; the peer sent it again
        Assert.Equal([(0u, 100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(100))));
        SendData(h, 300, 100);
        Assert.Equal([(300u, 400u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(100)))); // the D-SACK went once
    }

    [Fact]
    public void A_duplicate_of_held_data_gets_a_dsack_block_followed_by_the_block_holding_it()
    {
        (Harness h, TcpConnection _) = Established(Ms(100));
        SendData(h, 500, 200);
        h.Next();
        SendData(h, 550, 100);
        // RFC 2883 §4 (example 4): the D-SACK block, then the SACK block that contains it.
        Assert.Equal([(550u, 650u), (500u, 700u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_duplicate_of_an_older_held_block_puts_that_block_first(bool duplicateSack)
    {
        (Harness h, TcpConnection _) = Established(Ms(100), new TcpConfig { DuplicateSack = duplicateSack });
        SendData(h, 1000, 100);
        h.Next();
        SendData(h, 2000, 100);
        Assert.Equal([(2000u, 2100u), (1000u, 1100u)], Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        SendData(h, 1000, 100); // the peer resent the older block
        // RFC 2018 §4: the first block holds the segment that triggered the ACK; with a D-SACK (RFC 2883 §4) it comes second.
        (uint, uint)[] expected = duplicateSack ? [(1000u, 1100u), (1000u, 1100u), (2000u, 2100u)] : [(1000u, 1100u), (2000u, 2100u)];
        Assert.Equal(expected, Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(0))));
        h.ExpectNothing();
    }

    [Fact]
    public void Dsack_can_be_turned_off()
    {
        (Harness h, TcpConnection _) = Established(Ms(100), new TcpConfig { DuplicateSack = false });
        SendData(h, 0, 100);
        h.Next();
        SendData(h, 0, 100);
        Assert.Empty(Blocks(h.Expect(TcpFlags.Ack, Our(0), Their(100))));
    }

    // ───────────── the sender: RFC 6675 ─────────────

    /// <summary>The peer's ACK at SND.UNA + <paramref name="ack"/> segments, SACKing the given segment ranges.</summary>
    private static void SackAck(Harness h, int ack, params (int From, int To)[] segments) =>
        h.Send(TcpFlags.Ack, Their(0), Our(ack * Mss), window: PeerWindow,
            options: Options(h, 100, [.. segments.Select(r => (r.From * Mss, r.To * Mss))]));

    [Fact]
    public void Rfc6675_retransmits_each_hole_once_the_scoreboard_deems_it_lost_without_a_timeout()
    {
        // TsoWindowDivisor 0: a segment that one SACK frees goes at once, not deferred to build a TSO packet.
        var config = new TcpConfig { Rack = false, TailLossProbe = false, CongestionControl = CongestionControlAlgorithm.NewReno, TsoWindowDivisor = 0 };
        (Harness h, TcpConnection c) = Established(Ms(100), config);
        c.Send(Bytes(20 * Mss));
        h.Poll();
        // IW10 in TSO packets of two (about 1 ms at the pacing rate is less; tcp_min_tso_segs); segments 0 and 4 will be lost.
        for (int i = 0; i < 10; i++) h.Expect(i % 2 == 1 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, Our(i * Mss), Their(0), Mss);

        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 2)); // before recovery, each SACKed segment lets a new one go (pipe = 9 < cwnd = 10)
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        SackAck(h, 0, (1, 3));
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        SackAck(h, 0, (1, 4)); // the third duplicate: three SACKed segments above segment 0 (RFC 6675 IsLost)
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        // ssthresh = 12 / 2 = 6 segments; PRR (RFC 6937): pipe = 12 − 3 SACKed − 1 lost = 8 > ssthresh, so cwnd is
        // pipe + ceil(6/10 of the one segment delivered) = 9, and the retransmission fills it.
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Equal(9 * Mss, c.CongestionWindow);

        SackAck(h, 0, (1, 4), (5, 6)); // two delivered in recovery: ceil(12/10) = 2, one sent: one new segment
        h.Expect(TcpFlags.Ack, Our(12 * Mss), Their(0), Mss);
        SackAck(h, 0, (1, 4), (5, 7)); // two segments (exactly 2 SMSS) above segment 4: not yet lost; PRR allows none
        h.ExpectNothing();
        SackAck(h, 0, (1, 4), (5, 8)); // three: lost; pipe = 13 − 6 − 2 + 1 = 6 = ssthresh: PRR allows none yet
        h.ExpectNothing();
        SackAck(h, 0, (1, 4), (5, 9)); // pipe 5 below ssthresh: one segment, the hole first
        h.Expect(TcpFlags.Ack, Our(4 * Mss), Their(0), Mss);
        h.ExpectNothing();

        h.AdvanceTo(Ms(300)); // segment 0's retransmission arrives: a partial ACK, recovery goes on
        SackAck(h, 4, (5, 12));
        Assert.True(c.InFastRecovery);
        h.AdvanceTo(Ms(310)); // segment 4's: everything up to the recovery point (segment 12) and beyond
        SackAck(h, 13);
        Assert.False(c.InFastRecovery);

        Assert.Equal([Our(0), Our(4 * Mss)], h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value));
        Assert.All(h.Log.Of(TcpEventKind.Retransmission), e => Assert.Equal(TcpCause.SackRecovery, e.Cause));
        Assert.Equal(0, c.RetransmissionTimeouts);
    }

    // ───────────── the sender: RACK-TLP (RFC 8985) ─────────────

    [Fact]
    public void Rack_deems_a_hole_lost_a_reordering_window_after_one_later_segment_is_sacked()
    {
        (Harness h, TcpConnection c) = Established(Ms(100)); // min RTT 100 ms
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 2)); // one duplicate: DupThresh would wait; RACK waits min_RTT / 4
        h.ExpectNothing();
        Assert.Equal(Ms(225), c.TimerDeadline(TcpTimer.ReorderTimeout));
        Assert.Equal(Ms(225), h.AdvanceToNextDeadline());
        Sent again = h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
        Assert.True(c.InFastRecovery);
        Assert.Equal(225u, again.Options.Timestamp!.Value.Value);
    }

    [Fact]
    public void Rack_with_three_segments_sacked_and_no_reordering_seen_does_not_wait()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 4)); // DupThresh segments SACKed: the reordering window is 0
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.True(c.InFastRecovery);
    }

    [Fact]
    public void New_data_sent_before_a_retransmission_in_one_pass_does_not_deem_the_retransmission_lost_when_sacked()
    {
        // Seen in the lab's fast-retransmit: three duplicates in one batch share one instant. The first two each free a
        // new segment, the third deems the hole lost; the new segments left before the retransmission, so the
        // receiver SACKs them before the retransmission arrives. Ordered by sequence number at that shared instant,
        // they passed for sent after it, and their SACK deemed the retransmission lost again at once.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TsoWindowDivisor = 0 });
        c.Send(Bytes(20 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 2));
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        SackAck(h, 0, (1, 3));
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        SackAck(h, 0, (1, 4));
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.DrainSent();

        h.AdvanceTo(Ms(300)); // segments 10 and 11 arrived before the retransmission
        SackAck(h, 0, (1, 12)); // all but the hole, whose retransmission is on its way
        Assert.Equal([Our(0)], h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value));
        while (h.TryNext() is Sent sent) Assert.NotEqual(Our(0), sent.Seq);
    }

    [Fact]
    public void Reordering_degree_is_how_far_below_the_highest_sacked_a_never_resent_segment_arrives()
    {
        // packetdrill's sack-shift-sacked-*.pkt: tcpi_reordering is Linux's tp->reordering, DupThresh until measured.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        Assert.Equal(3, c.Info().Reordering);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (9, 10)); // the last segment first
        Assert.Equal(3, c.Info().Reordering); // nothing delivered below it yet
        SackAck(h, 0, (3, 4), (9, 10)); // segment 4 arrives 6 segments below the highest delivered: 10 - 3 = 7 from its start
        Assert.Equal(7, c.Info().Reordering);
        SackAck(h, 0, (3, 5), (9, 10)); // less far below: the degree keeps its largest
        Assert.Equal(7, c.Info().Reordering);
    }

    [Fact]
    public void Once_reordering_exceeds_dupthresh_an_ack_that_only_sacks_grows_cwnd()
    {
        // Linux's tcp_may_raise_cwnd: with tp->reordering above tcp_reordering (3), newly SACKed data counts as forward
        // progress and grows cwnd; up to 3, only an ACK of new data does (RFC 5681 §3.1). Upstream's
        // cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt: 10 + 1 + 8 = 19 segments.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        int initial = c.Info().CongestionWindow;
        Assert.Equal(10 * Mss, initial);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (9, 10)); // the last segment first: degree 3, no reordering measured yet
        Assert.Equal(3, c.Info().Reordering);
        Assert.Equal(initial, c.Info().CongestionWindow); // a SACK alone does not grow cwnd here
        SackAck(h, 0, (3, 4), (9, 10)); // 7 segments below the highest: degree 7, and this SACK grows cwnd
        Assert.Equal(7, c.Info().Reordering);
        Assert.Equal(initial + Mss, c.Info().CongestionWindow);
        SackAck(h, 0, (3, 4), (9, 10)); // the same blocks again deliver nothing: no growth
        Assert.Equal(initial + Mss, c.Info().CongestionWindow);
        SackAck(h, 10); // the other 8 segments, cumulatively
        Assert.Equal(initial + 9 * Mss, c.Info().CongestionWindow);
    }

    [Fact]
    public void Reordering_events_count_an_acks_sack_blocks_once_and_its_cumulative_part_once()
    {
        // packetdrill's cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt: tcpi_reord_seen is Linux's tp->reord_seen.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (9, 10));
        Assert.Equal(0, c.Info().ReorderingEvents); // the highest first: nothing below it yet
        SackAck(h, 0, (3, 4), (9, 10));
        Assert.Equal(1, c.Info().ReorderingEvents);
        SackAck(h, 0, (3, 4), (9, 10)); // the same blocks again deliver nothing
        Assert.Equal(1, c.Info().ReorderingEvents);
        SackAck(h, 10); // seven segments below the highest, one cumulative ACK: one event
        Assert.Equal(2, c.Info().ReorderingEvents);
        Assert.Equal(10, c.Info().Reordering);
    }

    [Fact]
    public void An_ack_whose_blocks_and_cumulative_part_both_arrive_below_the_highest_counts_two_events()
    {
        // Linux's tcp_check_sack_reordering runs after tcp_sacktag_write_queue and again in tcp_clean_rtx_queue.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (9, 10));
        SackAck(h, 2, (5, 6), (9, 10));
        Assert.Equal(2, c.Info().ReorderingEvents);
    }

    [Fact]
    public void One_ack_for_two_lost_acks_worth_of_blocks_is_no_reordering_whatever_their_order()
    {
        // Segments 2 and 4 lost, and the ACK that SACKed segment 3 alone: the next SACKs 3 and 5..9 at once, the most
        // recent block first (RFC 2018 §4). Linux sorts the blocks (tcp_sacktag_write_queue) and compares each newly
        // SACKed segment with the highest SACKed before this ACK (prior_fack): nothing here was delivered out of order.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 2, (5, 10), (3, 4));
        Assert.Equal(0, c.Info().ReorderingEvents);
        Assert.Equal(3, c.Info().Reordering);
    }

    [Fact]
    public void An_ack_that_cumulatively_covers_in_order_data_and_sacks_above_it_is_no_reordering()
    {
        // Segments 1 and 2 lost, and the ACK of segment 0: the next acknowledges 0 and SACKs 3. Linux's
        // tcp_clean_rtx_queue compares segment 0 with the highest SACKed before this ACK (none), not with segment 3.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 1, (3, 4));
        Assert.Equal(0, c.Info().ReorderingEvents);
        Assert.Equal(3, c.Info().Reordering);
    }

    [Fact]
    public void A_retransmission_that_fills_a_hole_is_not_reordering()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 10)); // segment 1 lost: resent at once
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.AdvanceTo(Ms(300));
        SackAck(h, 10);
        Assert.Equal(3, c.Info().Reordering);
        Assert.Equal(0, c.Info().ReorderingEvents);
    }

    [Fact]
    public void Tail_loss_probe_resends_the_last_segment_two_srtt_after_it_left()
    {
        (Harness h, TcpConnection c) = Established(Ms(100)); // SRTT 100 ms, RTO 300 ms
        SendSegments(h, c, 3);
        Assert.Equal(Ms(302), c.TimerDeadline(TcpTimer.LossProbe)); // 2 × SRTT + 2 ms (Linux), before the RTO at 400 ms
        Assert.Equal(Ms(302), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2 * Mss), Their(0), Mss); // the last segment, PSH as it first went
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
        Assert.Equal(Ms(602), c.TimerDeadline(TcpTimer.Retransmission)); // the RTO re-armed from the probe
        Assert.Equal(Ms(504), c.TimerDeadline(TcpTimer.LossProbe));       // a second one if no ACK comes (TcpConfig.LossProbes)

        // The ACK of all three may still be followed by a D-SACK for the probe (then there was no loss): wait.
        h.AdvanceTo(Ms(400));
        SackAck(h, 3);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        // An ACK beyond the probe without that D-SACK: the probe repaired a loss, so cwnd reacts (RFC 8985 §7.4.2).
        c.Send(Bytes(100));
        h.Poll();
        h.Next();
        h.AdvanceTo(Ms(500));
        h.Send(TcpFlags.Ack, Their(0), Our(3 * Mss + 100), window: PeerWindow, options: Options(h, 400));
        Assert.NotEqual(int.MaxValue, c.SlowStartThreshold);
        Assert.False(c.InFastRecovery);
    }

    [Fact]
    public void On_a_fast_link_the_probe_waits_the_minimum_probe_timeout_not_two_srtt()
    {
        // SRTT 1 ms makes 2 SRTT + 2 ms 4 ms; a probe that early fires while the ACKs that answer it wait to be read (TcpConfig.MinProbeTimeout).
        (Harness h, TcpConnection c) = Established(Ms(1));
        SendSegments(h, c, 3);
        Assert.Equal(Ms(1) + new TcpConfig().MinProbeTimeout, c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(26), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2 * Mss), Their(0), Mss); // the last segment, and nothing before 26 ms
        h.ExpectNothing();
    }

    [Fact]
    public void A_probe_the_receiver_reports_as_a_duplicate_leaves_cwnd_alone()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 3);
        h.AdvanceToNextDeadline();
        h.Next();
        h.AdvanceTo(Ms(400));
        // Everything arrived, the probe too: the ACK of all three with a D-SACK for the probe.
        h.Send(TcpFlags.Ack, Their(0), Our(3 * Mss), window: PeerWindow, options: Options(h, 300, (2 * Mss, 3 * Mss)));
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
    }

    [Fact]
    public void A_lone_segment_waits_a_worst_case_delayed_ack_longer_for_its_probe()
    {
        // A 1 s minimum RTO leaves room before the retransmission timer for either probe.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { MinRto = S(1) });
        SendSegments(h, c, 1);
        Assert.Equal(Ms(100 + 200 + 200), c.TimerDeadline(TcpTimer.LossProbe)); // 2 SRTT + WCDelAckT (RFC 8985 §7.2)
        Assert.Equal(Ms(500), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), Mss);
    }

    [Fact]
    public void The_probe_goes_in_the_place_of_a_retransmission_timeout_that_would_fire_first()
    {
        // RFC 8985 §7.2 PTO = min(PTO, RTO), as Linux's tcp_schedule_loss_probe: a lone segment's probe at 500 ms
        // (2 SRTT + WCDelAckT) would come after the RTO at 400 ms, so the probe goes at 400 ms instead; the timeout
        // stands one RTO behind it until the probe leaves, which re-arms it (§7.3). No backoff: it was no timeout.
        (Harness h, TcpConnection c) = Established(Ms(100)); // RTO 300 ms
        SendSegments(h, c, 1);
        Assert.Equal(Ms(400), c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(700), c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
        Assert.Equal(Ms(700), c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(Ms(300), c.Rto);
    }

    [Fact]
    public void Without_rack_tlp_the_tail_waits_for_the_retransmission_timer()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { Rack = false, TailLossProbe = false });
        SendSegments(h, c, 3);
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe));
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        Assert.Equal(TcpCause.RetransmissionTimeout, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
    }

    [Fact]
    public void Without_sack_there_is_no_rack_and_no_probe()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), sack: false);
        SendSegments(h, c, 3);
        Assert.Null(c.TimerDeadline(TcpTimer.LossProbe));
    }

    // ───────────── PSH ─────────────

    [Fact]
    public void A_retransmission_keeps_the_psh_of_the_segment_it_repeats()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { Rack = false, TailLossProbe = false });
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        c.Send(Bytes(500)); // Nagle holds it; the first segment is no longer the end of the data
        h.Poll();
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100); // PSH, as it first went
        h.ExpectNothing();
    }

    [Fact]
    public void A_retransmission_of_a_segment_sent_without_psh_has_none()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { Rack = false, TailLossProbe = false });
        c.Send(Bytes(2 * Mss));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(Mss), Their(0), Mss);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.AdvanceTo(h.Now + Ms(100));
        h.Send(TcpFlags.Ack, Their(0), Our(Mss), window: PeerWindow, options: Options(h, OurTs(h.Now - Ms(100))));
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(Mss), Their(0), Mss);
    }
}

public class RackStallTests
{
    [Fact]
    public void Acks_that_arrive_late_in_a_burst_after_a_probe_make_rack_declare_nothing_lost()
    {
        (Harness h, TcpConnection c) = Established(Ms(1)); // SRTT 1 ms, min RTT 1 ms
        SendSegments(h, c, 10);                               // at 1 ms, TSval 1
        // The ACKs are late (the sender's process stalled): the probe timer fires first and resends the last segment.
        h.AdvanceTo(Ms(95));
        Assert.Equal(TcpCause.TailLossProbe, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
        h.DrainSent();
        // Then the ACKs the peer sent long ago, one per two segments, echoing the TSval of the originals.
        for (int acked = 2; acked <= 10; acked += 2)
        {
            h.Send(TcpFlags.Ack, Their(0), Our(acked * Mss), window: PeerWindow, options: Options(h, 1));
        }
        Assert.Single(h.Log.Of(TcpEventKind.Retransmission)); // the probe, and nothing RACK deemed lost
        Assert.False(c.InFastRecovery);
    }
}
