using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Without SACK a timeout's Loss phase holds at its recovery point until data above it is acknowledged (Linux's
/// tcp_is_non_sack_preventing_reopen: "Hold old state until something *above* high_seq is ACKed"; RFC 6582 §3.2): a
/// duplicate ACK there may answer the resent data, so it neither counts nor sends. tests/scripts/mtu/probe-timeout-without-sack.pkt:
/// the same on Linux 6.18.
/// </summary>
public class LossPhaseWithoutSackTests
{
    internal static readonly TcpConfig Config = new() { Mss = 1000, InitialWindowSegments = 10, TailLossProbe = false };

    internal static void Ack(Harness h, int ourOffset)
    {
        h.Send(TcpFlags.Ack, Their(0), Our(ourOffset), window: 60_000);
        h.Poll();
    }

    /// <summary>Four segments, a timeout, and their resends acknowledged one ACK at a time up to the recovery point.</summary>
    private static (Harness H, TcpConnection C) AtTheRecoveryPoint(bool sack)
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(50), Config, timestamps: false, sack: sack);
        c.Send(Bytes(4000));
        h.Poll();
        h.DrainSent();
        h.AdvanceToNextDeadline(); // the retransmission timeout resends the first segment
        Assert.Equal(Our(0), h.Next().Seq);
        h.Advance(Ms(50));
        Ack(h, 1000);
        h.Advance(Ms(50));
        Ack(h, 3000);
        h.Advance(Ms(50));
        Ack(h, 4000); // exactly what was sent before the timeout: the recovery point
        h.DrainSent();
        return (h, c);
    }

    [Fact]
    public void Without_sack_the_loss_phase_holds_at_the_recovery_point_and_duplicate_acks_there_send_nothing()
    {
        (Harness h, TcpConnection c) = AtTheRecoveryPoint(sack: false);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        c.Send(Bytes(3000));
        h.Poll();
        int sent = 0;
        while (h.TryNext() is not null) sent++;
        Assert.True(sent > 0);
        int delivered = (int)c.Info().DeliveredSegments;

        // Three duplicate ACKs: no limited transmit, no fast retransmit, nothing counted delivered (no tcp_add_reno_sack).
        for (int i = 0; i < 3; i++) Ack(h, 4000);
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(delivered, (int)c.Info().DeliveredSegments);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPRenoRecovery]);

        h.Advance(Ms(50));
        Ack(h, 5000); // above it: Open
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
    }

    [Fact]
    public void With_sack_the_acknowledgment_of_the_recovery_point_opens_at_once()
    {
        (Harness h, TcpConnection c) = AtTheRecoveryPoint(sack: true);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
    }
}
