using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A local queue that refuses every segment (a full device queue; upstream's scripts install <c>pfifo limit 0</c>):
/// Linux's qdisc answers NET_XMIT_DROP and TCP acts on it at once. Nothing refused counts as sent, or as a
/// retransmission in flight (tcpi_retrans), though tcpi_total_retrans counts the attempt as Linux 6.18's does;
/// with nothing in flight the probe timer retries after one RTO, then every 500 ms (TCP_RESOURCE_PROBE_INTERVAL)
/// without backoff, counting tcpi_probes, until TCP_USER_TIMEOUT; a refused timeout resend retries in 500 ms, not
/// backed off (tcp_retransmit_timer). Upstream's user-timeout-probe.pkt and cubic-rack-reo-timeout-retrans-failed-
/// incoming-data.pkt pass on Linux 6.18 here and in the runner.
/// </summary>
public class LocalQueueTests
{
    [Fact]
    public void Refused_data_stays_unsent_and_the_probe_timer_retries_every_500_ms_without_backoff()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        long sentBefore = h.Engine.Counters.SegmentsSent;
        h.Refusing = true;
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        Assert.Equal(1, h.Refused);
        TcpConnectionInfo info = c.Info();
        Assert.Equal(100, info.NotSentBytes); // SND.MAX did not move
        Assert.Equal(0, info.UnackedSegments);
        Assert.Equal(sentBefore, h.Engine.Counters.SegmentsSent);
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission)); // nothing in flight to time
        Assert.Equal(Ms(200), c.TimerDeadline(TcpTimer.Persist)); // tcp_check_probe_timer: one RTO

        var attempts = new List<TimeSpan>();
        for (int i = 0; i < 4; i++) attempts.Add(h.AdvanceToNextDeadline());
        Assert.Equal([Ms(200), Ms(700), Ms(1200), Ms(1700)], attempts); // then 500 ms apart, never doubled
        h.ExpectNothing();
        Assert.Equal(5, h.Refused);
        info = c.Info();
        Assert.Equal((4, 0), (info.Probes, info.Backoff));
        Assert.Equal(TcpCongestionState.Cwr, info.CongestionState); // tcp_enter_cwr on the first refusal
        Assert.Equal(0, info.TotalRetransmissions);

        h.Refusing = false; // the queue drains: the next probe sends the data, and the episode ends
        Assert.Equal(Ms(2200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        h.ExpectNothing();
        info = c.Info();
        Assert.Equal((0, 0), (info.Probes, info.NotSentBytes));
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(Ms(2400), c.TimerDeadline(TcpTimer.Retransmission));
    }

    [Fact]
    public void The_user_timeout_ends_probing_of_refused_data_and_leaves_no_timer_armed()
    {
        // user-timeout-probe.pkt: TCP_USER_TIMEOUT 3 s, six refused probes 500 ms apart, then ETIMEDOUT.
        (Harness h, TcpConnection c) = Established(new TcpConfig { UserTimeout = S(3) }); // RTO 200 ms
        h.Refusing = true;
        c.Send(Bytes(24));
        h.Poll();
        for (int i = 0; i < 20 && c.State == TcpState.Established; i++) h.AdvanceToNextDeadline();
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Equal(Ms(3200), h.Now); // 3 s after the probe timer first fired (icsk_probes_tstamp), at one RTO
        TcpConnectionInfo info = c.Info();
        Assert.Equal((6, 0), (info.Probes, info.Backoff));
        Assert.Equal(7, h.Refused); // the write's own attempt and six probes
        h.ExpectNothing(); // tcp_write_err: no RST either
        Assert.Null(h.Engine.PollAt); // nothing left armed
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        Assert.Null(c.TimerDeadline(TcpTimer.UserTimeout));
    }

    [Fact]
    public void A_timeout_resend_the_queue_refuses_is_not_in_flight_and_retries_in_500_ms_without_backoff()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);

        h.Refusing = true;
        Assert.Equal(Ms(200), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        TcpConnectionInfo info = c.Info();
        Assert.Equal((0, 0), (info.RetransmittedSegments, info.Backoff)); // not in flight, not backed off
        Assert.Equal(1, info.TotalRetransmissions); // the attempt counts, as Linux's __tcp_retransmit_skb counts it
        Assert.Equal(1, info.LostSegments);
        Assert.Equal(Ms(200), info.Rto); // the doubling is taken back
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRetransFail]);
        Assert.Equal(h.Engine.Counters.Retransmissions, h.Engine.Counters[MibCounter.TcpExtTCPRetransFail]); // none left
        Assert.Equal(Ms(700), c.TimerDeadline(TcpTimer.Retransmission)); // TCP_RESOURCE_PROBE_INTERVAL, not 400 ms

        h.Refusing = false;
        Assert.Equal(Ms(700), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        info = c.Info();
        Assert.Equal((2, 1, 1), (info.TotalRetransmissions, info.RetransmittedSegments, info.Backoff));
        Assert.Equal(2, info.ConsecutiveTimeouts); // both timeouts count, as Linux's icsk_retransmits
        Assert.Equal(Ms(1100), c.TimerDeadline(TcpTimer.Retransmission)); // backed off once: 400 ms
    }

    [Fact]
    public void Refused_timeout_resends_use_up_no_retry()
    {
        // Linux gives up by time (tcp_model_timeout: about 15 minutes for 15 retries), which 500 ms refusals do not hasten.
        (Harness h, TcpConnection c) = Established(new TcpConfig { DataRetries = 3 });
        c.Send(Bytes(100));
        h.Poll();
        h.Next();
        h.Refusing = true;
        for (int i = 0; i < 10; i++) h.AdvanceToNextDeadline();
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(Ms(200) + 9 * Ms(500), h.Now);
        Assert.Equal((0, 0), (c.Info().RetransmittedSegments, c.Info().Backoff));
    }

    [Fact]
    public void A_fast_retransmission_the_queue_refuses_leaves_its_segment_lost_and_the_timer_as_it_was()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms, no SACK: NewReno
        c.Send(Bytes(5 * 1460));
        h.Poll();
        for (int i = 0; i < 5; i++) h.Next();
        h.AdvanceTo(Ms(50));
        h.Refusing = true;
        for (int i = 0; i < 3; i++) h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.ExpectNothing();
        TcpConnectionInfo info = c.Info();
        Assert.Equal(TcpCongestionState.Recovery, info.CongestionState);
        Assert.Equal((0, 1), (info.RetransmittedSegments, info.LostSegments)); // tcpi_retrans stays 0
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPRetransFail]);
        Assert.Equal(Ms(200), c.TimerDeadline(TcpTimer.Retransmission)); // not restarted by a resend that did not leave
    }

    [Fact]
    public void A_refused_zero_window_probe_counts_but_does_not_back_off()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        Assert.Equal(Ms(200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(-1), Their(0)); // the first probe leaves; the next is backed off to 400 ms
        Assert.Equal(Ms(600), c.TimerDeadline(TcpTimer.Persist));
        h.Refusing = true;
        Assert.Equal(Ms(600), h.AdvanceToNextDeadline());
        Assert.Equal(Ms(1100), c.TimerDeadline(TcpTimer.Persist)); // 500 ms, not 800
        Assert.Equal(2, c.Info().Probes);
        h.Refusing = false;
        Assert.Equal(Ms(1100), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(-1), Their(0));
        Assert.Equal(Ms(1900), c.TimerDeadline(TcpTimer.Persist)); // the backoff resumes where the refusal left it: 800 ms
    }

    [Fact]
    public void A_refused_keepalive_probe_does_not_count_and_is_tried_again_in_500_ms()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { KeepAlive = true, KeepAliveIdle = S(10), KeepAliveInterval = S(5) });
        h.Refusing = true;
        Assert.Equal(S(10), h.AdvanceToNextDeadline());
        Assert.Equal(0, c.Info().Probes); // tcp_keepalive_timer counts only probes that left
        Assert.Equal(S(10) + Ms(500), c.TimerDeadline(TcpTimer.KeepAlive));
        h.Refusing = false;
        Assert.Equal(S(10) + Ms(500), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(-1), Their(0));
        Assert.Equal(1, c.Info().Probes);
        Assert.Equal(S(15) + Ms(500), c.TimerDeadline(TcpTimer.KeepAlive));
    }
}
