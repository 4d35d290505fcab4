using UserTcp.Wire;
using static UserTcp.Engine.Tests.Ecn.EcnFixtures;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests.Ecn;

/// <summary>The data sender's half: ECT(0) on new data only (RFC 3168 §6.1.5), the reduction for ECE and its CWR (§6.1.2).</summary>
public class EcnSenderTests
{
    private static void PeerAck(Harness h, int acked, bool ece = false) =>
        h.Send(TcpFlags.Ack | (ece ? TcpFlags.Ece : 0), PeerIsn + 1, Our(acked), window: 502);

    [Fact]
    public void New_data_leaves_ect0_and_the_upper_tos_bits_stay_the_applications()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        c.TypeOfService = 0xb8; // DSCP EF
        List<Sent> sent = SendSegments(h, c, 2);
        Assert.All(sent, s => Assert.Equal(0xba, s.TypeOfService));
        PeerData(h, 0); // our ACK of it is not ECN-capable
        h.AdvanceToNextDeadline();
        Sent ack = h.Expect(TcpFlags.Ack, Our(2 * Mss));
        Assert.Equal(0xb8, ack.TypeOfService);
    }

    [Fact]
    public void Retransmissions_a_bare_fin_and_probes_are_not_ect()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        Assert.Equal(EcnCodepoint.Ect0, Assert.Single(SendSegments(h, c, 1)).Ecn);
        h.AdvanceToNextDeadline(); // the RTO (loss probes need SACK, which this peer did not offer)
        Sent resent = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), payloadLength: Mss);
        Assert.Equal(EcnCodepoint.NotEct, resent.Ecn);
        PeerAck(h, Mss);
        h.ExpectNothing();
        c.Shutdown(ShutdownDirection.Send);
        h.Poll();
        Assert.Equal(EcnCodepoint.NotEct, h.Expect(TcpFlags.Fin | TcpFlags.Ack, Our(Mss)).Ecn);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(Mss) + 1, window: 502);
    }

    [Fact]
    public void A_zero_window_probe_and_a_keepalive_are_not_ect()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(0), window: 0);
        c.Send(new byte[100]);
        h.Poll();
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        Sent probe = h.Expect(TcpFlags.Ack, Our(-1));
        Assert.Equal(EcnCodepoint.NotEct, probe.Ecn);

        (Harness k, TcpConnection kc) = EcnEstablished(new TcpConfig { KeepAlive = true });
        Assert.True(kc.EcnEnabled);
        k.AdvanceToNextDeadline();
        Assert.Equal(EcnCodepoint.NotEct, k.Expect(TcpFlags.Ack, Our(-1)).Ecn);
    }

    [Fact]
    public void Without_ecn_new_data_is_not_ect()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        Assert.All(SendSegments(h, c, 2), s => Assert.Equal(EcnCodepoint.NotEct, s.Ecn));
    }

    [Fact]
    public void An_echo_reduces_cwnd_once_per_window_without_a_retransmission_and_the_next_new_data_carries_cwr()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        c.Send(new byte[30 * Mss]);
        h.Poll();
        for (int i = 0; i < 10; i++) Assert.Equal(TcpFlags.Ack, h.Next().Flags & ~TcpFlags.Psh); // IW10, no CWR yet
        h.ExpectNothing();
        int cwnd = c.CongestionWindow;

        PeerAck(h, Mss, ece: true);
        Assert.Equal(TcpCongestionState.Cwr, c.Info().CongestionState);
        Assert.Equal((int)(cwnd * 0.7), c.SlowStartThreshold); // CUBIC's beta, as for a loss
        Assert.Equal(1, c.EcnReductions);
        // PRR (Linux's tcp_cwnd_reduction): 9 in flight above ssthresh 7, one delivered: ceil(7 × 1 / 10) = 1 may go.
        Assert.Equal(10 * Mss, c.CongestionWindow);
        Sent first = h.Expect(TcpFlags.Ack | TcpFlags.Cwr, Our(10 * Mss), payloadLength: Mss);
        Assert.Equal(EcnCodepoint.Ect0, first.Ecn);
        h.ExpectNothing();
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission));

        // More echoes in the same window: no second reduction, and no second CWR.
        PeerAck(h, 2 * Mss, ece: true);
        PeerAck(h, 3 * Mss, ece: true);
        Assert.Equal(1, c.EcnReductions);
        Assert.Equal((int)(cwnd * 0.7), c.SlowStartThreshold);
        while (h.TryNext() is Sent s) Assert.Equal(TcpFlags.None, s.Flags & TcpFlags.Cwr);

        // The reduction lasts until SND.UNA passes where it began (SND.MAX then: 10 segments), then cwnd is ssthresh.
        PeerAck(h, 10 * Mss);
        Assert.Equal(TcpCongestionState.Cwr, c.Info().CongestionState);
        PeerAck(h, 11 * Mss);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        h.DrainSent();
        // A later echo is a new window's: a second reduction, a second CWR.
        PeerAck(h, 12 * Mss, ece: true);
        Assert.Equal(2, c.EcnReductions);
        Assert.Contains(Drain(h), s => (s.Flags & TcpFlags.Cwr) != 0);
        Assert.Equal(2, h.Log.Of(TcpEventKind.CongestionWindowReduced).Count());
        Assert.Equal(2, h.Engine.Counters[MibCounter.UserTcpEcnEchoReductions]);
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission));
    }

    private static List<Sent> Drain(Harness h)
    {
        var all = new List<Sent>();
        while (h.TryNext() is Sent s) all.Add(s);
        return all;
    }

    [Fact]
    public void An_echo_in_fast_recovery_reduces_nothing_more()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        c.Send(new byte[10 * Mss]);
        h.Poll();
        h.DrainSent();
        // The first segment is lost: three duplicate ACKs start NewReno's fast recovery, which reduces the window.
        for (int i = 0; i < 3; i++) PeerAck(h, 0);
        Assert.True(c.InFastRecovery);
        int ssthresh = c.SlowStartThreshold;
        Sent resent = h.Expect(TcpFlags.Ack, Our(0), payloadLength: Mss); // a retransmission never carries CWR
        Assert.Equal(EcnCodepoint.NotEct, resent.Ecn);
        PeerAck(h, 0, ece: true);
        Assert.Equal(ssthresh, c.SlowStartThreshold);
        Assert.Equal(0, c.EcnReductions);
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
    }

    [Fact]
    public void A_fast_recovery_after_an_echo_keeps_the_echos_reduction()
    {
        // Linux's tcp_enter_recovery in TCP_CA_CWR: tcp_init_cwnd_reduction is not run again.
        (Harness h, TcpConnection c) = EcnEstablished();
        c.Send(new byte[10 * Mss]);
        h.Poll();
        h.DrainSent();
        PeerAck(h, Mss, ece: true);
        int ssthresh = c.SlowStartThreshold;
        for (int i = 0; i < 3; i++) PeerAck(h, Mss);
        Assert.True(c.InFastRecovery);
        Assert.Equal(ssthresh, c.SlowStartThreshold);
        Assert.Equal(1, c.EcnReductions);
    }

    [Fact]
    public void An_echo_without_ecn_negotiated_or_with_nothing_in_flight_is_ignored()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        c.Send(new byte[4 * Mss]);
        h.Poll();
        h.DrainSent();
        PeerAck(h, Mss, ece: true);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);

        (Harness e, TcpConnection ec) = EcnEstablished();
        PeerAck(e, 0, ece: true);
        Assert.Equal(TcpCongestionState.Open, ec.Info().CongestionState);
        Assert.Equal(0, ec.EcnReductions);
    }

    [Fact]
    public void A_timeout_queues_cwr_for_the_next_new_data_not_for_its_retransmission()
    {
        // Linux's tcp_enter_loss: tcp_ecn_queue_cwr.
        (Harness h, TcpConnection c) = EcnEstablished();
        SendSegments(h, c, 1);
        h.AdvanceToNextDeadline();
        Sent resent = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), payloadLength: Mss);
        Assert.Equal(TcpFlags.None, resent.Flags & TcpFlags.Cwr);
        PeerAck(h, Mss);
        c.Send(new byte[Mss]);
        h.Poll();
        Sent next = h.Expect(TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Cwr, Our(Mss), payloadLength: Mss);
        Assert.Equal(EcnCodepoint.Ect0, next.Ecn);
        Assert.Equal(0, c.EcnReductions);
    }
}
