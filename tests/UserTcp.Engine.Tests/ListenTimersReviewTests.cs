using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>Defects found reviewing the listener, SYN cookies, timers, challenge ACKs and TCP_USER_TIMEOUT (session 13).</summary>
public class ListenTimersReviewTests
{
    private static readonly TcpOptions LinuxSyn = new() { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0), WindowScale = 7 };

    // ───────────── SYN cookies and TCP_DEFER_ACCEPT ─────────────

    [Fact]
    public void A_bare_ack_returning_a_cookie_makes_the_connection_even_with_defer_accept_as_linux()
    {
        // Linux applies TCP_DEFER_ACCEPT only to request socks (tcp_check_req); a valid cookie's ACK makes the child and
        // queues it at once (cookie_v4_check, tcp_get_cookie_sock). A cookie connection kept waiting has no SYN-ACK of its
        // own to time, so it would sit in SYN-RECEIVED with no timer, for ever.
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always, DeferAccept = S(5) });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        Sent synAck = h.Next();
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections); // a cookie: nothing kept

        h.Advance(Ms(10));
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: PeerWindow,
            options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) });
        h.ExpectNothing();
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDeferAcceptDrop]);
        Assert.DoesNotContain(h.Engine.Connections, x => x.State == TcpState.SynReceived);
    }

    [Fact]
    public void A_cookie_syn_ack_offers_the_window_scale_the_connection_it_makes_will_use()
    {
        // A listener asking for more receive buffer than the engine allows gets the engine's maximum (CapBufferSizes), and
        // its window scale covers that; the cookie's SYN-ACK must announce the same shift, or the peer misreads every
        // window we send (16 MiB would need 9, the 6 MiB the connection gets 7).
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, connectionConfig: h.Config with { ReceiveBufferSize = 16 << 20 });
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        Sent synAck = h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: PeerWindow,
            options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) });
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(synAck.Options.WindowScale, (byte)c.WindowScale.Receive);
        Assert.Equal((byte)7, synAck.Options.WindowScale);
    }

    [Fact]
    public void Cookies_for_every_syn_are_no_syn_flood_and_count_as_linuxs_tcp_syn_flood_action_does()
    {
        // tcp_syncookies = 2: Linux's tcp_syn_flood_action counts TCPReqQFullDoCookies for every cookie but logs "Possible
        // SYN flooding" only when the queue really overflowed (syncookies != 2).
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always });
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 40001);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtTCPReqQFullDoCookies]);
        Assert.Empty(h.Log.Of(TcpEventKind.Warning));
    }

    [Fact]
    public void An_mss_option_of_zero_is_no_mss_option_as_linux_reads_it()
    {
        // Linux's tcp_parse_options keeps mss_clamp at the default when the option's value is 0; clamping 0 up to
        // tcp_min_snd_mss would send 48-byte segments for the connection's life.
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: new TcpOptions { MaxSegmentSize = 0 });
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 65535);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(536, c.SendMss); // RFC 9293 §3.7.1's default
        c.Send(Bytes(1000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(0), PeerIsn + 1, 536);
    }

    // ───────────── keepalive (RFC 1122 §4.2.3.6, Linux tcp_keepalive_timer) ─────────────

    private static readonly TcpConfig KeepAliveConfig = new()
    {
        KeepAlive = true,
        KeepAliveIdle = S(10),
        KeepAliveInterval = S(2),
        KeepAliveCount = 2,
    };

    [Fact]
    public void Keepalive_goes_on_probing_a_half_closed_fin_wait_2_and_times_it_out()
    {
        // After shutdown(SHUT_WR) FIN-WAIT-2 waits for the peer's FIN with no timer of its own; Linux's keepalive timer
        // keeps probing there (it stops only in CLOSE and SYN-SENT), so a peer that vanished is still found out.
        (Harness h, TcpConnection c) = FinWait2(KeepAliveConfig, orphan: false); // the ACK of our FIN came at t = 0
        Assert.Equal(S(10), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1); // SEG.SEQ = SND.UNA − 1: our FIN's number, no data
        h.ExpectNothing();
        Assert.Equal(S(12), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(S(14), h.AdvanceToNextDeadline()); // two probes unanswered: gone, with a RST as Linux sends
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Isn + 2, PeerIsn + 1);
        h.ExpectNothing();
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void Keepalive_in_fin_wait_2_is_answered_like_anywhere_else_and_an_orphan_is_left_to_its_own_timer()
    {
        (Harness h, TcpConnection c) = FinWait2(KeepAliveConfig, orphan: false);
        Assert.Equal(S(10), h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        h.AdvanceTo(S(11));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: PeerWindow); // the peer is there
        Assert.Equal(S(12), h.AdvanceToNextDeadline()); // the interval finds it alive: no probe
        h.ExpectNothing();
        Assert.Equal(S(21), h.AdvanceToNextDeadline()); // idle again from 11 s
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);

        // Orphaned, FIN-WAIT-2 is its FIN-WAIT-2 timer's (Linux's keepalive timer does only that there): no more probes.
        c.Close();
        Assert.Equal(S(23), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, c.State);
        Assert.Equal(S(21 + 60), h.AdvanceToNextDeadline());
        h.ExpectNothing();
        Assert.Equal((TcpState.Closed, TcpError.None), (c.State, c.Error));
    }

    [Fact]
    public void Segments_the_connection_refuses_do_not_keep_a_silent_peer_alive()
    {
        // Linux's keepalive clock is the last acceptable ACK (rcv_tstamp, set in tcp_ack) or data received, and tcp_ack
        // resets icsk_probes_out: an out-of-window segment, one PAWS rejects or an ACK of data never sent is no sign of
        // a live peer, and must neither put off the first probe nor reset the count of unanswered ones.
        (Harness h, TcpConnection c) = Established(KeepAliveConfig with { Timestamps = false });
        h.AdvanceTo(S(5));
        h.Send(TcpFlags.Ack, Their(1_000_000), Our(0), window: PeerWindow, payload: Bytes(10)); // far outside the window
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // RFC 9293 §3.10.7.4: answered with an ACK, nothing more
        h.AdvanceTo(S(6));
        h.Send(TcpFlags.Ack, Their(0), Our(5000), window: PeerWindow); // acknowledges data never sent
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        h.ExpectNothing();

        Assert.Equal(S(10), h.AdvanceToNextDeadline()); // idle since the handshake: the first probe, on time
        h.Expect(TcpFlags.Ack, Our(-1), Their(0));
        h.AdvanceTo(S(11));
        h.Send(TcpFlags.Ack, Their(1_000_000), Our(0), window: PeerWindow, payload: Bytes(10));
        h.Expect(TcpFlags.Ack, Our(0), Their(0));
        Assert.Equal(S(12), h.AdvanceToNextDeadline()); // still unanswered: the second probe
        h.Expect(TcpFlags.Ack, Our(-1), Their(0));
        Assert.Equal(S(14), h.AdvanceToNextDeadline()); // two unanswered: gone
        h.Expect(TcpFlags.Rst | TcpFlags.Ack, Our(0), Their(0));
        h.ExpectNothing();
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
    }

    [Fact]
    public void Keepalive_sends_no_probe_while_data_waits_for_a_shut_window()
    {
        // Linux's tcp_keepalive_timer: "It is alive without keepalive" while anything is in flight or queued
        // (packets_out || !tcp_write_queue_empty): the persist timer watches a zero window, keepalive only re-arms.
        (Harness h, TcpConnection c) = Established(KeepAliveConfig);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        int[] persist = [200, 600, 1400, 3000, 6200, 12_600, 25_400];
        var sentAt = new List<TimeSpan>();
        while (h.Now < S(30))
        {
            h.AdvanceToNextDeadline();
            while (h.TryNext() is Sent probe)
            {
                Assert.Equal((TcpFlags.Ack, Isn, 0), (probe.Flags, probe.Seq, probe.Payload.Length));
                sentAt.Add(h.Now);
            }
        }
        Assert.Equal(persist.Select(ms => Ms(ms)), sentAt); // the persist probes alone, none of keepalive's at 10, 12 s
        Assert.Equal(TcpState.Established, c.State);
    }

    // ───────────── TCP_USER_TIMEOUT and a zero window (Linux icsk_probes_tstamp) ─────────────

    [Fact]
    public void User_timeout_ends_a_zero_window_that_lasts_even_when_every_probe_is_answered()
    {
        // Linux (since 5.11, "tcp: fix TCP_USER_TIMEOUT with zero window") times a zero window from its first probe
        // until the window opens, not from the last unanswered probe: answers keep probes_out at 0, not the clock.
        (Harness h, TcpConnection c) = Established(new TcpConfig { UserTimeout = S(2) });
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();
        foreach (int at in (int[])[200, 600, 1400])
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0); // answered: the peer is there, its window still shut
            h.ExpectNothing();
            Assert.Equal(TcpState.Established, c.State);
        }
        Assert.Equal(Ms(2200), h.AdvanceToNextDeadline()); // 2 s after the first probe
        h.ExpectNothing(); // tcp_write_err: no RST
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Null(h.Engine.PollAt);
    }

    [Fact]
    public void A_window_that_opens_starts_the_user_timeouts_zero_window_clock_over()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { UserTimeout = S(2) });
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        c.Send(Bytes(100));
        h.Poll();
        foreach (int at in (int[])[200, 600, 1400])
        {
            Assert.Equal(Ms(at), h.AdvanceToNextDeadline());
            h.Expect(TcpFlags.Ack, Isn, Their(0));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: 0);
        }
        h.AdvanceTo(Ms(1500));
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow); // open: the data goes
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        h.AdvanceTo(Ms(1600));
        h.Send(TcpFlags.Ack, Their(0), Our(100), window: 0); // acknowledged, and shut again
        c.Send(Bytes(100));
        h.Poll();
        h.ExpectNothing();

        // A second zero window: its own 2 s from its own first probe, whatever the first one lasted.
        TimeSpan? firstProbe = null;
        for (int i = 0; i < 20 && c.State == TcpState.Established; i++)
        {
            TimeSpan at = h.AdvanceToNextDeadline();
            if (h.TryNext() is not Sent probe) continue;
            Assert.Equal((TcpFlags.Ack, Our(99)), (probe.Flags, probe.Seq));
            firstProbe ??= at;
            h.Send(TcpFlags.Ack, Their(0), Our(100), window: 0);
        }
        Assert.NotNull(firstProbe);
        Assert.Equal((TcpState.Closed, TcpError.TimedOut), (c.State, c.Error));
        Assert.Equal(firstProbe.Value + S(2), h.Now);
    }

    // ───────────── RFC 5961 §5.2 ACK acceptability (Linux "tcp: do not accept ACK of bytes we never sent") ─────────────

    [Fact]
    public void An_ack_below_what_we_ever_sent_is_too_old_whatever_the_peers_largest_window()
    {
        // SND.UNA − MAX.SND.WND reaches below our ISS while less than a window has been acknowledged: an ACK there
        // acknowledges nothing we sent, and taking its data would widen a blind injection's target (Linux bounds the
        // window by bytes_acked since 2023).
        (Harness h, TcpConnection c) = Established(); // SND.UNA = ISS + 1, nothing sent, MAX.SND.WND = 64256
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), unchecked(Isn + 1 - 1000), window: PeerWindow, payload: Bytes(100));
        h.Expect(TcpFlags.Ack, Our(0), Their(0)); // a challenge ACK; the data is not taken
        h.ExpectNothing();
        Assert.Equal(0, c.BytesToRead);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPChallengeACK]);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.AckTooOld));

        // An old ACK within what really was acknowledged is only old: ignored, its data taken, no challenge.
        c.Send(Bytes(2000));
        h.Poll();
        h.DrainSent();
        h.AdvanceTo(Ms(10));
        h.Send(TcpFlags.Ack, Their(0), Our(2000), window: PeerWindow);
        h.DrainSent();
        h.Send(TcpFlags.Ack | TcpFlags.Psh, Their(0), Our(1000), window: PeerWindow, payload: Bytes(100)); // reordered: an older ACK
        Assert.Equal(100, c.BytesToRead);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPChallengeACK]);
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.AckTooOld));
    }
}
