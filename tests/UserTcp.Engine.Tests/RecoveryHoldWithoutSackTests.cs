using UserTcp.Wire;
using static UserTcp.Engine.Tests.LossPhaseWithoutSackTests; // its Config (MSS 1000, IW10, no probe) and Ack
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Without SACK, as Linux 6.18: a fast recovery holds at its recovery point until data above it is acknowledged
/// (tcp_try_undo_recovery → tcp_is_non_sack_preventing_reopen), and a timeout's Loss phase sends no new data for
/// duplicate ACKs (tcp_process_loss counts them only after data beyond high_seq went). tests/scripts/retransmission/
/// recovery-holds-at-recovery-point-without-sack.pkt and loss-phase-no-limited-transmit-without-sack.pkt: the same on Linux.
/// </summary>
public class RecoveryHoldWithoutSackTests
{
    private static int DrainCount(Harness h)
    {
        int sent = 0;
        while (h.TryNext() is not null) sent++;
        return sent;
    }

    /// <summary>Seven segments (SACK is RecoveryEndTests'); the second lost: three duplicate ACKs resend it; then the ACK of the recovery point (7000).</summary>
    private static (Harness H, TcpConnection C) AtTheRecoveryPoint()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(50), Config, timestamps: false, sack: false);
        c.Send(Bytes(7000));
        h.Poll();
        Assert.Equal(7, DrainCount(h));
        h.Advance(Ms(50));
        Ack(h, 1000);
        for (int i = 0; i < 3; i++) Ack(h, 1000);
        Assert.Equal(Our(1000), h.Next().Seq);
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        h.Advance(Ms(50));
        Ack(h, 7000);
        return (h, c);
    }

    [Fact]
    public void Without_sack_recovery_holds_at_its_recovery_point_and_duplicate_acks_there_send_nothing()
    {
        (Harness h, TcpConnection c) = AtTheRecoveryPoint();
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        int cwnd = c.CongestionWindow; // PRR's window, which the hold keeps (PrrWithoutSackTests pins its numbers)
        Assert.True(cwnd < c.SlowStartThreshold + 3 * 1000);

        c.Send(Bytes(6000));
        h.Poll();
        Assert.Equal(cwnd / 1000, DrainCount(h));
        int delivered = (int)c.Info().DeliveredSegments;

        // Three duplicate ACKs: no limited transmit, no fast retransmit, nothing counted, still Recovery.
        h.Advance(Ms(50));
        for (int i = 0; i < 3; i++) Ack(h, 7000);
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal(delivered, (int)c.Info().DeliveredSegments);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRenoRecovery]);

        // Data above it acknowledged: Open, and the window grows from ssthresh (Linux's tcp_end_cwnd_reduction).
        Ack(h, 8000);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.True(c.CongestionWindow > cwnd);
        Assert.True(DrainCount(h) > 0);
    }

    [Fact]
    public void A_timeout_in_the_hold_reduces_ssthresh_anew_as_the_recovery_was_answered()
    {
        (Harness h, TcpConnection c) = AtTheRecoveryPoint();
        int ssthresh = c.SlowStartThreshold;
        c.Send(Bytes(6000));
        h.Poll();
        h.DrainSent();
        h.AdvanceToNextDeadline(); // nothing answers: the retransmission timeout
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        // Linux's tcp_enter_loss: SND.UNA at high_seq, so ssthresh is computed again (CUBIC: 0.7 of cwnd, at least two).
        Assert.True(c.SlowStartThreshold < ssthresh, $"ssthresh {c.SlowStartThreshold}, held at {ssthresh}");
    }

    [Fact]
    public void Without_sack_duplicate_acks_in_a_loss_phase_send_no_new_data()
    {
        (Harness h, TcpConnection c) = ModernPeer.Established(Ms(50), Config, timestamps: false, sack: false);
        c.Send(Bytes(3000));
        h.Poll();
        Assert.Equal(3, DrainCount(h));
        h.AdvanceToNextDeadline(); // the timeout resends the first segment
        Assert.Equal(Our(0), h.Next().Seq);
        h.Advance(Ms(50));
        Ack(h, 1000); // no new data for F-RTO: go-back-N resends the other two, filling cwnd (2)
        Assert.Equal(Our(1000), h.Next().Seq);
        Assert.Equal(Our(2000), h.Next().Seq);
        h.ExpectNothing();
        c.Send(Bytes(1000));
        h.Poll();
        h.ExpectNothing();

        // Duplicate ACKs: no limited transmit (RFC 3042) in the Loss phase.
        h.Advance(Ms(50));
        for (int i = 0; i < 3; i++) Ack(h, 1000);
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);

        // The resends acknowledged (the recovery point): the new segment goes.
        h.Advance(Ms(50));
        Ack(h, 3000);
        Assert.Equal(Our(3000), h.Next().Seq);
        h.ExpectNothing();
    }
}
