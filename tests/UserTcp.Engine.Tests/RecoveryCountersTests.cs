using UserTcp.Wire;
using static UserTcp.Engine.Tests.LossPhaseRecoveryTests;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Linux 6.18's loss-recovery counters: TCPSackRecovery and TCPRenoRecovery once per tcp_enter_recovery; TCPFastRetrans
/// and TCPSlowStartRetrans per segment tcp_xmit_retransmit_queue sent, by whether a timeout's Loss phase was on, never
/// the timer's own resend of the oldest segment (tcp_retransmit_timer) nor a loss probe; TCPLossProbes once per probe
/// that left (tcp_send_loss_probe), however many segments it took. Nothing the local queue refused counts.
/// </summary>
public class RecoveryCountersTests
{
    private static long[] Counts(Harness h) =>
    [
        h.Engine.Counters[MibCounter.TcpExtTCPSackRecovery], h.Engine.Counters[MibCounter.TcpExtTCPRenoRecovery],
        h.Engine.Counters[MibCounter.TcpExtTCPFastRetrans], h.Engine.Counters[MibCounter.TcpExtTCPSlowStartRetrans],
        h.Engine.Counters[MibCounter.TcpExtTCPLossProbes],
    ];

    /// <summary><paramref name="segments"/> full segments written at an RTT of 10 ms, the first <paramref name="sent"/> sent, then the probe timer fires.</summary>
    private static Harness FlightThenProbeTimer(int segments, int sent, bool refusing = false)
    {
        (Harness h, TcpConnection c) = Established(Ms(10));
        c.Send(Bytes(segments * Mss));
        h.Poll();
        for (int i = 0; i < sent; i++) h.Next();
        h.Refusing = refusing;
        h.AdvanceToNextDeadline();
        return h;
    }

    [Fact]
    public void A_sack_recovery_counts_once_and_each_resend_in_it_as_a_fast_retransmit()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(8 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, 8), Sent(h));
        h.AdvanceTo(Ms(200));
        Ack(h, 0, (2, 5)); // three SACKed above 0 and 1: both lost (RACK, no reordering seen)
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.Equal([0, 1], Sent(h));
        Assert.Equal([1, 0, 2, 0, 0], Counts(h));
        h.AdvanceTo(Ms(210));
        Ack(h, 0, (2, 6)); // more SACKed within the recovery: no second entry
        h.AdvanceTo(Ms(300));
        Ack(h, 8);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal([1, 0, 2, 0, 0], Counts(h));
    }

    [Fact]
    public void A_reno_recovery_counts_as_reno_and_the_partial_acks_resend_too()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false, sack: false);
        c.Send(Bytes(6 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, 6), Sent(h));
        h.AdvanceTo(Ms(200));
        for (int i = 0; i < 3; i++) Ack(h, 0);
        Assert.Equal([0], Sent(h));
        Assert.Equal([0, 1, 1, 0, 0], Counts(h));
        h.AdvanceTo(Ms(300));
        Ack(h, 2); // partial ACK (RFC 6582 §3.2 step 3): the next hole goes, still the same recovery
        Assert.Equal([2], Sent(h));
        Assert.Equal([0, 1, 2, 0, 0], Counts(h));
    }

    [Fact]
    public void After_a_timeout_its_own_resend_counts_neither_the_loss_phase_counts_slow_start_and_a_recovery_from_it_fast()
    {
        (Harness h, TcpConnection c) = LossPhaseAtCwndFour(10); // the timer resent 0, the Loss phase 1-6
        Assert.Equal([0, 0, 0, 6, 0], Counts(h)); // tcp_retransmit_timer's own tcp_retransmit_skb: neither counter
        h.AdvanceTo(Ms(730));
        Ack(h, 3, (4, 7)); // 3's resend lost again: the Loss phase gives way to Recovery (tcp_enter_recovery counts)
        Assert.Equal([3, 7], Sent(h));
        Assert.Equal([1, 0, 2, 6, 0], Counts(h));
        h.AdvanceTo(Ms(830));
        Ack(h, 8);
        Assert.Equal([8, 9], Sent(h));
        h.AdvanceTo(Ms(930));
        Ack(h, 10);
        // As tests/scripts/sack/rto-resend-lost-again-enters-recovery.pkt counts on Linux 6.18 (nstat after it):
        // TCPSackRecovery 1, TCPFastRetrans 4, TCPSlowStartRetrans 6, RetransSegs 11 with the timer's own resend.
        Assert.Equal([1, 0, 4, 6, 0], Counts(h));
        Assert.Equal(11, h.Engine.Counters[MibCounter.TcpRetransSegs]);
    }

    [Fact]
    public void A_smaller_path_mtus_resends_count_as_slow_start_as_in_linuxs_loss_state()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(3 * PlainMss));
        h.Poll();
        Assert.Equal([0, 1, 2], Sent(h));
        byte[] icmp = IcmpTests.IcmpError(IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.FragmentationNeeded, Our(PlainMss), mtu: 1280);
        h.Engine.Receive(icmp, h.Now, h); // tcp_simple_retransmit: Loss, then tcp_xmit_retransmit_queue
        int resent = 0;
        while (h.TryNext() is Sent) resent++;
        Assert.True(resent > 0);
        Assert.Equal([0, 0, 0, resent, 0], Counts(h));
    }

    [Fact]
    public void A_paired_probe_of_new_data_counts_once()
    {
        Harness h = FlightThenProbeTimer(14, sent: 10); // four more wait for cwnd: the probe is new data
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        Assert.Equal([0, 0, 0, 0, 1], Counts(h)); // Linux's probe skb of two segments counts once too
    }

    [Fact]
    public void A_probe_that_resends_the_last_segment_is_a_probe_not_a_fast_retransmit()
    {
        Harness h = FlightThenProbeTimer(3, sent: 3); // nothing new waits: the probe resends the last segment
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2 * Mss), Their(0), Mss);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpRetransSegs]);
        Assert.Equal([0, 0, 0, 0, 1], Counts(h));
    }

    [Fact]
    public void Refused_probes_and_resends_count_nothing_but_the_recovery_they_belong_to()
    {
        Harness h = FlightThenProbeTimer(3, sent: 3, refusing: true);
        Assert.Equal(1, h.Refused);
        Assert.Equal([0, 0, 0, 0, 0], Counts(h));

        (h, TcpConnection c) = Established(Ms(100), Plain, timestamps: false);
        c.Send(Bytes(8 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, 8), Sent(h));
        h.AdvanceTo(Ms(200));
        h.Refusing = true;
        Ack(h, 0, (2, 5));
        Assert.Equal(TcpCongestionState.Recovery, c.Info().CongestionState);
        Assert.True(h.Refused > 0);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRetransFail]);
        Assert.Equal([1, 0, 0, 0, 0], Counts(h));
    }
}
