using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>Both windows: the peer's (zero-window probing, never sending past it) and ours (shrinking, reopening, SWS).</summary>
public class FlowControlTests
{
    // ───────────── zero window and persist probes (item 8) ─────────────

    [Fact]
    public void Zero_window_is_probed_at_snd_una_minus_1_with_backoff_and_opening_it_resumes_sending()
    {
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // the peer's buffer is full
        Assert.Equal(0u, c.SndWnd);

        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing(); // nothing fits
        Assert.Equal(Ms(200), c.TimerDeadline(TcpTimer.Persist));
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));

        int[] schedule = [200, 600, 1400, 3000];
        foreach (int at in schedule)
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0)); // SEQ = SND.UNA - 1, no data, as Linux's tcp_xmit_probe_skb
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // the peer answers: still closed
            h.ExpectNothing();
        }
        Assert.Equal(Ms(6200), c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(TcpState.Established, c.State);

        h.AdvanceTo(Ms(4000));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // window update: open again
        Sent data = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Bytes(100), data.Payload);
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(Ms(4200), c.TimerDeadline(TcpTimer.Retransmission));
    }

    [Fact]
    public void A_late_answer_that_keeps_the_window_shut_restarts_the_persist_timer_from_itself_with_its_backoff()
    {
        // Linux's tcp_ack_probe: an ACK that arrives with nothing in flight and the window still too small re-arms the
        // probe timer from that ACK, tcp_probe0_when (RTO << backoff) on; the probe itself had armed it from its sending.
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();

        int at = 200;
        foreach (int interval in new[] { 400, 800, 1600 })
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            Assert.Equal(Ms(at + interval), c.TimerDeadline(TcpTimer.Persist)); // armed from the probe
            h.AdvanceTo(Ms(at + 100));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // answered 100 ms later, still shut
            h.ExpectNothing();
            Assert.Equal(Ms(at + 100 + interval), c.TimerDeadline(TcpTimer.Persist)); // now from the answer, same backoff
            at += 100 + interval;
        }

        // What must not move it: a retransmission timer's business (data in flight) is not the persist timer's, and an
        // ACK of nothing new while data is in flight (a duplicate) leaves the retransmission timer where it was.
        h.AdvanceTo(Ms(at - 50));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // the window opens: the data goes, the persist timer stops
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        TimeSpan? rto = c.TimerDeadline(TcpTimer.Retransmission);
        h.AdvanceTo(Ms(at));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        Assert.Equal(rto, c.TimerDeadline(TcpTimer.Retransmission));
        h.ExpectNothing();
    }

    [Fact]
    public void A_zero_window_probe_carries_the_ack_that_was_delayed_and_no_second_ack_follows()
    {
        // Every segment with ACK acknowledges RCV.NXT, probes too: Linux's tcp_transmit_skb runs tcp_event_ack_sent,
        // which stops the delayed-ACK timer, for tcp_xmit_probe_skb's probe as for data.
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        Assert.Equal(Ms(200), c.TimerDeadline(TcpTimer.Persist));

        // Data from the peer shortly before the probe is due: its ACK may wait (quick ACKs first, then delayed).
        h.AdvanceTo(Ms(170));
        int received = 0;
        for (int i = 0; i < 20 && c.TimerDeadline(TcpTimer.DelayedAck) is null; i++)
        {
            h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(received), Our(0), window: 0, payload: Bytes(10));
            received += 10;
            h.DrainSent();
        }
        Assert.NotNull(c.TimerDeadline(TcpTimer.DelayedAck));
        Assert.True(c.TimerDeadline(TcpTimer.DelayedAck) > Ms(200), $"delayed ACK due {c.TimerDeadline(TcpTimer.DelayedAck)}");

        Assert.Equal(Ms(200), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn, Their(received)); // the probe acknowledges all received
        Assert.Null(c.TimerDeadline(TcpTimer.DelayedAck));
        h.Advance(Ms(100));
        h.ExpectNothing(); // no second ACK of the same data
    }

    [Fact]
    public void Answer_to_a_zero_window_probe_that_opens_the_window_releases_the_data()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(1000));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 1000);
        c.Send(Bytes(500));
        h.Poll();
        h.ExpectNothing(); // Nagle: a small segment waits for the ACK in flight
        h.AdvanceTo(Ms(50));
        h.Send(TcpFlags.Ack, Their(0), Our(1000), window: 0); // all acknowledged, but no room left
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(Ms(250), c.TimerDeadline(TcpTimer.Persist));

        Assert.Equal(Ms(250), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Our(999), Their(0));
        h.Send(TcpFlags.Ack, Their(0), Our(1000), window: 4); // the probe's answer: 512 bytes free
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1000), Their(0), 500);
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
    }

    [Fact]
    public void Unanswered_zero_window_probes_time_out_after_data_retries_like_linux()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        // The peer then vanishes: no probe is ever answered. RFC 1122 §4.2.2.17 keeps the connection open only while
        // probes are acknowledged; Linux's tcp_probe_timer aborts after tcp_retries2 (15) unanswered probes.
        for (int i = 0; i < 15; i++)
        {
            h.AdvanceToNextDeadline();
            h.Expect(TcpFlags.Ack, Isn, Their(0));
        }
        Assert.Equal(Ms(804_600), h.Now); // the same 200 ms doubling, capped at 120 s, as data retransmissions
        Assert.Equal(Ms(924_600), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(TcpError.TimedOut, c.Error);
    }

    // ───────────── the peer's window and MSS (item 11) ─────────────

    [Fact]
    public void Sender_never_exceeds_the_peers_window_and_does_not_send_silly_small_segments_into_it()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 16); // 16 << 7 = 2048 bytes
        Assert.Equal(2048u, c.SndWnd);

        c.Send(Bytes(5000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 1460);
        h.ExpectNothing(); // 588 bytes of window left: not a full segment, not all the data (RFC 1122 §4.2.3.4)

        h.Send(TcpFlags.Ack, Their(0), Our(1460), window: 16); // the window slides to [1460, 3508)
        h.Expect(TcpFlags.Ack, Our(1460), Their(0), 1460);
        h.ExpectNothing();

        h.Send(TcpFlags.Ack, Their(0), Our(2920), window: 16);
        h.Expect(TcpFlags.Ack, Our(2920), Their(0), 1460);
        h.ExpectNothing();

        h.Send(TcpFlags.Ack, Their(0), Our(4380), window: 16); // the last 620 bytes fit: all of them go
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(4380), Their(0), 620);
        h.ExpectNothing();
        Assert.Equal(620, c.BytesUnacknowledged);
    }

    [Fact]
    public void A_window_too_small_for_the_next_segment_with_nothing_in_flight_waits_for_the_probe_timer()
    {
        // RFC 1122 §4.2.3.4: neither a full segment, nor all the data, nor half the largest window fits, so only the
        // override timeout sends; Linux's tcp_snd_wnd_test holds the segment and tcp_write_wakeup sends what fits, pushed.
        (Harness h, TcpConnection c) = Established(); // RTO 200 ms
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 1); // 1 << 7 = 128 bytes
        Assert.Equal(128u, c.SndWnd);

        c.Send(Bytes(1000));
        h.Poll();
        h.ExpectNothing(); // no 128-byte segment at once: the window is silly
        Assert.Equal(Ms(200), c.TimerDeadline(TcpTimer.Persist));
        Assert.Null(c.TimerDeadline(TcpTimer.Retransmission));
        h.AdvanceTo(Ms(199));
        h.ExpectNothing();

        Assert.Equal(Ms(200), h.AdvanceToNextDeadline());
        Sent probe = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 128);
        Assert.Equal(Bytes(1000)[..128], probe.Payload);
        h.ExpectNothing(); // one segment, not the rest
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        Assert.NotNull(c.TimerDeadline(TcpTimer.Retransmission));

        h.AdvanceTo(Ms(210));
        h.Send(TcpFlags.Ack, Their(0), Our(128), window: PeerWindow);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(128), Their(0), 872);
        h.ExpectNothing();
    }

    [Fact]
    public void Data_held_by_a_small_window_goes_whole_when_the_window_opens_before_the_probe_timer()
    {
        (Harness h, TcpConnection c) = Established();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 1);
        c.Send(Bytes(1000));
        h.Poll();
        h.ExpectNothing();

        h.AdvanceTo(Ms(100));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // the window opens
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 1000);
        h.ExpectNothing();
        // The probe timer's hour passes without a segment: the data is in flight, the retransmission timer watches it.
        h.AdvanceTo(Ms(250));
        h.ExpectNothing();
    }

    [Fact]
    public void An_old_ack_delayed_behind_a_newer_one_does_not_update_the_window()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(2920));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), Their(0), 1460);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1460), Their(0), 1460);
        // The peer sent [0, 100) acknowledging nothing (lost), then [100, 200) acknowledging 1460 with its buffer full
        // (delayed), then resent [0, 100) acknowledging everything with its window open again: that one arrives first.
        h.Send(TcpFlags.Ack, Their(0), Our(2920), window: 502, payload: Bytes(100));
        Assert.Equal(64256u, c.SndWnd);
        h.Send(TcpFlags.Ack, Their(100), Our(1460), window: 0, payload: Bytes(100));
        // SEG.ACK < SND.UNA: a duplicate whose window is older than the one we have (RFC 9293 §3.10.7.4, fifth).
        Assert.Equal(64256u, c.SndWnd);
        Assert.Equal(Their(0), c.SndWl1.Value);
        h.DrainSent(); // the ACKs of the peer's data
        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(2920), Their(200), 100);
        h.ExpectNothing();
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
    }

    [Fact]
    public void Segments_respect_a_peer_mss_of_536()
    {
        var options = new TcpOptions { MaxSegmentSize = 536, WindowScale = 7, SackPermitted = true };
        (Harness h, TcpConnection c) = EstablishedAfter(TimeSpan.Zero, peerSynOptions: options);
        Assert.Equal(536, c.SendMss);
        Assert.Equal(10 * 536, c.CongestionWindow);

        byte[] data = Bytes(3 * 536 + 100);
        c.Send(data);
        h.Poll();
        Assert.Equal(data[..536], h.Expect(TcpFlags.Ack, Our(0), Their(0), 536).Payload);
        Assert.Equal(data[536..1072], h.Expect(TcpFlags.Ack, Our(536), Their(0), 536).Payload);
        Assert.Equal(data[1072..1608], h.Expect(TcpFlags.Ack, Our(1072), Their(0), 536).Payload);
        // The 100-byte tail goes with them: no segment shorter than the MSS is unacknowledged (Nagle as Linux runs it).
        Assert.Equal(data[1608..], h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1608), Their(0), 100).Payload);
        h.ExpectNothing();
    }

    // ───────────── our receive window (item 11) ─────────────

    [Fact]
    public void Receive_window_shrinks_as_data_is_unread_and_reopens_with_a_window_update_after_receive()
    {
        // Window 7300 (8192 rounded down to five MSS, as Linux's tcp_select_initial_window), scale 0; delayed ACKs from the start.
        (Harness h, TcpConnection c) = Established(new TcpConfig { ReceiveBufferSize = 8192, ReceiveBufferAutoTuning = false, QuickAcks = 0 });
        byte[] data = Bytes(7300);
        int[] ends = [1460, 2920, 4380, 5840, 7300];
        int start = 0;
        var windows = new List<ushort>();
        foreach (int end in ends)
        {
            h.Send(TcpFlags.Ack, Their(start), Our(0), window: PeerWindow, payload: data[start..end]);
            if (h.PendingCount > 0) windows.Add(h.Expect(TcpFlags.Ack, Our(0), Their(end)).Window);
            start = end;
        }
        // Every second segment acknowledged, the fifth by the delayed ACK; the free space is never a whole MSS past the
        // right edge, which stays put.
        h.AdvanceToNextDeadline();
        windows.Add(h.Expect(TcpFlags.Ack, Our(0), Their(7300)).Window);
        Assert.Equal([4380, 1460, 0], windows);
        Assert.Equal(0u, c.RcvWnd);

        // Reading 100 bytes leaves 992 free, less than an MSS: nothing to announce (receiver SWS avoidance, RFC 1122 §4.2.3.3).
        byte[] buffer = new byte[7300];
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer.AsSpan(0, 100), out int read));
        Assert.Equal(100, read);
        h.Poll();
        h.ExpectNothing();
        // A zero-window probe from the peer (Linux style, SEQ = RCV.NXT - 1) still sees window 0, not 992.
        h.Send(TcpFlags.Ack, Their(7299), Our(0), window: PeerWindow);
        Assert.Equal(0, h.Expect(TcpFlags.Ack, Our(0), Their(7300)).Window);

        // Reading 1400 more leaves 2392 free: the window update at once offers one whole MSS of it.
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer.AsSpan(100, 1400), out read));
        h.Poll();
        Assert.Equal(1460, h.Expect(TcpFlags.Ack, Our(0), Their(7300)).Window);
        h.ExpectNothing();

        // Reading the rest frees the whole buffer: five MSS again.
        Assert.Equal(ReceiveStatus.Data, c.Receive(buffer.AsSpan(1500), out read));
        Assert.Equal(7300 - 1500, read);
        h.Poll();
        Assert.Equal(7300, h.Expect(TcpFlags.Ack, Our(0), Their(7300)).Window);
        Assert.Equal(data, buffer);
    }
}
