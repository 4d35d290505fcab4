using static UserTcp.Engine.Tests.LossPhaseRecoveryTests;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// What a retransmission timeout deems lost, as Linux 6.18's tcp_timeout_mark_lost and RFC 8985 §6.3 have it: with RACK,
/// the first segment and those sent longer ago than RACK.rtt, not those sent within the last round trip, which stay in
/// flight (cwnd = what is in flight + 1 segment, tcp_enter_loss) until RACK or a later timeout finds them lost.
/// tests/scripts/sack/rto-spare*.pkt pin the same on Linux. No timestamps, loss probe or F-RTO; helpers from LossPhaseRecoveryTests.
/// </summary>
public class TimeoutLossMarkingTests
{
    /// <summary>
    /// Handshake RTT 100 ms; segment 0 at 100 ms, ACKed at 300 ms (RACK.rtt 200 ms); segment 1 at 300 ms, then
    /// <paramref name="late"/> more at 550 ms; the timeout (at 662.5 ms) resends segment 1 only.
    /// </summary>
    private static (Harness H, TcpConnection C, TimeSpan Rto) TimeoutAfterLateSend(TcpConfig config, int late, bool sack = true)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps: false, sack: sack);
        c.Send(Bytes(PlainMss));
        h.Poll();
        Assert.Equal([0], Sent(h));
        h.AdvanceTo(Ms(300));
        Ack(h, 1);
        c.Send(Bytes(PlainMss));
        h.Poll();
        Assert.Equal([1], Sent(h));
        h.AdvanceTo(Ms(550));
        c.Send(Bytes(late * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(2, late), Sent(h));
        TimeSpan rto = h.AdvanceToNextDeadline();
        Assert.InRange(rto, Ms(600), Ms(700));
        Assert.Equal([1], Sent(h));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        return (h, c, rto);
    }

    [Fact]
    public void A_timeout_deems_lost_the_first_segment_not_those_sent_within_the_last_round_trip()
    {
        (Harness h, TcpConnection c, TimeSpan rto) = TimeoutAfterLateSend(Plain, late: 2);
        Assert.Equal(1, c.Info().LostSegments); // Linux's tcpi_lost 1, not 3
        Assert.Equal(3 * PlainMss, c.CongestionWindow); // the two still in flight + 1 (tcp_enter_loss)
        h.ExpectNothing();

        h.AdvanceTo(rto + Ms(200));
        Ack(h, 2); // the resend's ACK after a round trip: RACK now finds 2 and 3 overdue
        Assert.Equal([2, 3], Sent(h));
        Assert.Equal(2, c.Info().LostSegments);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState); // neither was a resend: no Recovery
        h.AdvanceTo(rto + Ms(400));
        Ack(h, 4);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        h.ExpectNothing();
    }

    [Fact]
    public void A_segment_the_timeout_left_in_flight_is_not_resent_before_rack_finds_it_lost()
    {
        (Harness h, TcpConnection c, TimeSpan rto) = TimeoutAfterLateSend(Plain, late: 1);
        Assert.Equal(1, c.Info().LostSegments);
        Assert.Equal(2 * PlainMss, c.CongestionWindow);
        h.AdvanceTo(rto + Ms(10));
        c.Send(Bytes(PlainMss));
        h.Poll();
        h.ExpectNothing(); // cwnd 2: the resend and segment 2 are in flight

        h.AdvanceTo(rto + Ms(50));
        Ack(h, 2); // sooner than the minimum RTT after the resend: RACK takes no sample from it, 2 is not overdue
        Assert.Equal([3], Sent(h)); // new data, not 2 again (cwnd 3, 2 in flight)
        Assert.Equal(0, c.Info().LostSegments);
        h.ExpectNothing();

        h.AdvanceTo(rto + Ms(250));
        Ack(h, 2, (3, 4)); // 3 delivered a round trip after it left: 2, sent before it, is lost now
        Assert.Equal([2], Sent(h));
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
        h.ExpectNothing();
        h.AdvanceTo(rto + Ms(450));
        Ack(h, 4);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
    }

    [Fact]
    public void A_later_timeout_deems_lost_what_the_first_left_in_flight()
    {
        (Harness h, TcpConnection c, TimeSpan rto) = TimeoutAfterLateSend(Plain, late: 2);
        Assert.Equal(1, c.Info().LostSegments);
        TimeSpan second = h.AdvanceToNextDeadline();
        Assert.True(second > rto + Ms(600), $"second timeout at {second}"); // backed off
        Assert.Equal([1], Sent(h)); // cwnd 1: only the first goes again
        Assert.Equal(3, c.Info().LostSegments); // 2 and 3 were sent long enough ago now
        Assert.Equal(PlainMss, c.CongestionWindow);
        h.ExpectNothing();
    }

    [Theory]
    [InlineData(false, true)] // RACK off: RFC 6675's go-back-N
    [InlineData(true, false)] // no SACK: Linux's RACK has no RTT without SACK (tcp_clean_rtx_queue), so it marks all too
    public void Without_rack_a_timeout_deems_every_segment_lost(bool rack, bool sack)
    {
        (Harness h, TcpConnection c, _) = TimeoutAfterLateSend(Plain with { Rack = rack }, late: 2, sack);
        Assert.Equal(3, c.Info().LostSegments);
        Assert.Equal(PlainMss, c.CongestionWindow);
        h.ExpectNothing();
    }
}
