using static UserTcp.Engine.Tests.DubiousDsackTests; // Ack, PlainMss: the same connection without timestamps
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// SACK blocks Linux 6.18's tcp_sacktag_write_queue discards, counting TCPSACKDiscard: a block that is not a D-SACK must be
/// non-empty, within what was sent and start above SND.UNA (tcp_is_sackblock_valid); not counted with nothing in flight,
/// nor below SND.UNA on an ACK below it (ACK reordering). The rest of the ACK is taken as before.
/// </summary>
public class SackDiscardTests
{
    private static readonly TcpConfig NoProbe = new() { TailLossProbe = false, RackRules = RackRules.Linux };

    /// <summary>Ten segments in flight at an RTT of 100 ms, without timestamps, at 200 ms (their ACKs due).</summary>
    internal static (Harness H, TcpConnection C) TenInFlight(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config ?? NoProbe, timestamps: false);
        c.Send(Bytes(10 * PlainMss));
        h.Poll();
        h.DrainSent();
        h.AdvanceTo(Ms(200));
        return (h, c);
    }

    [Fact]
    public void Blocks_beyond_snd_max_or_straddling_snd_una_are_discarded_and_the_valid_one_taken()
    {
        (Harness h, TcpConnection c) = TenInFlight();
        Ack(h, 2, (6, 7), (9, 11), (1, 4)); // the second reaches past SND.MAX; the third starts below SND.UNA (after the ACK)
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
        Assert.Equal(1, c.Info().SackedSegments); // only segment 6: neither 9 nor 2 and 3 are SACKed
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDSACKRecv]);
    }

    [Fact]
    public void A_block_below_snd_una_counts_on_a_duplicate_ack_but_not_on_an_old_one()
    {
        (Harness h, TcpConnection c) = TenInFlight();
        Ack(h, 4);
        Ack(h, 4, (6, 7), (1, 2)); // a plain (second) block wholly below SND.UNA on an ACK at SND.UNA
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
        Ack(h, 3, (7, 8), (1, 2)); // an ACK below SND.UNA (reordered): its stale block is not counted
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
        Assert.Equal(2, c.Info().SackedSegments); // both ACKs' valid blocks were taken
    }

    [Fact]
    public void Nothing_is_counted_with_nothing_in_flight()
    {
        (Harness h, TcpConnection _) = TenInFlight();
        Ack(h, 10);
        Ack(h, 10, (12, 13)); // beyond SND.MAX, but tcp_sacktag_write_queue stops before the blocks (packets_out 0)
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSACKDiscard]);
    }
}
