using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Retransmission of SYN, SYN-ACK, FIN and data: the RFC 6298 timer, its backoff and give-up, Karn's rule.
/// Fixtures finish their handshake at t = 0, so the SYN-ACK's RTT sample is 0 and the RTO is MinRto (200 ms).
/// </summary>
public class RetransmissionTests
{
    /// <summary>The RFC 5681 / RFC 6582 numbers below are NewReno's (CUBIC, the default, has its own tests).</summary>
    private static readonly TcpConfig NewRenoConfig = new() { CongestionControl = CongestionControlAlgorithm.NewReno };

    // ───────────── SYN (item 1) ─────────────

    [Fact]
    public void Syn_is_retransmitted_at_1_3_7_15_31_63_s_and_connect_times_out_at_127_s()
    {
        (Harness h, TcpConnection c) = SynSent(); // SYN at t = 0, RTO 1 s
        int[] schedule = [1, 3, 7, 15, 31, 63];
        foreach (int at in schedule)
        {
            Assert.Equal(S(at), h.AdvanceToNextDeadline());
            Sent syn = h.Expect(TcpFlags.Syn, Isn, 0);
            Assert.Equal((ushort)1460, syn.Options.MaxSegmentSize);
            Assert.NotNull(syn.Options.WindowScale);
            h.ExpectNothing();
            Assert.Equal(TcpState.SynSent, c.State);
        }

        Assert.Equal(S(127), h.AdvanceToNextDeadline()); // 6 retries (SynRetries) and the last RTO of 64 s ran out
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Empty(h.Engine.Connections);
        Assert.Null(h.Engine.PollAt);
        Assert.Equal([(S(1), 1), (S(3), 2), (S(7), 3), (S(15), 4), (S(31), 5), (S(63), 6)], h.Retransmissions());
        Assert.Equal(TcpError.TimedOut, Assert.Single(h.Log.Of(TcpEventKind.ConnectionError)).Error);
    }

    [Fact]
    public void Syn_ack_arriving_after_syn_retransmissions_establishes_and_stops_the_timer()
    {
        (Harness h, TcpConnection c) = SynSent();
        Assert.Equal(S(1), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn, 0);
        Assert.Equal(S(3), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn, 0);

        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Null(h.Engine.PollAt);
    }

    // ───────────── SYN-ACK (item 2) ─────────────

    [Fact]
    public void Syn_ack_is_retransmitted_five_times_then_the_half_open_connection_is_dropped_at_63_s()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(); // SYN-ACK at t = 0; the final ACK never comes
        Assert.Equal(1, listener.SynQueueLength);
        int[] schedule = [1, 3, 7, 15, 31];
        foreach (int at in schedule)
        {
            Assert.Equal(S(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
            h.ExpectNothing();
            Assert.Equal(1, listener.SynQueueLength);
        }

        Assert.Equal(S(63), h.AdvanceToNextDeadline()); // SynAckRetries = 5, then the last RTO of 32 s
        h.ExpectNothing(); // dropped silently, as Linux drops an expired request sock
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Empty(h.Engine.Connections);
        Assert.Null(h.Engine.PollAt);
        Assert.Equal([(S(1), 1), (S(3), 2), (S(7), 3), (S(15), 4), (S(31), 5)], h.Retransmissions());

        // The final ACK arriving now finds only the listener, which answers it with <SEQ=SEG.ACK><CTL=RST>.
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow);
        h.Expect(TcpFlags.Rst, Isn + 1);
        Assert.False(listener.TryAccept(out _));
    }

