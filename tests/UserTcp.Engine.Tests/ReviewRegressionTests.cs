using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>Bugs a review found, each pinned by the scenario that showed it.</summary>
public class ReviewRegressionTests
{
    [Fact]
    public void Cancelling_a_timer_without_a_reschedule_keeps_the_next_deadline_in_the_queue()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, PeerIsn + 1, 100);
        TimeSpan? rto = c.TimerDeadline(TcpTimer.Retransmission);
        c.KeepAliveIdle = TimeSpan.FromMilliseconds(10); // earlier than the RTO...
        c.KeepAlive = true;
        c.KeepAlive = false;                             // ...and cancelled again
        h.Poll();
        Assert.Equal(rto, h.Engine.PollAt);
    }

    [Fact]
    public void Closing_a_listener_drops_its_half_open_connections_and_their_ack_draws_a_rst()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        listener.Close();
        h.Poll();
        h.ExpectNothing(); // as Linux's inet_csk_listen_stop: the request is dropped silently
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        h.Expect(TcpFlags.Rst, Isn + 1); // RFC 9293 §3.5.2 rule 1: no connection, <SEQ=SEG.ACK><CTL=RST>
        Assert.DoesNotContain(h.Engine.Connections, c => c.State == TcpState.Established);
    }

    [Fact]
    public void Fast_retransmit_resends_only_what_was_sent_never_new_bytes_or_an_unsent_fin()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 8); // 8 << 7 = 1024 bytes
        c.NoDelay = true;
        c.Send(new byte[1000]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, PeerIsn + 1, 1000);
        c.Send(new byte[400]);
        c.Shutdown(ShutdownDirection.Send);
        h.Poll();
        h.ExpectNothing(); // the window holds no more
        for (int i = 0; i < 3; i++) h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 8);
        Sent again = h.Next();
        Assert.Equal(1000, again.Payload.Length);
        Assert.Equal(TcpFlags.None, again.Flags & TcpFlags.Fin);
        h.Send(TcpFlags.Ack, PeerIsn + 1, TestData.Our(1000), window: 502);
        Assert.Equal(TestData.Our(1000), c.SndUna.Value);
    }

    [Fact]
    public void A_timeout_under_a_window_shrunk_to_zero_leaves_the_persist_timer_running()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(new byte[1000]);
        h.Poll();
        h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, TestData.Our(500), window: 0); // half acknowledged, window shrunk to zero
        h.AdvanceToNextDeadline();                              // the RTO fires and may send nothing
        Assert.NotNull(h.Engine.PollAt);
        Assert.NotNull(c.TimerDeadline(TcpTimer.Persist));
    }

    [Fact]
    public void A_peer_mss_of_zero_is_taken_as_none_so_data_still_flows()
    {
        var h = new Harness();
        h.Engine.Listen(80);
        h.Send(TcpFlags.Syn, PeerIsn, options: new TcpOptions { MaxSegmentSize = 0 });
        h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 65535);
        TcpConnection c = Assert.Single(h.Engine.Connections);
        Assert.Equal(536, c.SendMss); // Linux's tcp_parse_options ignores an MSS of 0 (ListenTimersReviewTests)
        c.Send(new byte[1000]);
        h.Poll();
        Assert.Equal(536, h.Next().Payload.Length);
    }
}
