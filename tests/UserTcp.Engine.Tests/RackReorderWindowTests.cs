using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// RACK's reordering window as Linux 6.18's tcp_rack_reo_wnd has it: zero while no reordering has been seen and either
/// the connection is in recovery or a timeout's Loss phase, or DupThresh (3) segments are SACKed; otherwise min RTT / 4
/// (widened by D-SACKs, at most SRTT). The lab's reordering scenario, one duplicate ACK at a time.
/// </summary>
public class RackReorderWindowTests
{
    /// <summary>The peer's ACK at SND.UNA + <paramref name="ack"/> segments, SACKing the given segment ranges, echoing TSval 100.</summary>
    private static void SackAck(Harness h, int ack, params (int From, int To)[] segments) =>
        h.Send(TcpFlags.Ack, Their(0), Our(ack * Mss), window: PeerWindow,
            options: Options(h, 100, [.. segments.Select(r => (r.From * Mss, r.To * Mss))]));

    [Fact]
    public void The_third_duplicate_ack_resends_the_hole_at_once_when_each_sacks_one_more_segment()
    {
        // The lab's reordering: one segment held back, the rest of the burst overtakes it, and the receiver's duplicate
        // ACKs come one at a time, each SACKing one more segment and freeing room for one of new data.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TsoWindowDivisor = 0 }); // min RTT 100 ms
        c.Send(Bytes(20 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next(); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 2)); // one SACKed: RACK waits min RTT / 4 for a late original
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(Ms(225), c.TimerDeadline(TcpTimer.ReorderTimeout));
        h.AdvanceTo(Ms(202));
        SackAck(h, 0, (1, 3)); // two: still waiting
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing();
        h.AdvanceTo(Ms(204));
        SackAck(h, 0, (1, 4)); // three, no reordering seen: the window is zero and the hole goes now, not at 225 ms
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Null(c.TimerDeadline(TcpTimer.ReorderTimeout));

        // The rest of the burst's duplicates, and the reorder timer's old instant, resend nothing more.
        h.AdvanceTo(Ms(206));
        SackAck(h, 0, (1, 10));
        h.AdvanceTo(Ms(230));
        SackAck(h, 0, (1, 12));
        Assert.All(h.Log.Of(TcpEventKind.Retransmission), e => Assert.Equal(TcpCause.RackLoss, e.Cause));
        Assert.Single(h.Log.Of(TcpEventKind.Retransmission));
        while (h.TryNext() is Sent sent) Assert.True(sent.Seq >= Our(12 * Mss), $"resent {sent}");
    }

    [Fact]
    public void Once_reordering_is_seen_three_sacked_segments_wait_the_window()
    {
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (9, 10));
        SackAck(h, 0, (3, 4), (9, 10)); // segment 3 arrives below segment 9, never resent: reordering (Linux's reord_seen)
        SackAck(h, 10);
        Assert.Equal(2, c.Info().ReorderingEvents);
        h.ExpectNothing();
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission));

        SendSegments(h, c, 10, firstOffset: 10 * Mss); // at 200 ms
        h.AdvanceTo(Ms(300));
        SackAck(h, 10, (11, 14)); // three SACKed, but reordering has been seen: min RTT / 4 more
        h.ExpectNothing();
        Assert.False(c.InFastRecovery);
        Assert.Equal(Ms(325), c.TimerDeadline(TcpTimer.ReorderTimeout));
        Assert.Equal(Ms(325), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Single().Cause);
    }

    [Fact]
    public void A_dsack_of_a_needless_resend_is_not_reordering_the_next_hole_goes_on_the_third_sack()
    {
        // Linux on the lab's second held segment: a D-SACK widens the window's multiplier (reo_wnd_steps) but is not
        // reordering (reord_seen stays 0, TCPSACKReorder 0), so DupThresh SACKed segments still make the window zero.
        (Harness h, TcpConnection c) = Established(Ms(100));
        SendSegments(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        SackAck(h, 0, (1, 4));
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.AdvanceTo(Ms(300));
        SackAck(h, 10);
        SackAck(h, 10, (0, 1)); // the late original: a D-SACK
        Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(0, c.Info().ReorderingEvents);
        h.DrainSent();

        SendSegments(h, c, 10, firstOffset: 10 * Mss); // at 300 ms
        h.AdvanceTo(Ms(400));
        SackAck(h, 10, (11, 14));
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(2, h.Log.Of(TcpEventKind.Retransmission).Count());
    }

    [Fact]
    public void In_a_timeouts_loss_phase_a_resend_overtaken_by_a_later_one_is_lost_at_once()
    {
        // Linux's tcp_rack_reo_wnd is zero in TCP_CA_Loss as in TCP_CA_Recovery (icsk_ca_state >= TCP_CA_Recovery)
        // while no reordering has been seen: one SACK of a segment resent after it is enough.
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TailLossProbe = false, Frto = false });
        SendSegments(h, c, 10); // at 100 ms; RTO 300 ms
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.ExpectNothing();
        h.AdvanceTo(Ms(500));
        SackAck(h, 1); // cwnd 2: the next two, deemed lost by the timeout, go again
        h.Expect(TcpFlags.Ack, Our(Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(2 * Mss), Their(0), Mss);
        h.ExpectNothing();
        h.AdvanceTo(Ms(600));
        // Segment 2's resend arrived (its TSval echoed), segment 1's did not: lost again, resent now, not 25 ms later.
        h.Send(TcpFlags.Ack, Their(0), Our(Mss), window: PeerWindow, options: Options(h, OurTs(Ms(500)), (2 * Mss, 3 * Mss)));
        h.Expect(TcpFlags.Ack, Our(Mss), Their(0), Mss);
        // A resend lost again ends the Loss phase in Recovery (Linux's FLAG_LOST_RETRANS): PRR's cwnd 1, nothing more.
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Null(c.TimerDeadline(TcpTimer.ReorderTimeout));
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);
    }
}