    [Fact]
    public void Retransmitted_syn_from_the_peer_makes_syn_received_send_its_syn_ack_again()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(); // our SYN-ACK at t = 0 is lost
        h.AdvanceTo(Ms(500));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions); // the peer's SYN again, same ISN
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal((ushort)1460, synAck.Options.MaxSegmentSize);
        h.ExpectNothing();
        Assert.Equal(1, listener.SynQueueLength);
        Assert.Single(h.Engine.Connections);
        Assert.Single(h.Log.Of(TcpEventKind.Retransmission));

        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(0, listener.SynQueueLength);
        h.ExpectNothing();
    }

    // ───────────── FIN (item 3) ─────────────

    [Fact]
    public void Lost_ack_of_our_fin_makes_fin_wait_1_retransmit_it_with_backoff()
    {
        (Harness h, TcpConnection c) = FinWait1(); // FIN at t = 0
        Assert.Equal(Ms(200), c.Rto);
        int[] schedule = [200, 600, 1400, 3000];
        foreach (int at in schedule)
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
            h.ExpectNothing();
            Assert.Equal(TcpState.FinWait1, c.State);
        }
        Assert.Equal([(Ms(200), 1), (Ms(600), 2), (Ms(1400), 3), (Ms(3000), 4)], h.Retransmissions());

        h.AdvanceTo(Ms(3100));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        h.ExpectNothing();
    }

    [Fact]
    public void Lost_ack_of_our_fin_makes_closing_retransmit_it_with_backoff()
    {
        (Harness h, TcpConnection c) = Closing(); // FINs crossed at t = 0; ours is unacknowledged
        int[] schedule = [200, 600, 1400];
        foreach (int at in schedule)
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);
            h.ExpectNothing();
            Assert.Equal(TcpState.Closing, c.State);
        }

        h.AdvanceTo(Ms(1500));
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(Ms(61_500), c.TimerDeadline(TcpTimer.TimeWait));
    }

    [Fact]
    public void Lost_final_ack_makes_last_ack_retransmit_fin()
    {
        (Harness h, TcpConnection c) = LastAck(); // our FIN went out when the delayed ACK of the peer's FIN was due
        TimeSpan fin = h.Now;
        Assert.Equal(AckTimeout.Jiffy, fin);
        int[] schedule = [200, 600, 1400];
        foreach (int at in schedule)
        {
            Assert.Equal(fin + Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);
            h.ExpectNothing();
            Assert.Equal(TcpState.LastAck, c.State);
        }

        h.AdvanceTo(fin + Ms(1500));
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: PeerWindow);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
        Assert.Empty(h.Engine.Connections);
        h.ExpectNothing();
    }

    [Theory]
    [InlineData("FIN-WAIT-1")]
    [InlineData("CLOSING")]
    [InlineData("LAST-ACK")]
    public void Orphaned_connection_gives_up_on_its_fin_after_8_retransmissions_at_102_2_s(string state)
    {
        (Harness h, TcpConnection c, uint ack) = state switch
        {
            "FIN-WAIT-1" => With(FinWait1(), PeerIsn + 1),
            "CLOSING" => With(Closing(), PeerIsn + 2),
            _ => With(LastAck(), PeerIsn + 2),
        };
        Assert.True(c.IsOrphaned);
        TimeSpan fin = h.Now; // 0, or 40 ms for LAST-ACK (the FIN waited for the delayed ACK of the peer's FIN)
        // 200 ms doubling: the 8th retransmission at 51.0 s, then an RTO of 51.2 s (Linux's orphan give-up is the same 102.2 s).
        int[] schedule = [200, 600, 1_400, 3_000, 6_200, 12_600, 25_400, 51_000];
        foreach (int at in schedule)
        {
            Assert.Equal(fin + Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, ack);
            h.ExpectNothing();
        }

        Assert.Equal(fin + Ms(102_200), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(8, h.Retransmissions().Length);
    }

    [Fact]
    public void Half_closed_fin_wait_1_retransmits_its_fin_data_retries_times_not_orphan_retries()
    {
        (Harness h, TcpConnection c) = FinWait1(orphan: false);
        Assert.False(c.IsOrphaned);
        for (int i = 1; i <= 15; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        }
        Assert.Equal(Ms(924_600), h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    // ───────────── data (item 6) ─────────────

    [Fact]
    public void Data_rto_doubles_from_1_s_capped_at_max_rto_and_gives_up_after_15_retries()
    {
        // RFC 6298's 1 s floor (instead of Linux's 200 ms), so the handshake's RTT sample of 0 leaves the RTO at 1 s.
        (Harness h, TcpConnection c) = Established(new TcpConfig { MinRto = S(1) });
        Assert.Equal(S(1), c.Rto);
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(S(1), c.TimerDeadline(TcpTimer.Retransmission));

        // 1, 2, 4, 8, 16, 32, 64 s, then 128 s capped at MaxRto = 120 s for the rest.
        int[] schedule = [1, 3, 7, 15, 31, 63, 127, 247, 367, 487, 607, 727, 847, 967, 1087];
        foreach (int at in schedule)
        {
            Assert.Equal(S(at), h.AdvanceToNextDeadline());
            Sent again = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
            Assert.Equal(Bytes(100), again.Payload);
            h.ExpectNothing();
            Assert.Equal(TcpState.Established, c.State);
        }
        Assert.Equal(S(120), c.Rto);
        Assert.Equal(Enumerable.Range(1, 15), h.Retransmissions().Select(r => r.Attempt));

        Assert.Equal(S(1207), h.AdvanceToNextDeadline()); // DataRetries = 15 used up; the last RTO of 120 s ran out
        h.ExpectNothing(); // no RST: Linux's tcp_write_err just closes
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(TcpError.TimedOut, Assert.Throws<TcpException>(() => c.Receive(new byte[10], out _)).Error);
    }

    [Fact]
    public void Data_times_out_at_924_6_s_with_linux_defaults()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        // 0.2 s doubling to 102.4 s, then 120 s: Linux's well-known 924.6 s for tcp_retries2 = 15.
        long[] schedule = [200, 600, 1_400, 3_000, 6_200, 12_600, 25_400, 51_000, 102_200, 204_600, 324_600, 444_600, 564_600, 684_600, 804_600];
        foreach (long at in schedule)
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        }
        Assert.Equal(Ms(924_600), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    [Fact]
    public void Timely_syn_ack_gives_an_rtt_sample_that_lowers_the_rto_from_1_s_to_min_rto()
    {
        (Harness h, TcpConnection c) = SynSent();
        Assert.Equal(S(1), c.Rto);
        h.AdvanceTo(Ms(30));
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(Ms(30), c.SmoothedRtt);
        Assert.Equal(Ms(200), c.Rto); // 30 + 4 × 15 = 90 ms, raised to MinRto

        c.Send(Bytes(10));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), PeerIsn + 1, 10);
        Assert.Equal(Ms(230), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), PeerIsn + 1, 10);
    }

    [Fact]
    public void Rtt_samples_set_the_rto_to_srtt_plus_four_rttvar_and_a_steady_rtt_lowers_it()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(300));
        Assert.Equal(Ms(300), c.SmoothedRtt);
        Assert.Equal(Ms(900), c.Rto); // SRTT 300 + 4 × RTTVAR 150

        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Ms(1200), c.TimerDeadline(TcpTimer.Retransmission));

        h.AdvanceTo(Ms(600));
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow); // a second sample of 300 ms
        Assert.Equal(Ms(300), c.SmoothedRtt);
        Assert.Equal(Ms(750), c.Rto); // RTTVAR 3/4 × 150 + 1/4 × 0 = 112.5 ms
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));

        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(100), Their(0), 100);
        Assert.Equal(Ms(1350), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(100), Their(0), 100);
    }

    [Fact]
    public void Karn_rule_takes_no_rtt_sample_from_a_retransmitted_segment()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(300)); // RTO 900 ms
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100); // t = 0.3 s
        Assert.Equal(Ms(1200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100); // RTO 1.8 s now

        h.AdvanceTo(Ms(1250)); // the ACK: 950 ms after the original, 50 ms after the retransmission, ambiguous
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow);
        Assert.Equal(Ms(300), c.SmoothedRtt);

        // The next new segment is timed again: its ACK 100 ms later is a valid sample.
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(100), Their(0), 100);
        h.AdvanceTo(Ms(1350));
        h.Send(TcpFlags.Ack, Their(0), Our(200), window: PeerWindow);
        Assert.Equal(Ms(275), c.SmoothedRtt); // 7/8 × 300 + 1/8 × 100
        Assert.Equal(Ms(925), c.Rto); // RTTVAR 3/4 × 150 + 1/4 × 200 = 162.5 ms
    }

    [Fact]
    public void Karn_rule_keeps_the_backed_off_rto_for_new_data_until_a_valid_rtt_sample()
    {
        (Harness h, TcpConnection c) = EstablishedAfter(Ms(300)); // RTO 900 ms
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Ms(1200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Ms(1800), c.Rto);

        h.AdvanceTo(Ms(1250));
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: PeerWindow); // acknowledges only a retransmitted segment
        // RFC 6298 §5 (after 5.7) and Karn/Partridge: the backed-off RTO stays until a new RTT measurement collapses it.
        // Linux: tcp_ack_update_rtt resets icsk_backoff / icsk_rto only on a valid sample ("RFC6298: only reset backoff
        // on valid RTT measurement").
        Assert.Equal(Ms(1800), c.Rto);

        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(100), Their(0), 100);
        Assert.Equal(Ms(3050), c.TimerDeadline(TcpTimer.Retransmission));
    }

    [Fact]
    public void Karn_rule_takes_no_rtt_sample_from_a_syn_ack_sent_again_for_a_retransmitted_syn()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(); // SYN-ACK at t = 0, lost
        h.AdvanceTo(Ms(500));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // SYN-ACK again at 0.5 s
        h.AdvanceTo(Ms(550));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow); // answers the copy at 0.5 s, not the one at 0
        Assert.True(listener.TryAccept(out TcpConnection c));
        // RFC 6298 §3: no sample from a retransmitted segment, so SRTT is still unset (not 550 + 4 × 275 = 1650 ms measured
        // from the lost original). Linux: tcp_synack_rtt_meas needs !req->num_retrans, and then tcp_init_metrics falls back
        // to 3 s because the handshake gave no sample (checked on Linux 6.18); so does UserTcp (Sender.Handshake.cs).
        Assert.Equal(TimeSpan.Zero, c.SmoothedRtt);
        Assert.Equal(S(3), c.Rto);
    }

    [Fact]
    public void Rto_is_reinitialized_to_3_s_when_data_starts_after_a_syn_ack_retransmission_timeout()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        Assert.Equal(S(1), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // the timer expired awaiting the ACK of our SYN
        h.AdvanceTo(Ms(1100));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow); // no valid sample (Karn)
        Assert.True(listener.TryAccept(out TcpConnection c));

        // RFC 6298 §5.7: "the RTO MUST be re-initialized to 3 seconds when data transmission begins"; Linux does the
        // same in tcp_init_metrics (TCP_TIMEOUT_FALLBACK) whenever the handshake left no RTT sample.
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(S(3), c.Rto);
        Assert.Equal(Ms(4100), c.TimerDeadline(TcpTimer.Retransmission));
    }

    [Fact]
    public void Retransmission_timeout_resends_one_segment_then_slow_starts_from_one()
    {
        (Harness h, TcpConnection c) = Established(NewRenoConfig); // RTO 200 ms
        c.Send(Bytes(10 * 1460));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();

        Assert.Equal(Ms(200), h.AdvanceToNextDeadline()); // no ACK at all
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 1460); // only the first segment: cwnd = LW = 1 SMSS (RFC 5681 §3.1)
        h.ExpectNothing();
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(5 * 1460, c.SlowStartThreshold); // max(FlightSize / 2, 2 SMSS)

        h.AdvanceTo(Ms(250));
        h.Send(TcpFlags.Ack, Their(0), Our(1460), window: PeerWindow);
        Assert.Equal(2 * 1460, c.CongestionWindow);
        h.Expect(TcpFlags.Ack, Our(1460), Their(0), 1460); // go-back-N from SND.UNA, two segments now: one TSO packet
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2920), Their(0), 1460); // as Linux resends its skb, PSH on the packet's last
        h.ExpectNothing();
    }

    // ───────────── fast retransmit and NewReno (item 7) ─────────────

    private const int Mss = 1460;

    [Fact]
    public void Two_duplicate_acks_do_not_trigger_fast_retransmit()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(10 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // segment 2 arrived, 1 did not
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // segment 3
        h.ExpectNothing();
        Assert.False(c.InFastRecovery);
        Assert.Equal(10 * Mss, c.CongestionWindow);

        // Reordering, not loss: segment 1 arrives late and everything is acknowledged.
        h.Send(TcpFlags.Ack, Their(0), Our(10 * Mss), window: PeerWindow);
        h.ExpectNothing();
        Assert.False(c.InFastRecovery);
        Assert.Equal(Our(10 * Mss), c.SndUna.Value);
    }

    [Fact]
    public void Third_duplicate_ack_fast_retransmits_and_newreno_recovers_two_holes()
    {
        (Harness h, TcpConnection c) = Established(NewRenoConfig);
        c.Send(Bytes(20 * Mss));
        h.Poll();
        // IW10: segments 1–10, in TSO packets of half of cwnd (no RTT yet: the pacing rate is unbounded), PSH on each one's last.
        for (int i = 0; i < 10; i++) h.Expect(i % 5 == 4 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, Our(i * Mss), Their(0), Mss);
        h.ExpectNothing();

        // Segments 1 and 5 are lost. 2, 3, 4 arrive: three duplicate ACKs; the first two each release a new segment
        // (RFC 3042 limited transmit), the third fast retransmits.
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss); // segment 11
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss); // segment 12
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss); // fast retransmit of segment 1
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Equal(5 * Mss, c.SlowStartThreshold); // FlightSize 12 segments less the 2 of limited transmit (RFC 5681 §3.2 step 2), / 2
        // RFC 6937 PRR, as Linux's tcp_cwnd_reduction without SACK: 8 in flight (12 less 3 reported, less 1 lost) plus
        // ceil(ssthresh × delivered / RecoverFS) = ceil(5 × 1 / 10) = 1 to send. Not NewReno's ssthresh + 3 SMSS (8).
        Assert.Equal(9 * Mss, c.CongestionWindow);
        (TimeSpan _, int attempt) = Assert.Single(h.Retransmissions());
        Assert.Equal(3, attempt);

        // 6–10, 11 and 12 arrive: seven more duplicates. PRR sends ssthresh/RecoverFS of what they deliver while more
        // than ssthresh is in flight, then keeps it at ssthresh: segments 13, 14 and 15, on the 2nd, 4th and 7th.
        int[] sentOn = new int[7];
        for (int i = 0; i < 7; i++)
        {
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
            while (h.TryNext() is { } sent)
            {
                Assert.Equal(Our((12 + sentOn.Sum()) * Mss), sent.Seq);
                sentOn[i]++;
            }
        }
        Assert.Equal([0, 1, 0, 1, 0, 0, 1], sentOn);
        Assert.Equal(5 * Mss, c.CongestionWindow);

        // The retransmitted segment 1 fills the first hole: a partial ACK up to segment 5 (RFC 6582 §3.2 step 3).
        h.Send(TcpFlags.Ack, Their(0), Our(4 * Mss), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(4 * Mss), Their(0), Mss); // the next hole, segment 5, at once
        h.Expect(TcpFlags.Ack, Our(15 * Mss), Their(0), Mss); // and segment 16: PRR up to ssthresh, 3 in flight
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Equal(5 * Mss, c.CongestionWindow);

        // Segment 5 arrives: the ACK covers recover (end of segment 12) and more: a full ACK ends recovery.
        h.Send(TcpFlags.Ack, Their(0), Our(15 * Mss), window: PeerWindow);
        Assert.False(c.InFastRecovery);
        Assert.Equal(5 * Mss, c.SlowStartThreshold);
        Assert.Equal(5 * Mss, c.CongestionWindow); // ssthresh (Linux's tcp_end_cwnd_reduction); not RFC 6582's 2 SMSS
        for (int i = 16; i < 20; i++) Assert.Equal(Our(i * Mss), h.Next().Seq); // 17–20, all that is left
        h.ExpectNothing();
        Assert.Equal([Our(0), Our(4 * Mss)], h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value));
    }

    [Fact]
    public void Full_ack_with_nothing_left_in_flight_brings_cwnd_to_ssthresh_by_prr()
    {
        (Harness h, TcpConnection c) = Established(NewRenoConfig);
        c.Send(Bytes(10 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();

        // Segment 1 lost; 2–10 arrive: nine duplicate ACKs.
        for (int i = 0; i < 9; i++) h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss); // fast retransmit on the third
        h.ExpectNothing(); // nothing new to send
        Assert.Equal(5 * Mss, c.SlowStartThreshold);

        h.Send(TcpFlags.Ack, Their(0), Our(10 * Mss), window: PeerWindow); // full ACK; nothing outstanding now
        Assert.True(c.InFastRecovery); // held at exactly the recovery point without SACK (RecoveryHoldWithoutSackTests)
        // RFC 6937 §3.1: with nothing in flight PRR catches up to ssthresh (7300), as Linux's tcp_cwnd_reduction without
        // SACK; not RFC 6582 §3.2 step 3's min(ssthresh, max(FlightSize, SMSS) + SMSS) = 2 SMSS.
        Assert.Equal(5 * Mss, c.CongestionWindow);
    }

    private static (Harness, TcpConnection, uint) With((Harness H, TcpConnection C) fixture, uint ack) => (fixture.H, fixture.C, ack);
}
