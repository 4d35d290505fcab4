using UserTcp.Wire;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>TCP Fast Open, the client (RFC 7413 §4.1, §4.2.2; Linux's tcp_send_syn_data and tcp_rcv_fastopen_synack).</summary>
public sealed class FastOpenClientTests
{
    private const uint Iss = Harness.LocalIss;
    private const uint PeerIss = Harness.PeerIss;
    private static readonly IpEndpoint Peer = new(Harness.PeerAddress, Harness.PeerPort);
    private static readonly byte[] Cookie = [0xab, 0xcd, 0x12, 0x34];

    private static Harness NewHarness(FastOpenFlags flags = FastOpenFlags.Client) =>
        new(new TcpConfig { FastOpen = flags, Timestamps = false });

    private static TcpOptions SynAckOptions(byte[]? cookie = null, ushort mss = 1460, TcpFastOpenKind kind = TcpFastOpenKind.Rfc7413)
    {
        var options = new TcpOptions { MaxSegmentSize = mss, SackPermitted = true, WindowScale = 6 };
        if (cookie is not null)
        {
            Assert.True(TcpFastOpenCookie.TryCreate(cookie, out TcpFastOpenCookie value));
            options.SetFastOpen(kind, value);
        }
        return options;
    }

    /// <summary>A first connection that asks for a cookie and gets <see cref="Cookie"/> (and an MSS) back; then closed.</summary>
    private static void WarmUp(Harness h, ushort mss = 1460)
    {
        TcpConnection warm = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions(Cookie, mss));
        h.Expect(TcpFlags.Ack, unchecked(Iss + 1), PeerIss + 1);
        warm.Abort();
        h.Poll();
        h.DrainSent();
    }

    [Fact]
    public void Without_a_cookie_the_syn_asks_for_one_and_carries_no_data_even_with_data_queued()
    {
        var h = NewHarness();
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        Assert.False(c.FastOpenAwaitsData);
        c.Send(new byte[500]);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Iss);
        Assert.Equal(TcpFastOpenKind.Rfc7413, syn.Options.FastOpen);
        Assert.True(syn.Options.FastOpenCookie.IsRequest);
        Assert.Empty(syn.Payload);
        Assert.Equal(FastOpenClientFailure.CookieUnavailable, c.FastOpenClientFailure);
        h.ExpectNothing();
        // The SYN-ACK's cookie is kept for the server, with its MSS.
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions(Cookie, mss: 940));
        FastOpenCacheEntry? entry = h.Engine.FastOpenCookies.Get(Harness.PeerAddress);
        Assert.NotNull(entry);
        Assert.Equal(Cookie, entry.Cookie);
        Assert.Equal(940, entry.Mss);
        // The data queued in SYN-SENT goes once ESTABLISHED, carrying the ACK: no pure ACK before it.
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Iss + 1), PeerIss + 1, payloadLength: 500);
        h.ExpectNothing();
        Assert.False(c.FastOpenSynDataAcknowledged);
    }

    [Fact]
    public void With_a_cookie_the_syn_waits_for_the_first_write_and_carries_the_cookie_and_what_fits()
    {
        var h = NewHarness();
        WarmUp(h, mss: 940);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        h.Poll();
        h.ExpectNothing(); // TCP_FASTOPEN_CONNECT: nothing goes before the first write
        Assert.True(c.FastOpenAwaitsData);
        Assert.Equal(900, c.FastOpenSynRoom); // the cached MSS less Linux's 40 bytes of option room
        c.Send(new byte[2000]);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Iss, payloadLength: 900);
        Assert.Equal(Cookie, syn.Options.FastOpenCookie.Value.ToArray());
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPOrigDataSent]); // the SYN's data (Linux's tcp_send_syn_data)
        // The SYN-ACK acknowledges the data: a pure ACK, then the rest; the SYN's data never goes again.
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 901), options: SynAckOptions());
        Assert.Equal(TcpState.Established, c.State);
        Assert.True(c.FastOpenSynDataAcknowledged);
        Assert.Equal(unchecked(Iss + 901), c.SndUna.Value);
        Sent next = h.Next();
        Assert.Equal(unchecked(Iss + 901), next.Seq);
        while (h.TryNext() is Sent more) Assert.True(new SeqNumber(more.Seq) >= new SeqNumber(unchecked(Iss + 901)), $"SYN data sent again: {more}");
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenActive]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenActiveFail]);
        Assert.Equal(0, h.Engine.Counters.Retransmissions);
    }

    [Fact]
    public void A_syn_ack_that_acknowledges_only_the_syn_has_the_data_sent_again_at_once_carrying_the_ack()
    {
        var h = NewHarness();
        WarmUp(h);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[700]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss, payloadLength: 700);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions(mss: 1040));
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Iss + 1), PeerIss + 1, payloadLength: 700);
        h.ExpectNothing(); // no pure ACK beside it
        Assert.False(c.FastOpenSynDataAcknowledged);
        Assert.Equal(FastOpenClientFailure.DataNotAcknowledged, c.FastOpenClientFailure);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenActiveFail]);
        // Its ACK ends it: nothing more is sent again.
        h.Send(TcpFlags.Ack, PeerIss + 1, unchecked(Iss + 701));
        Assert.Equal(unchecked(Iss + 701), c.SndUna.Value);
        h.Advance(TimeSpan.FromSeconds(5));
        h.ExpectNothing();
        // The cookie stays cached.
        Assert.Equal(Cookie, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Cookie);
    }

    [Fact]
    public void A_syn_ack_that_acknowledges_part_of_the_data_has_only_the_rest_sent_again()
    {
        var h = NewHarness();
        WarmUp(h);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[18]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss, payloadLength: 18);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 10), options: SynAckOptions());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Iss + 10), PeerIss + 1, payloadLength: 9);
        h.ExpectNothing();
        Assert.False(c.FastOpenSynDataAcknowledged); // TCPI_OPT_SYN_DATA only when all of it was acknowledged
    }

    [Fact]
    public void A_syn_ack_that_acknowledges_beyond_the_data_is_answered_by_a_reset_and_the_cache_is_kept()
    {
        var h = NewHarness();
        WarmUp(h);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[100]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss, payloadLength: 100);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 100_101), options: SynAckOptions([0xba, 0xdc, 0x00, 0xce]));
        h.Expect(TcpFlags.Rst, unchecked(Iss + 100_101));
        Assert.Equal(TcpState.SynSent, c.State);
        Assert.Equal(Cookie, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Cookie);
    }

    [Fact]
    public void A_retransmitted_syn_carries_neither_the_cookie_nor_the_data()
    {
        var h = NewHarness();
        WarmUp(h);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[1000]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss, payloadLength: 1000);
        h.AdvanceToNextDeadline();
        Sent again = h.Expect(TcpFlags.Syn, Iss);
        Assert.Equal(TcpFastOpenKind.None, again.Options.FastOpen);
        Assert.Empty(again.Payload);
        // The plain SYN's SYN-ACK: the data goes after the handshake, and the SYN's loss is marked for the server.
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, unchecked(Iss + 1), PeerIss + 1, payloadLength: 1000);
        Assert.Equal(FastOpenClientFailure.SynRetransmitted, c.FastOpenClientFailure);
        Assert.Equal(1, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.SynLosses);
    }

    [Fact]
    public void A_retransmitted_cookie_request_carries_no_option_and_a_late_cookie_is_still_cached()
    {
        var h = NewHarness();
        h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Iss);
        h.AdvanceToNextDeadline();
        Assert.Equal(TcpFastOpenKind.None, h.Expect(TcpFlags.Syn, Iss).Options.FastOpen);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions([0xaa, 0xaa, 0xbb, 0xbb, 0xcc, 0xcc], mss: 1240));
        Assert.Equal(6, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Cookie!.Length);
        Assert.Equal(1240, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Mss);
    }

    [Fact]
    public void In_no_cookie_mode_the_syn_carries_data_without_an_option_and_an_unsolicited_cookie_is_not_cached()
    {
        var h = NewHarness(FastOpenFlags.Client | FastOpenFlags.ClientNoCookie);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        Assert.True(c.FastOpenAwaitsData);
        c.Send(new byte[1000]);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Iss, payloadLength: 1000);
        Assert.Equal(TcpFastOpenKind.None, syn.Options.FastOpen);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1001), options: SynAckOptions(Cookie, mss: 940));
        Assert.True(c.FastOpenSynDataAcknowledged);
        Assert.Null(h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Cookie);
        Assert.Equal(940, h.Engine.FastOpenCookies.Get(Harness.PeerAddress)!.Mss);
    }

    [Fact]
    public void An_ordinary_connect_sends_no_fast_open_option_and_no_data_in_its_syn()
    {
        var h = NewHarness();
        WarmUp(h);
        TcpConnection c = h.Engine.Connect(Peer, Harness.LocalPort);
        c.Send(new byte[100]);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Iss);
        Assert.Equal(TcpFastOpenKind.None, syn.Options.FastOpen);
        Assert.Empty(syn.Payload);
        Assert.False(c.FastOpenAwaitsData);
    }

    [Fact]
    public void An_unanswered_request_is_asked_again_in_the_experimental_option_once_then_in_rfc_7413s_for_good()
    {
        var h = NewHarness();
        TcpFastOpenKind[] asked = new TcpFastOpenKind[4];
        for (int i = 0; i < asked.Length; i++)
        {
            TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
            h.Poll();
            asked[i] = h.Expect(TcpFlags.Syn, Iss).Options.FastOpen;
            h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIss, unchecked(Iss + 1), options: SynAckOptions());
            c.Abort();
            h.Poll();
            h.DrainSent();
        }
        Assert.Equal([TcpFastOpenKind.Rfc7413, TcpFastOpenKind.Experimental, TcpFastOpenKind.Rfc7413, TcpFastOpenKind.Rfc7413], asked);
    }

    [Fact]
    public void A_cookie_that_came_in_the_experimental_option_goes_back_in_it()
    {
        var h = NewHarness();
        WarmUp(h);
        h.Engine.FastOpenCookies.Flush();
        h.Engine.FastOpenCookies.Set(Harness.PeerAddress, 0, Cookie, cookieExperimental: true, synLost: false, tryExperimental: 0, h.Now);
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[10]);
        h.Poll();
        Sent syn = h.Expect(TcpFlags.Syn, Iss, payloadLength: 10);
        Assert.Equal(TcpFastOpenKind.Experimental, syn.Options.FastOpen);
    }
}

