using UserTcp.Testing;
using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>Every transition of RFC 9293 Figure 5, by exact segments.</summary>
public class StateMachineTests
{
    private static readonly TcpConfig Default = new();

    [Fact]
    public void Passive_open_answers_syn_with_syn_ack_carrying_mss_and_window_scale()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal((ushort)1460, synAck.Options.MaxSegmentSize);
        Assert.Equal((byte)7, synAck.Options.WindowScale); // auto-tuning's 6 MiB maximum needs shift 7, as Linux's tcp_rmem[2]
        Assert.Equal(64240, synAck.Window); // never scaled; the 64 KiB buffer rounded down to 44 segments of 1460 (tcp_select_initial_window)
        Assert.Equal([TcpState.SynReceived], h.Log.States(Harness.Id));
    }

    [Fact]
    public void Syn_ack_leaves_out_window_scale_when_the_peer_did_not_offer_it()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        h.Send(TcpFlags.Syn, PeerIsn, options: new TcpOptions { MaxSegmentSize = 1400 });
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Null(synAck.Options.WindowScale);
    }

    [Fact]
    public void Final_ack_moves_syn_received_to_established_and_into_the_accept_queue()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        Assert.False(listener.TryAccept(out _));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(Isn + 1, c.SndUna.Value);
        Assert.Equal(502u << 7, c.SndWnd);
        Assert.Equal(1460, c.SendMss);
    }

    [Fact]
    public void Active_open_sends_syn_and_establishes_on_syn_ack()
    {
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal([TcpState.SynSent, TcpState.Established], h.Log.States(c.Id));
    }

    [Fact]
    public void Simultaneous_open_goes_syn_sent_to_syn_received_to_established()
    {
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        Assert.Equal(TcpState.SynReceived, c.State);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal([TcpState.SynSent, TcpState.SynReceived, TcpState.Established], h.Log.States(c.Id));
    }

    [Fact]
    public void Rst_to_our_syn_is_connection_refused()
    {
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Rst | TcpFlags.Ack, 0, Isn + 1);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.ConnectionRefused, c.Error);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void Syn_ack_with_a_wrong_ack_in_syn_sent_is_answered_with_rst()
    {
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 5);
        h.Expect(TcpFlags.Rst, Isn + 5);
        Assert.Equal(TcpState.SynSent, c.State);
    }

    [Fact]
    public void An_unacceptable_ack_in_syn_sent_brings_the_first_syn_again_two_milliseconds_later()
    {
        // Linux's tcp_rcv_synsent_state_process: before any retransmission, the retransmission timer is reset to
        // TCP_TIMEOUT_MIN (two jiffies) — the ACK may be from a previous connection whose FIN/ACK or RST/ACK was lost.
        (Harness h, TcpConnection c) = SynSent();
        TimeSpan start = h.Now;
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 5);
        h.Expect(TcpFlags.Rst, Isn + 5);
        Assert.Equal(start + TimeSpan.FromMilliseconds(2), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal(TcpState.SynSent, c.State);
        // Once the SYN has gone again, another unacceptable ACK leaves the backed-off timer alone (2 s: RTO 1 s doubled).
        TimeSpan resent = h.Now;
        h.Send(TcpFlags.Ack, PeerIsn, Isn + 5);
        h.Expect(TcpFlags.Rst, Isn + 5);
        Assert.Equal(resent + TimeSpan.FromSeconds(2), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Syn, Isn);
    }

    [Fact]
    public void Active_close_goes_fin_wait_1_fin_wait_2_time_wait_closed()
    {
        (Harness h, TcpConnection c) = TimeWait();
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.TimeWait], h.Log.States(c.Id));
        TimeSpan entered = h.Now;
        Assert.Equal(entered + Default.TimeWait, h.AdvanceToNextDeadline());
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void Fin_and_ack_together_take_fin_wait_1_straight_to_time_wait()
    {
        (Harness h, TcpConnection c) = FinWait1();
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502);
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.DoesNotContain(TcpState.Closing, h.Log.States(c.Id));
    }

    [Fact]
    public void Simultaneous_close_goes_through_closing_to_time_wait()
    {
        (Harness h, TcpConnection c) = Closing();
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: 502);
        Assert.Equal(TcpState.TimeWait, c.State);
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.FinWait1, TcpState.Closing, TcpState.TimeWait], h.Log.States(c.Id));
    }

    [Fact]
    public void Passive_close_goes_close_wait_last_ack_closed()
    {
        (Harness h, TcpConnection c) = LastAck();
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: 502);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], h.Log.States(c.Id));
    }

    [Fact]
    public void A_second_ack_of_a_fin_sent_twice_finds_last_ack_closed_and_draws_a_rst_that_is_no_reset_of_the_connection()
    {
        (Harness h, TcpConnection c) = LastAck();
        h.AdvanceToNextDeadline(); // no ACK of our FIN in time: it goes again
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);

        // The peer, in TIME-WAIT, acknowledges each copy. The first ACK ends LAST-ACK (RFC 9293 §3.10.7.4)...
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: 502);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
        h.ExpectNothing();
        // ...and the second finds no connection: RST, as Linux answers it (upstream packetdrill close/close-remote-fin-then-close.pkt).
        h.Send(TcpFlags.Ack, PeerIsn + 2, Isn + 2, window: 502);
        h.Expect(TcpFlags.Rst, Isn + 2);
        h.ExpectNothing();

        EventRecorder recorder = Recorded(h);
        Assert.Equal(1, recorder.Sent(Harness.Id, TcpFlags.Rst));
        Assert.Equal(1, recorder.ResetsAnsweringLateAcksOfFin(Harness.Id));
    }

    [Fact]
    public void An_abort_after_the_fin_is_a_reset_the_recorder_does_not_take_for_an_answer_to_a_late_ack()
    {
        (Harness h, TcpConnection c) = FinWait1();
        c.Abort();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 2, PeerIsn + 1);
        // A late ACK of the FIN now finds no connection and draws a RST too, but the connection never reached LAST-ACK.
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502);
        h.Expect(TcpFlags.Rst, Isn + 2);

        EventRecorder recorder = Recorded(h);
        Assert.Equal(2, recorder.Sent(Harness.Id, TcpFlags.Rst));
        Assert.Equal(0, recorder.ResetsAnsweringLateAcksOfFin(Harness.Id));
    }

    /// <summary>The harness's events as the runtime tests' recorder keeps them.</summary>
    private static EventRecorder Recorded(Harness h)
    {
        var recorder = new EventRecorder();
        foreach (TcpEvent e in h.Log.Events) recorder.OnEvent(e);
        return recorder;
    }

    [Fact]
    public void Segment_for_no_connection_gets_rst_per_rfc_9293_3_10_7_1()
    {
        var h = new Harness();
        h.Send(TcpFlags.Syn, 1000);
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, 0, 1001);
        h.Send(TcpFlags.Ack, 1000, 5555);
        h.Expect(TcpFlags.Rst, 5555);
        h.Send(TcpFlags.Rst, 1000);
        h.ExpectNothing();
        Assert.Equal(2, h.Engine.Counters.ResetsSent);
    }

    [Fact]
    public void Ack_to_a_listener_gets_rst_at_its_ack_number()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        h.Send(TcpFlags.Ack, 1000, 777);
        h.Expect(TcpFlags.Rst, 777);
    }

    [Theory]
    [InlineData("ESTABLISHED")]
    [InlineData("FIN-WAIT-1")]
    [InlineData("FIN-WAIT-2")]
    [InlineData("CLOSE-WAIT")]
    public void Rst_at_rcv_nxt_resets_a_synchronized_connection(string state)
    {
        (Harness h, TcpConnection c, uint rcvNxt) = state switch
        {
            "ESTABLISHED" => With(Established(), PeerIsn + 1),
            "FIN-WAIT-1" => With(FinWait1(), PeerIsn + 1),
            "FIN-WAIT-2" => With(FinWait2(), PeerIsn + 1),
            _ => With(CloseWait(), PeerIsn + 2),
        };
        h.Send(TcpFlags.Rst, rcvNxt);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.ConnectionReset, c.Error);
        h.ExpectNothing();
    }

    [Theory]
    [InlineData("CLOSING")]
    [InlineData("LAST-ACK")]
    [InlineData("TIME-WAIT")]
    public void Rst_in_closing_last_ack_and_time_wait_just_closes(string state)
    {
        (Harness h, TcpConnection c) = state switch { "CLOSING" => Closing(), "LAST-ACK" => LastAck(), _ => TimeWait() };
        h.Send(TcpFlags.Rst, PeerIsn + 2);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.None, c.Error);
    }

    [Fact]
    public void Rst_in_time_wait_is_ignored_under_the_rfc_1337_policy()
    {
        (Harness h, TcpConnection c) = TimeWait(new TcpConfig { TimeWaitRst = TimeWaitRstPolicy.Ignore });
        h.Send(TcpFlags.Rst, PeerIsn + 2);
        Assert.Equal(TcpState.TimeWait, c.State);
    }

    [Fact]
    public void Rst_inside_the_window_but_not_at_rcv_nxt_draws_a_challenge_ack()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Rst, PeerIsn + 100);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.Established, c.State);
    }

    [Fact]
    public void Syn_in_established_draws_a_challenge_ack()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Syn, PeerIsn + 50);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.Established, c.State);
    }

    [Fact]
    public void Out_of_window_segment_is_answered_with_an_ack_and_dropped()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack, PeerIsn + 1 + 10_000_000, Isn + 1, payload: [1, 2, 3]);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(0, c.BytesToRead);
    }

    [Fact]
    public void Rst_in_syn_received_from_a_listener_returns_to_listen_silently()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        h.Send(TcpFlags.Rst, PeerIsn + 1);
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtEmbryonicRsts]);
        // The listener still answers new SYNs.
        h.Send(TcpFlags.Syn, PeerIsn + 1000, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1001);
    }

    [Fact]
    public void A_new_syn_in_the_window_of_a_passive_syn_received_is_answered_by_a_rst_and_the_listener_forgets_it()
    {
        // RFC 9293 §3.10.7.4 (fourth, the SYN bit): a passive open in SYN-RECEIVED returns to LISTEN. Linux's
        // tcp_check_req also resets the sender (embryonic_reset: TcpAttemptFails, TcpExtEmbryonicRsts).
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        h.Send(TcpFlags.Syn, PeerIsn + 10, options: PeerSynOptions);
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, 0, PeerIsn + 11); // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpAttemptFails]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtEmbryonicRsts]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSYNChallenge]);
        Assert.Equal([TcpState.SynReceived, TcpState.Closed], h.Log.States(Harness.Id));
        // No SYN-ACK retransmission is left behind.
        h.Advance(TimeSpan.FromSeconds(10));
        h.ExpectNothing();
        Assert.False(listener.TryAccept(out _));
    }

    [Fact]
    public void A_syn_ack_in_the_window_of_a_passive_syn_received_is_answered_by_a_rst_from_its_ack()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn + 10, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Rst, Isn + 1); // <SEQ=SEG.ACK><CTL=RST>
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections);
        Assert.False(listener.TryAccept(out _));
    }

    [Fact]
    public void A_syn_in_the_window_of_a_simultaneous_opens_syn_received_still_draws_a_challenge_ack()
    {
        // An active open is handled "per the directions for synchronized states" (RFC 9293 §3.10.7.4): RFC 5961 §4.
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Syn, PeerIsn + 10, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        h.ExpectNothing();
        Assert.Equal(TcpState.SynReceived, c.State);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtEmbryonicRsts]);
    }

    [Fact]
    public void Abort_sends_rst_and_closes()
    {
        (Harness h, TcpConnection c) = Established();
        c.Abort();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Empty(h.Engine.Connections);
    }

    [Fact]
    public void Close_with_unread_data_sends_rst_not_fin()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, Isn + 1, window: 502, payload: [1, 2, 3]);
        h.DrainSent();
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 1, PeerIsn + 4);
        Assert.Equal(TcpState.Closed, c.State);
    }

    [Fact]
    public void Data_after_close_in_fin_wait_2_is_answered_with_rst()
    {
        (Harness h, TcpConnection c) = FinWait2();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, Isn + 2, window: 502, payload: [9]);
        // The RST answers the segment: <SEQ=SEG.ACK><CTL=RST>, no ACK bit (Linux tcp_v4_send_reset), and nothing else goes.
        h.Expect(TcpFlags.Rst, Isn + 2);
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
    }

    [Fact]
    public void Half_closed_side_keeps_receiving_data_in_fin_wait_2()
    {
        (Harness h, TcpConnection c) = FinWait2(orphan: false);
        h.Send(TcpFlags.Ack | TcpFlags.Psh, PeerIsn + 1, Isn + 2, window: 502, payload: [1, 2, 3, 4]);
        Assert.Equal(TcpState.FinWait2, c.State);
        byte[] buffer = new byte[10];
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer, out int read));
        Assert.Equal(4, read);
    }

    [Fact]
    public void Send_after_shutdown_is_refused_with_shutdown()
    {
        (Harness _, TcpConnection c) = FinWait1(orphan: false);
        Assert.Equal(TcpError.Shutdown, Assert.Throws<TcpException>(() => c.Send([1])).Error);
    }

    private static (Harness, TcpConnection, uint) With((Harness H, TcpConnection C) fixture, uint rcvNxt) => (fixture.H, fixture.C, rcvNxt);
}

public class FinAckPiggybackTests
{
    [Fact]
    public void Closing_within_the_delayed_ack_sends_fin_and_ack_of_the_peers_fin_together()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        h.Send(TcpFlags.Fin | TcpFlags.Ack, Fixtures.PeerIsn + 1, Fixtures.Isn + 1, window: 502);
        Assert.Equal(TcpState.CloseWait, c.State);
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Fixtures.Isn + 1, Fixtures.PeerIsn + 2);
        h.ExpectNothing();
        Assert.Equal(TcpState.LastAck, c.State);
    }
}
