using UserTcp.Wire;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A dubious D-SACK (longer than the largest window, or more copies reported over the connection than segments resent:
/// the network's duplicate) is no D-SACK to Linux 6.18: tcp_dsack_seen returns 0 and tcp_check_dsack skips it before it
/// counts undo_retrans down, so it undoes nothing and sets no rack.dsack_seen (tests/scripts/sack/dsack-dubious-undoes-nothing.pkt).
/// Without timestamps, so only D-SACK can undo. Under Linux's RACK rules a D-SACK widens the reordering window only
/// once reordering has been seen (tcp_dsack_seen's tp->reord_seen).
/// </summary>
public class DubiousDsackTests
{
    internal const int PlainMss = 1460; // without timestamps
    private static readonly TcpConfig NoProbe = new() { TailLossProbe = false };

    /// <summary>The peer's ACK at <paramref name="ack"/> segments, with the given blocks (in segments) in order.</summary>
    internal static void Ack(Harness h, int ack, params (int From, int To)[] blocks)
    {
        var options = new TcpOptions();
        foreach ((int from, int to) in blocks) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from * PlainMss)), new SeqNumber(Our(to * PlainMss))));
        h.Send(TcpFlags.Ack, Their(0), Our(ack * PlainMss), window: PeerWindow, options: options);
    }

    private static void Send(Harness h, TcpConnection c, int segments)
    {
        c.Send(Bytes(segments * PlainMss));
        h.Poll();
        h.DrainSent();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_dsack_of_more_copies_than_were_resent_does_not_undo_the_recovery(bool networkCopyBefore)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), NoProbe, timestamps: false);
        Send(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        // The first five arrive; with networkCopyBefore the network also delivered the first twice: a D-SACK of a segment
        // never resent, dubious (one copy reported, none resent).
        if (networkCopyBefore) Ack(h, 5, (0, 1));
        else Ack(h, 5);
        Assert.Equal(15 * PlainMss, c.CongestionWindow);
        h.AdvanceTo(Ms(205));
        Ack(h, 5, (6, 7));
        Ack(h, 5, (6, 8));
        Ack(h, 5, (6, 9)); // three above the hole: recovery, segment 5 resent once
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(7 * 15 * PlainMss / 10, c.SlowStartThreshold); // CUBIC's 0.7 of 15 (10 segments as Linux counts)
        h.DrainSent();

        h.AdvanceTo(Ms(305));
        Ack(h, 10, (5, 6)); // everything, and the resend was needless: its copy is D-SACKed
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecv] + (networkCopyBefore ? 0 : 1));
        if (networkCopyBefore)
        {
            // Two copies reported, one resent: the second D-SACK is dubious too, and the recovery's reduction stands.
            Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredDubious]);
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
            // Judged as plain SACK blocks, not as D-SACKs: no TCPDSACKIgnoredNoUndo for the first; below SND.UNA both are
            // discarded, TCPSACKDiscard (tcp_is_sackblock_valid without is_dsack), as Linux counted in the script.
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredNoUndo] + h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredOld]);
            Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
            Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFullUndo]);
            Assert.Equal(7 * 15 * PlainMss / 10, c.SlowStartThreshold);
            Assert.Equal(10, c.CongestionWindow / PlainMss); // ssthresh, and CUBIC's growth on that ACK: 10 segments, as Linux's
        }
        else
        {
            // One copy, one resend: the D-SACK shows every retransmission needless, and the recovery is undone.
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredDubious]);
            Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]); // a D-SACK taken is no discarded block
            Assert.Equal(TcpCause.SpuriousFastRetransmitDsack, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
            Assert.True(c.CongestionWindow >= 15 * PlainMss, $"cwnd {c.CongestionWindow}");
            Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        }
    }

    [Fact]
    public void A_dubious_dsack_does_not_widen_racks_reordering_window()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), NoProbe, timestamps: false); // min RTT 100 ms
        Send(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        Ack(h, 5, (0, 1)); // the network's copy of a segment never resent: dubious
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredDubious]);
        Ack(h, 5, (6, 7)); // one SACKed above the hole: RACK waits min RTT / 4, not twice that
        Assert.Equal(Ms(225), c.TimerDeadline(TcpTimer.ReorderTimeout));
        h.ExpectNothing();
    }

    /// <summary>A timeout's resend of one segment D-SACKed (the original had arrived): a D-SACK that is not dubious.</summary>
    private static (Harness H, TcpConnection C) NeedlessTimeoutResend(TcpConfig config)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps: false);
        Send(h, c, 1); // at 100 ms
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        h.DrainSent();
        h.AdvanceTo(Ms(500));
        Ack(h, 1, (0, 1));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
        Assert.Equal(TcpCause.SpuriousTimeoutDsack, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        return (h, c);
    }

    [Theory]
    [InlineData(RackRules.Rfc8985, 650)]
    [InlineData(RackRules.Linux, 625)]
    public void A_dsack_widens_the_window_under_rfc8985_and_under_linuxs_rules_only_after_reordering(RackRules rules, int deadlineMs)
    {
        (Harness h, TcpConnection c) = NeedlessTimeoutResend(NoProbe with { RackRules = rules });
        Send(h, c, 10); // at 500 ms
        h.AdvanceTo(Ms(600));
        Ack(h, 1, (2, 3)); // one SACKed above the hole; no reordering seen (the D-SACK is none)
        Assert.Equal(0, c.Info().ReorderingEvents);
        Assert.Equal(Ms(deadlineMs), c.TimerDeadline(TcpTimer.ReorderTimeout));
    }

    [Fact]
    public void Under_linuxs_rules_a_dsack_after_reordering_widens_the_window()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), NoProbe with { RackRules = RackRules.Linux }, timestamps: false);
        Send(h, c, 10); // at 100 ms
        h.AdvanceTo(Ms(200));
        Ack(h, 0, (9, 10));
        Ack(h, 0, (3, 4), (9, 10)); // segment 3 below segment 9, never resent: reordering (tp->reord_seen)
        Ack(h, 10);
        Assert.True(c.Info().ReorderingEvents > 0);

        Send(h, c, 1); // at 200 ms: resent by the timeout, D-SACKed 100 ms later
        TimeSpan timeout = h.AdvanceToNextDeadline();
        h.DrainSent();
        h.AdvanceTo(timeout + Ms(100));
        Ack(h, 11, (10, 11));
        Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo));

        Send(h, c, 10);
        h.AdvanceTo(timeout + Ms(200));
        Ack(h, 11, (12, 13)); // reordering seen: min RTT / 4 twice over
        Assert.Equal(timeout + Ms(250), c.TimerDeadline(TcpTimer.ReorderTimeout));
    }
}
