using UserTcp.Wire;
using static UserTcp.Engine.Tests.LossPhaseWithoutSackTests; // its Config (MSS 1000, IW10, no probe) and Ack
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Without SACK a fast recovery's cwnd is RFC 6937's PRR, as Linux 6.18's tcp_cwnd_reduction has it (each duplicate ACK
/// a segment delivered, tcp_add_reno_sack), through the hold at the recovery point, and ssthresh once data above it is
/// acknowledged (tcp_end_cwnd_reduction); not RFC 6582's inflation and deflation. The same exchanges, step for step, as
/// tests/scripts/retransmission/prr-without-sack-one-loss.pkt and prr-without-sack-partial-ack.pkt, which pass on Linux.
/// </summary>
public class PrrWithoutSackTests
{
    private static readonly TcpConfig Reno = Config with { CongestionControl = CongestionControlAlgorithm.NewReno };

    /// <summary>Segments (of 1000) sent since the last call, by their offset / 1000.</summary>
    private static int[] Sent(Harness h)
    {
        var sent = new List<int>();
        while (h.TryNext() is { } segment) sent.Add((int)(segment.Seq - Our(0)) / 1000);
        return [.. sent];
    }

    private static void Expect(TcpConnection c, TcpCongestionState state, int cwnd, int ssthresh)
    {
        Assert.Equal(state, c.Info().CongestionState);
        Assert.Equal((cwnd * 1000, ssthresh * 1000), (c.CongestionWindow, c.SlowStartThreshold));
    }

    /// <summary>A first segment acknowledged (its ACK sets the window), then ten in flight at cwnd 10 (1-10); 1 is lost.</summary>
    private static (Harness H, TcpConnection C) TenInFlight()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(50), Reno, timestamps: false, sack: false);
        c.Send(Bytes(1000));
        h.Poll();
        Assert.Equal([0], Sent(h));
        h.Advance(Ms(50));
        Ack(h, 1000);
        c.Send(Bytes(10_000));
        h.Poll();
        Assert.Equal(Enumerable.Range(1, 10), Sent(h));
        h.Advance(Ms(50));
        return (h, c);
    }

    /// <summary>Three duplicate ACKs: Disorder for two, then Recovery, ssthresh 5, cwnd 7 (6 in flight + 1), and 1 resent.</summary>
    private static (Harness H, TcpConnection C) ThirdDuplicate()
    {
        (Harness h, TcpConnection c) = TenInFlight();
        Ack(h, 1000);
        Ack(h, 1000);
        Assert.Empty(Sent(h));
        Assert.Equal(TcpCongestionState.Disorder, c.Info().CongestionState);
        Assert.Equal(10_000, c.CongestionWindow);
        Ack(h, 1000);
        Assert.Equal([1], Sent(h));
        Expect(c, TcpCongestionState.Recovery, 7, 5); // not NewReno's ssthresh + 3 (8)
        c.Send(Bytes(10_000)); // more to send: 7 in flight at cwnd 7, none goes
        h.Poll();
        Assert.Empty(Sent(h));
        return (h, c);
    }

    /// <summary>
    /// Duplicates 4 and 5: cwnd falls by PRR's share to 6, then 5, nothing sent (NewReno's inflated 9 and 10 would send
    /// nothing either); the next <paramref name="sending"/> each send one new segment (11 on) at cwnd 5 (NewReno: none
    /// until its inflation passes what is in flight).
    /// </summary>
    private static void DownToSsthresh(Harness h, TcpConnection c, int sending)
    {
        Ack(h, 1000);
        Expect(c, TcpCongestionState.Recovery, 6, 5);
        Ack(h, 1000);
        Expect(c, TcpCongestionState.Recovery, 5, 5);
        Assert.Empty(Sent(h));
        for (int i = 0; i < sending; i++)
        {
            Ack(h, 1000);
            Assert.Equal([11 + i], Sent(h));
            Expect(c, TcpCongestionState.Recovery, 5, 5);
        }
    }

    [Fact]
    public void One_loss_prr_brings_cwnd_to_ssthresh_holds_it_at_the_recovery_point_and_opens_at_ssthresh_above_it()
    {
        (Harness h, TcpConnection c) = ThirdDuplicate();
        DownToSsthresh(h, c, sending: 4); // 6 to 9

        // The ACK of exactly the recovery point (11000): still Recovery, PRR sends one more, cwnd 5 (not deflated to 2).
        h.Advance(Ms(10));
        Ack(h, 11_000);
        Assert.Equal([15], Sent(h));
        Expect(c, TcpCongestionState.Recovery, 5, 5);
        // Duplicates there: nothing sent, cwnd as it was.
        for (int i = 0; i < 3; i++) Ack(h, 11_000);
        Assert.Empty(Sent(h));
        Expect(c, TcpCongestionState.Recovery, 5, 5);

        // Above it: Open at ssthresh, and the one segment it frees goes.
        h.Advance(Ms(10));
        Ack(h, 12_000);
        Expect(c, TcpCongestionState.Open, 5, 5);
        Assert.Equal([16], Sent(h));
    }

    [Fact]
    public void A_partial_ack_resends_the_next_hole_under_prr_and_the_recovery_point_holds_cwnd_at_what_is_in_flight()
    {
        (Harness h, TcpConnection c) = ThirdDuplicate(); // 1 and 5 lost
        DownToSsthresh(h, c, sending: 3); // 6 to 8

        // The partial ACK (5000): the next hole at once and one new segment, cwnd 5 (NewReno would deflate by 4 - 1).
        h.Advance(Ms(10));
        Ack(h, 5000);
        Assert.Equal([5, 14], Sent(h));
        Expect(c, TcpCongestionState.Recovery, 5, 5);
        Ack(h, 5000);
        Assert.Equal([15], Sent(h));
        Ack(h, 5000);
        Assert.Equal([16], Sent(h));

        // The recovery point (11000): PRR's share is already sent, so cwnd is what is in flight (6) and nothing goes.
        h.Advance(Ms(10));
        Ack(h, 11_000);
        Assert.Empty(Sent(h));
        Expect(c, TcpCongestionState.Recovery, 6, 5);
        Ack(h, 11_000);
        Ack(h, 11_000);
        Assert.Empty(Sent(h));
        Expect(c, TcpCongestionState.Recovery, 6, 5);

        // Above it: Open at ssthresh, 5 in flight so nothing goes; the next ACK frees one segment.
        h.Advance(Ms(10));
        Ack(h, 12_000);
        Expect(c, TcpCongestionState.Open, 5, 5);
        Assert.Empty(Sent(h));
        Ack(h, 13_000);
        Assert.Equal([17], Sent(h));
        Expect(c, TcpCongestionState.Open, 5, 5);
    }
}
