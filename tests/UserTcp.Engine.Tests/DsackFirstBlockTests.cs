using static UserTcp.Engine.Tests.DubiousDsackTests; // Ack, PlainMss: the same connection without timestamps
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.SackDiscardTests; // TenInFlight: ten segments, their ACKs due
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Which first SACK block is a D-SACK, as Linux 6.18's tcp_check_dsack has it: one that starts below the cumulative
/// ACK, however far it reaches and even empty, or one inside the second block. A D-SACK straddling SND.UNA is counted
/// and delivered (tcp_dsack_seen), then found invalid for the scoreboard (tcp_is_sackblock_valid): ignored as old, no
/// segment SACKed, no retransmission counted down for undo. tests/scripts/sack/dsack-straddling-snd-una-ignored-old.pkt
/// and dsack-empty-first-block-is-dubious.pkt show Linux doing so.
/// </summary>
public class DsackFirstBlockTests
{
    private static readonly TcpConfig NoProbe = new() { TailLossProbe = false };

    /// <summary>Ten segments, the first acknowledged; the second and third resent by a fast recovery four SACKs start.</summary>
    private static (Harness H, TcpConnection C) TwoResentInRecovery()
    {
        (Harness h, TcpConnection c) = TenInFlight(NoProbe);
        Ack(h, 1);
        Ack(h, 1, (3, 4));
        Ack(h, 1, (3, 5));
        Ack(h, 1, (3, 6));
        Ack(h, 1, (3, 7));
        h.DrainSent();
        Assert.True(c.InFastRecovery);
        Assert.Equal(2, c.Info().TotalRetransmissions);
        return (h, c);
    }

    [Fact]
    public void A_first_block_straddling_snd_una_is_a_dsack_ignored_as_old_that_undoes_nothing()
    {
        (Harness h, TcpConnection c) = TwoResentInRecovery();
        uint delivered = c.Info().DeliveredSegments;
        int ssthresh = c.SlowStartThreshold;
        h.AdvanceTo(Ms(210));
        Ack(h, 2, (1, 3), (3, 7)); // both resends reported received twice; the block reaches above the ACK
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecv]);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredOld]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
        Assert.Equal(delivered + 1 + 2, c.Info().DeliveredSegments); // the second segment and the two copies
        Assert.Equal(4, c.Info().SackedSegments); // the third segment, above the ACK, is not SACKed by it
        Assert.True(c.InFastRecovery);

        h.AdvanceTo(Ms(300));
        Ack(h, 10);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKUndo]); // the copies counted nothing down
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(ssthresh, c.SlowStartThreshold);
        // From ssthresh, grown by the ACK that ends the recovery; an undo would restore the 11 segments before it.
        Assert.InRange(c.CongestionWindow, ssthresh, ssthresh + PlainMss);
    }

    [Fact]
    public void An_empty_or_reversed_first_block_below_the_ack_is_a_dubious_dsack_then_discarded()
    {
        (Harness h, TcpConnection c) = TenInFlight(NoProbe);
        Ack(h, 2);
        uint delivered = c.Info().DeliveredSegments;
        Ack(h, 2, (1, 1));
        Ack(h, 2, (1, 0));
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecv]);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPDSACKIgnoredDubious]);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecvSegs]);
        Assert.Equal(delivered, c.Info().DeliveredSegments);
        Assert.Equal(0, c.Info().SackedSegments);
        Assert.False(c.InFastRecovery);
        h.ExpectNothing();
    }
}
