using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// <see cref="TcpConfig.RackRules"/>: the three places where Linux 6.18's RACK differs from RFC 8985's, each under both
/// rules — what Linux sends under <see cref="RackRules.Linux"/>, and the default's behaviour unchanged. The shapes are
/// upstream's sack-route-refresh-ip-tos.pkt and prr-ss-ack-below-snd_una-cubic.pkt on a 100 ms path.
/// </summary>
public class RackRulesTests
{
    private static TcpConfig Config(RackRules rules) => new() { RackRules = rules };

    /// <summary>The peer's ACK at segment <paramref name="ack"/>, SACKing the given segment ranges, echoing our TSval of <paramref name="echoAt"/>.</summary>
    private static void SackAck(Harness h, int ack, TimeSpan echoAt, params (int From, int To)[] segments) =>
        h.Send(TcpFlags.Ack, Their(0), Our(ack * Mss), window: PeerWindow,
            options: Options(h, OurTs(echoAt), [.. segments.Select(r => (r.From * Mss, r.To * Mss))]));

    /// <summary>Which segments (by index) left since the last look, in order; PSH is not the question here.</summary>
    private static int[] SentSegments(Harness h)
    {
        var sent = new List<int>();
        while (h.TryNext() is Sent s) sent.Add((int)(s.Seq - Our(0)) / Mss);
        return [.. sent];
    }