/// <summary>Linux's PAWSActiveRejected in SYN-SENT (tcp_rcv_synsent_state_process), which upstream's fastopen/client/synack-data.pkt checks.</summary>
public sealed class SynSentTimestampTests
{
    [Fact]
    public void A_syn_ack_echoing_a_tsval_never_sent_is_answered_by_a_reset_and_a_later_good_one_establishes()
    {
        var h = new Harness(new TcpConfig { Timestamps = true });
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Advance(TimeSpan.FromMilliseconds(5));
        h.Expect(TcpFlags.Syn, Harness.LocalIss); // TSval 5 (the clock in ms)
        h.Advance(TimeSpan.FromMilliseconds(10));
        var bad = new TcpOptions { MaxSegmentSize = 1460, Timestamp = new TcpTimestamp(1000, 9999) };
        h.Send(TcpFlags.Syn | TcpFlags.Ack, Harness.PeerIss, unchecked(Harness.LocalIss + 1), options: bad);
        h.Expect(TcpFlags.Rst, unchecked(Harness.LocalIss + 1));
        h.ExpectNothing(); // no ACK: the SYN-ACK was not taken
        Assert.Equal(TcpState.SynSent, c.State);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtPAWSActiveRejected]);

        var good = new TcpOptions { MaxSegmentSize = 1460, Timestamp = new TcpTimestamp(1000, 5) };
        h.Send(TcpFlags.Syn | TcpFlags.Ack, Harness.PeerIss, unchecked(Harness.LocalIss + 1), options: good);
        Assert.Equal(TcpState.Established, c.State);
        h.Expect(TcpFlags.Ack, unchecked(Harness.LocalIss + 1));
    }
}
