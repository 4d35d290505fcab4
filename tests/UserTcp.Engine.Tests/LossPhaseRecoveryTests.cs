using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A timeout's resend that RACK finds lost again, as Linux 6.18 handles it (tcp_fastretrans_alert in TCP_CA_Loss with
/// FLAG_LOST_RETRANS, tcp_rack_reo_timeout): the Loss phase gives way to Recovery, whose reduction starts from the cwnd
/// slow start has reached since the timeout (CUBIC: ssthresh max(0.7 cwnd, 2)), and PRR paces what follows; the resend
/// counts as TCPLostRetransmit. tests/scripts/sack/rto-resend-lost-again-*.pkt pin the same on Linux. No timestamps,
/// no loss probe and no F-RTO, so only the ACKs and the timers drive the sender; CUBIC in Linux's arithmetic.
/// </summary>
public class LossPhaseRecoveryTests
{
    internal const int PlainMss = 1460; // without timestamps
    // Linux's CUBIC arithmetic: ssthresh in whole segments (RFC 9438's 0.7 cwnd would be 2.8 segments below).
    internal static readonly TcpConfig Plain = new() { TailLossProbe = false, Frto = false, CubicArithmetic = CubicArithmetic.Linux };

    /// <summary>The peer's ACK of the first <paramref name="segments"/> segments, with SACK blocks in segments (a D-SACK first).</summary>
    internal static void Ack(Harness h, int segments, params (int From, int To)[] sacked)
    {
        var options = new TcpOptions();
        foreach ((int from, int to) in sacked) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from * PlainMss)), new SeqNumber(Our(to * PlainMss))));
        h.Send(TcpFlags.Ack, Their(0), Our(segments * PlainMss), window: PeerWindow, options: options);
    }

    /// <summary>The segments sent since the last look, by number (all full ones).</summary>
    internal static int[] Sent(Harness h)
    {
        var sent = new List<int>();
        while (h.TryNext() is Sent s)
        {
            Assert.Equal(PlainMss, s.Payload.Length);
            sent.Add((int)((s.Seq - Our(0)) / PlainMss));
        }
        return [.. sent];
    }

    private static long Count(Harness h, MibCounter counter) => h.Engine.Counters[counter];

    /// <summary>
    /// <paramref name="segments"/> segments at 100 ms (RTT 100 ms), all lost; the timeout at 400 ms (ssthresh 7, cwnd 1)
    /// resends the first; its ACK at 510 ms resends 1-2, theirs at 620 ms resends 3-6 (cwnd 4).
    /// </summary>
    internal static (Harness H, TcpConnection C) LossPhaseAtCwndFour(int segments)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(segments * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, segments), Sent(h));
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        Assert.Equal([0], Sent(h));
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold);
        h.AdvanceTo(Ms(510));
        Ack(h, 1);
        Assert.Equal([1, 2], Sent(h));
        h.AdvanceTo(Ms(620));
        Ack(h, 3);
        Assert.Equal([3, 4, 5, 6], Sent(h));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(4 * PlainMss, c.CongestionWindow);
        return (h, c);
    }

    [Fact]
    public void A_resend_lost_again_ends_the_loss_phase_in_recovery_with_a_second_reduction()
    {
        (Harness h, TcpConnection c) = LossPhaseAtCwndFour(10);
        h.AdvanceTo(Ms(730));
        Ack(h, 3, (4, 7)); // 4-6 arrived, 3's resend did not: lost again at once (RACK's window zero in the Loss phase)
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold); // max(4 x 0.7, 2), not the timeout's 7
        Assert.Equal(2 * PlainMss, c.CongestionWindow); // PRR with nothing in flight: up to ssthresh
        Assert.Equal([3, 7], Sent(h)); // not 3, 7, 8 and 9, as slow start's cwnd 4 would send
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPLostRetransmit));
        Assert.Equal(TcpCause.RackLoss, h.Log.Of(TcpEventKind.Retransmission).Last().Cause);

        h.AdvanceTo(Ms(830));
        Ack(h, 8);
        Assert.Equal([8, 9], Sent(h));
        h.AdvanceTo(Ms(930));
        Ack(h, 10);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPLostRetransmit));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFullUndo) + Count(h, MibCounter.TcpExtTCPLossUndo) + Count(h, MibCounter.TcpExtTCPDSACKUndo));
    }

    [Fact]
    public void A_resend_lost_again_inside_that_recovery_cuts_no_further()
    {
        (Harness h, TcpConnection c) = LossPhaseAtCwndFour(10);
        h.AdvanceTo(Ms(730));
        Ack(h, 3, (4, 7));
        Assert.Equal([3, 7], Sent(h));
        h.AdvanceTo(Ms(840));
        Ack(h, 3, (4, 8)); // 7's resend arrived, 3's second resend did not: lost again, in Recovery now
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold); // no third reduction (tcp_enter_recovery is not called in Recovery)
        Assert.Equal([3, 8], Sent(h)); // PRR: cwnd 2, nothing in flight
        Assert.Equal(2, Count(h, MibCounter.TcpExtTCPLostRetransmit));
        h.ExpectNothing();
    }

    [Fact]
    public void A_resend_within_the_reordering_window_waits_and_the_reorder_timer_then_starts_recovery()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(2 * PlainMss));
        h.Poll();
        Assert.Equal([0, 1], Sent(h));
        h.AdvanceTo(Ms(200));
        Ack(h, 0, (1, 2));
        h.AdvanceTo(Ms(210));
        Ack(h, 2); // the first arrived after the second: reordering seen, so RACK's window is min RTT / 4 from now on
        Assert.Equal(1, c.Info().ReorderingEvents);
        c.Send(Bytes(10 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(2, 10), Sent(h));
        TimeSpan timeout = h.AdvanceToNextDeadline();
        Assert.Equal([2], Sent(h));
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold);
        h.AdvanceTo(timeout + Ms(110));
        Ack(h, 3);
        Assert.Equal([3, 4], Sent(h));
        h.AdvanceTo(timeout + Ms(220));
        Ack(h, 3, (4, 5)); // 4's resend arrived, 3's not yet: it may still come within 25 ms
        Assert.Equal([5], Sent(h)); // cwnd 2, 3's resend still in flight: the next lost one, not 3 again
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold); // no reduction before the window has passed
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPLostRetransmit));

        Assert.Equal(timeout + Ms(245), h.AdvanceToNextDeadline()); // the reorder timer (Linux: 2 ms more, then jiffies)
        Assert.Equal([3], Sent(h));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(2 * PlainMss, c.CongestionWindow);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPLostRetransmit));
    }

    [Fact]
    public void A_dsack_of_the_resend_deemed_lost_again_undoes_only_the_second_reduction()
    {
        (Harness h, TcpConnection c) = LossPhaseAtCwndFour(7);
        h.AdvanceTo(Ms(730));
        Ack(h, 3, (4, 7));
        Assert.Equal([3], Sent(h)); // nothing else is lost
        Assert.Equal(2 * PlainMss, c.SlowStartThreshold);
        h.AdvanceTo(Ms(830));
        Ack(h, 7, (3, 4)); // both resends of 3 arrived: D-SACK, the recovery was needless (tcp_try_undo_recovery)
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPFullUndo));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPLossUndo));
        // Back to the Loss phase's ssthresh and cwnd (the recovery's record), not to before the timeout: that reduction stands.
        // Then that ACK's slow start grows cwnd from 4 by the two segments it delivered, 3 and its D-SACKed copy: 6, as
        // Linux 6.18 (sack/rto-resend-lost-again-dsack-undoes-second-cut.pkt).
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold);
        Assert.Equal(6 * PlainMss, c.CongestionWindow);
        h.ExpectNothing();
    }

    [Fact]
    public void A_timeout_that_recurs_counts_the_resend_in_flight_as_lost_again()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(3 * PlainMss));
        h.Poll();
        Assert.Equal([0, 1, 2], Sent(h));
        h.AdvanceToNextDeadline();
        Assert.Equal([0], Sent(h));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPLostRetransmit));
        h.AdvanceToNextDeadline(); // the resend is lost too (Linux's tcp_timeout_mark_lost counts it)
        Assert.Equal([0], Sent(h));
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPLostRetransmit));
        // The timer's own resends (tcp_retransmit_timer's tcp_retransmit_skb) count as neither fast nor slow-start retransmits.
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFastRetrans) + Count(h, MibCounter.TcpExtTCPSlowStartRetrans));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold); // the recurring timeout holds ssthresh
    }
}