    [Fact]
    public void Linux_rules_a_cumulative_ack_below_its_own_sack_blocks_is_not_reordering_and_every_hole_goes_at_once()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Config(RackRules.Linux));
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        // Segment 0 acknowledged, 3 and 6-9 SACKed: five SACKed and nothing delivered below what earlier ACKs delivered
        // (prior_fack), so tp->reord_seen stays 0 and the window is zero: the four holes go now.
        SackAck(h, 1, Ms(100), (3, 4), (6, 10));
        Assert.Equal([1, 2, 4, 5], SentSegments(h));
        Assert.Equal(0, c.Info().ReorderingEvents);
        Assert.True(c.InFastRecovery);
        Assert.Null(c.TimerDeadline(TcpTimer.ReorderTimeout));
    }

    [Fact]
    public void Rfc8985_rules_a_cumulative_ack_below_its_own_sack_blocks_is_reordering_and_the_holes_wait_the_window()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10);
        h.AdvanceTo(Ms(200));
        SackAck(h, 1, Ms(100), (3, 4), (6, 10));
        h.ExpectNothing(); // RFC 8985 §6.2 step 2: segment 0 delivered below RACK.fack is reordering, so min RTT / 4 first
        Assert.False(c.InFastRecovery);
        Assert.Equal(Ms(225), c.TimerDeadline(TcpTimer.ReorderTimeout));
    }

    [Fact]
    public void Linux_rules_take_sack_blocks_in_sequence_order_so_rack_rtt_is_the_highest_blocks()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Config(RackRules.Linux));
        SendSegments(h, c, 5); // at 100 ms
        h.AdvanceTo(Ms(150));
        SendSegments(h, c, 5, firstOffset: 5 * Mss);
        h.AdvanceTo(Ms(250));
        // Most recent block first (RFC 2018 §4): 6, then 2. Linux sorts them (tcp_sacktag_write_queue), so RACK.rtt is
        // 6's 100 ms, not 2's 150 ms: 0, 1, 3 and 4 are overdue by then (100 + 100 + 25 ms), 5 not yet.
        SackAck(h, 0, Ms(150), (6, 7), (2, 3));
        Assert.Equal([0, 1], SentSegments(h)); // PRR: two delivered, two sent
        Assert.Equal(Ms(275), c.TimerDeadline(TcpTimer.ReorderTimeout));
        Assert.Equal(0, c.Info().ReorderingEvents);
    }

    [Theory]
    [InlineData(RackRules.Linux, 7)]
    [InlineData(RackRules.Rfc8985, 4)]
    public void Reordering_is_measured_to_the_highest_delivered_once_the_acks_blocks_are_taken_under_linux_rules(RackRules rules, int degree)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Config(rules));
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, Ms(100), (5, 6));
        // Segment 2, late, below segment 5 delivered before: reordering. Linux measures it after all the blocks, up to
        // segment 8 (tcp_check_sack_reordering: 7 segments); RFC 8985's rules take the blocks as they come, so up to 5 (4).
        SackAck(h, 0, Ms(100), (2, 3), (8, 9));
        Assert.Equal(1, c.Info().ReorderingEvents);
        Assert.Equal(degree, c.Info().Reordering);
    }

    /// <summary>
    /// Ten segments at 100 ms; at 200 ms three ACKs SACK 1, 1-2, then 1-2 and 8: zero window, 0 and 3-7 lost, 0 resent;
    /// at 320 ms the ACK of 0-3 SACKs 8 again: 0's resend (120 ms) and 3's original (220 ms) delivered, reordering seen
    /// (3 was never resent and lies below 8), so the window is min RTT / 4. Returns what left at 320 ms.
    /// </summary>
    private static (Harness H, TcpConnection C, int[] SentAt320) ResendThenAckOfAnOlderOriginal(RackRules rules)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Config(rules));
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, Ms(100), (1, 2));
        SackAck(h, 0, Ms(100), (1, 3));
        SackAck(h, 0, Ms(100), (1, 3), (8, 9));
        Assert.Equal([0], SentSegments(h));
        h.AdvanceTo(Ms(320));
        SackAck(h, 4, Ms(200), (8, 9));
        Assert.Equal(1, c.Info().ReorderingEvents);
        return (h, c, SentSegments(h));
    }

    [Fact]
    public void Linux_rules_rack_rtt_is_the_last_deliverys_so_a_segment_sent_with_the_older_original_waits()
    {
        (Harness _, TcpConnection c, int[] sent) = ResendThenAckOfAnOlderOriginal(RackRules.Linux);
        // RACK.rtt 220 ms (segment 3's, processed last; tcp_rack_advance), RACK.xmit_ts 200 ms (0's resend): segment 9,
        // sent at 100 ms, is overdue at 345 ms, not now. Nothing newly lost, SND.UNA advanced: PRR sends 3 (Linux's 4001:7001).
        Assert.Equal([4, 5, 6], sent);
        Assert.Equal(Ms(345), c.TimerDeadline(TcpTimer.ReorderTimeout));
    }

    [Fact]
    public void Rfc8985_rules_rack_rtt_is_the_most_recently_sent_deliverys_so_that_segment_is_lost_now()
    {
        (Harness _, TcpConnection c, int[] sent) = ResendThenAckOfAnOlderOriginal(RackRules.Rfc8985);
        // RACK.rtt 120 ms (0's resend): segment 9 was overdue at 245 ms, lost now; PRR sends 2, as before the option.
        Assert.Equal([4, 5], sent);
        Assert.Null(c.TimerDeadline(TcpTimer.ReorderTimeout)); // nothing left to wait for
    }

    [Fact]
    public void Linux_rules_an_ack_below_snd_una_has_its_sack_blocks_taken_and_what_they_free_is_sent()
    {
        (Harness h, TcpConnection c, int[] _) = ResendThenAckOfAnOlderOriginal(RackRules.Linux);
        c.Send(Bytes(10 * Mss)); // new data, which cwnd holds back
        h.Poll();
        h.ExpectNothing();
        int cwnd = c.Info().CongestionWindow;
        TimeSpan srtt = c.Info().SmoothedRtt;
        h.AdvanceTo(Ms(322));
        // An ACK delayed on the way: at segment 3, below SND.UNA (4), SACKing 5-6, resent 2 ms ago (too soon to move RACK).
        SackAck(h, 3, Ms(200), (5, 7));
        // Two fewer in flight: the lost segment 7 goes, then new data (Linux's 7001:8001 and 10001:11001); no more.
        Assert.Equal([7, 10], SentSegments(h));
        Assert.Equal(3, c.Info().SackedSegments);
        Assert.Equal(cwnd, c.Info().CongestionWindow); // no PRR step, no cwnd growth, no RTT sample
        Assert.Equal(srtt, c.Info().SmoothedRtt);
    }

    [Fact]
    public void Rfc8985_rules_an_ack_below_snd_una_is_ignored_sack_blocks_and_all()
    {
        (Harness h, TcpConnection c, int[] _) = ResendThenAckOfAnOlderOriginal(RackRules.Rfc8985);
        c.Send(Bytes(10 * Mss));
        h.Poll();
        h.ExpectNothing();
        int sacked = c.Info().SackedSegments;
        h.AdvanceTo(Ms(322));
        SackAck(h, 3, Ms(200), (5, 7));
        h.ExpectNothing(); // RFC 9293 §3.10.7.4: an ACK below SND.UNA is ignored
        Assert.Equal(sacked, c.Info().SackedSegments);
    }

    [Fact]
    public void Linux_rules_an_ack_below_snd_una_without_sack_blocks_changes_nothing()
    {
        (Harness h, TcpConnection c, int[] _) = ResendThenAckOfAnOlderOriginal(RackRules.Linux);
        c.Send(Bytes(10 * Mss));
        h.Poll();
        h.ExpectNothing();
        h.AdvanceTo(Ms(322));
        SackAck(h, 3, Ms(200));
        h.ExpectNothing();
        Assert.Equal(1, c.Info().SackedSegments);
    }
}
