using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>The server side of TCP Fast Open (RFC 7413 §4.2.2), rule by rule, as Linux's tcp_try_fastopen decides.</summary>
public class FastOpenServerTests
{
    private static readonly FastOpenKey Key = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
    private static readonly byte[] Request = "0123456789"u8.ToArray();

    private static TcpConfig Server(FastOpenFlags flags = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey? key = null) =>
        new() { FastOpen = flags, FastOpenKey = key ?? Key };

    private static TcpFastOpenCookie ValidCookie(FastOpenKey? key = null) =>
        FastOpenServerCookies.Make((key ?? Key).Primary, Harness.PeerAddress, Harness.LocalAddress);

    private static TcpOptions SynOptions(TcpFastOpenKind kind, TcpFastOpenCookie cookie)
    {
        TcpOptions options = PeerSynOptions;
        options.SetFastOpen(kind, cookie);
        return options;
    }

    private static TcpOptions WithCookie(TcpFastOpenCookie cookie) => SynOptions(TcpFastOpenKind.Rfc7413, cookie);

    private static TcpOptions CookieRequest(TcpFastOpenKind kind = TcpFastOpenKind.Rfc7413) => SynOptions(kind, default);

    private static (Harness, TcpPassiveOpen) Listening(TcpConfig config, int queueLength = 16, int backlog = 128)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, backlog);
        listener.FastOpenQueueLength = queueLength;
        return (h, listener);
    }

    [Theory]
    // The key, addresses and cookies of upstream packetdrill: run_all.py's TFO_COOKIE for defaults.sh's key, and simple1..3.pkt.
    [InlineData("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4", "192.0.2.1", "192.168.0.1", "3021b9d889017eeb")]
    [InlineData("a0bf63f7-ed803d81-cd641d30-cebc4a90", "10.248.0.2", "192.168.0.2", "00abaaabe8e954c2")]
    [InlineData("a0bf63f7-ed803d81-cd641d30-cebc4a90", "10.248.0.3", "192.168.0.2", "1313a2da994a0951")]
    [InlineData("a0bf63f7-ed803d81-cd641d30-cebc4a90", "10.248.0.3", "192.168.0.3", "76d2c1c530f51f79")]
    public void Cookies_are_linux_siphash_of_the_addresses(string key, string client, string server, string cookie)
    {
        Assert.Equal(cookie, FastOpenServerCookies.Make(FastOpenKey.Parse(key).Primary, Ipv4Address.Parse(client), Ipv4Address.Parse(server)).ToString());
    }

    [Theory]
    [InlineData(TcpFastOpenKind.Rfc7413)]
    [InlineData(TcpFastOpenKind.Experimental)]
    public void A_cookie_request_gets_a_cookie_in_the_same_kind_and_an_ordinary_handshake(TcpFastOpenKind kind)
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: CookieRequest(kind), payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // the data is not taken
        Assert.Equal(kind, synAck.Options.FastOpen);
        Assert.Equal(ValidCookie(), synAck.Options.FastOpenCookie);
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenCookieReqd]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
    }

    [Fact]
    public void A_valid_cookie_with_data_is_accepted_at_once_and_the_syn_ack_acknowledges_the_data()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        Assert.Equal(TcpFastOpenKind.None, synAck.Options.FastOpen); // no cookie back for a valid one
        Assert.True(listener.TryAccept(out TcpConnection child)); // before the handshake's ACK
        Assert.Equal(TcpState.SynReceived, child.State);
        Assert.True(child.IsFastOpenChild);
        Assert.Equal(Request.Length, child.BytesToRead);
        byte[] read = new byte[32];
        child.Receive(read, out int n);
        Assert.Equal(Request, read[..n]);
        Assert.True(child.Info().FastOpenSynData);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
        Assert.Equal(1, listener.FastOpenQueued);

        h.Send(TcpFlags.Ack, PeerIsn + 1 + (uint)Request.Length, Isn + 1, window: 502);
        Assert.Equal(TcpState.Established, child.State);
        Assert.Equal(0, listener.FastOpenQueued);
        Assert.False(listener.TryAccept(out _)); // not queued a second time by its handshake
        Assert.Equal(0, listener.SynQueueLength);
    }

    [Fact]
    public void A_syn_with_fin_is_dropped_unanswered_even_with_a_valid_cookie_and_data()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn | TcpFlags.Fin, PeerIsn, options: WithCookie(ValidCookie()), payload: Request);
        h.Send(TcpFlags.Syn | TcpFlags.Fin, PeerIsn, options: PeerSynOptions, sourcePort: 50001);
        h.ExpectNothing(); // no SYN-ACK, no RST (Linux's tcp_rcv_state_process in LISTEN)
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Equal(0, listener.FastOpenQueued);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
        Assert.Null(h.Engine.PollAt); // nothing kept that would wake it
        Assert.Equal(2, h.Log.Of(TcpEventKind.Dropped).Count(e => e.Cause == TcpCause.SynWithFinInListen));

        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request); // the same SYN without FIN
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        Assert.True(listener.TryAccept(out TcpConnection child));
        Assert.Equal(TcpState.SynReceived, child.State);
    }

    [Fact]
    public void An_invalid_cookie_gets_a_fresh_one_and_its_data_is_not_acknowledged()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        Assert.True(TcpFastOpenCookie.TryCreate(Convert.FromHexString("0123456789abcdef"), out TcpFastOpenCookie bad));
        h.Send(TcpFlags.Syn, PeerIsn, options: SynOptions(TcpFastOpenKind.Experimental, bad), payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(TcpFastOpenKind.Experimental, synAck.Options.FastOpen);
        Assert.Equal(ValidCookie(), synAck.Options.FastOpenCookie);
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassiveFail]);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.True(listener.TryAccept(out TcpConnection connection));
        Assert.Equal(0, connection.BytesToRead);
        Assert.False(connection.Info().FastOpenSynData);
        Assert.False(connection.IsFastOpenChild);
    }

    [Fact]
    public void A_cookie_of_another_length_is_invalid()
    {
        (Harness h, _) = Listening(Server());
        Assert.True(TcpFastOpenCookie.TryCreate(ValidCookie().Value[..4], out TcpFastOpenCookie shortCookie));
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(shortCookie), payload: Request);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassiveFail]);
    }

    [Fact]
    public void A_valid_cookie_without_data_still_opens_a_fast_open_connection()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.True(listener.TryAccept(out TcpConnection child));
        Assert.True(child.IsFastOpenChild);
        Assert.False(child.Info().FastOpenSynData);
    }

    [Fact]
    public void The_syn_ack_retransmission_carries_no_cookie_and_still_acknowledges_the_data()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: CookieRequest(), sourcePort: 50001);
        Assert.Equal(TcpFastOpenKind.Rfc7413, h.Next().Options.FastOpen);
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50002);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        h.AdvanceToNextDeadline();
        Sent first = h.Next();
        Sent second = h.Next();
        Assert.All([first, second], s => Assert.Equal(TcpFastOpenKind.None, s.Options.FastOpen));
        Assert.Equal(PeerIsn + 1 + (uint)Request.Length, (first.DestinationPort == 50002 ? first : second).Ack);
        h.ExpectNothing();
    }

    [Fact]
    public void Beyond_the_queue_length_a_syn_with_data_gets_an_ordinary_handshake()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server(), queueLength: 1);
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50001);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50002);
        Sent plain = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // data not acknowledged
        Assert.Equal(TcpFastOpenKind.None, plain.Options.FastOpen); // and no cookie: as Linux, the check comes first
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenListenOverflow]);
        Assert.Equal(1, listener.PendingAccepts);

        // The first finishes its handshake: its place is free again.
        h.Send(TcpFlags.Ack, PeerIsn + 1 + (uint)Request.Length, Isn + 1, window: 502, sourcePort: 50001);
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50003);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
    }

    [Fact]
    public void A_flood_of_syns_with_valid_cookies_makes_no_more_fast_open_connections_than_the_queue_length()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server(), queueLength: 10, backlog: 4096);
        for (int i = 0; i < 1000; i++)
        {
            h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: (ushort)(20000 + i));
        }
        Assert.Equal(10, h.Engine.Connections.Count(c => c.IsFastOpenChild));
        Assert.Equal(10, listener.PendingAccepts);
        Assert.Equal(990, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenListenOverflow]);
        Assert.Equal(10 * Request.Length, h.Engine.Connections.Sum(c => c.BytesToRead)); // the rest took no data
    }

    [Fact]
    public void A_reset_after_accept_keeps_its_place_for_sixty_seconds_one_before_accept_does_not()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server(), queueLength: 1);
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50001);
        h.DrainSent();
        h.Send(TcpFlags.Rst | TcpFlags.Ack, PeerIsn + 1 + (uint)Request.Length, Isn + 1, sourcePort: 50001);
        Assert.Equal(0, listener.FastOpenQueued); // not accepted yet: freed
        Assert.True(listener.TryAccept(out TcpConnection reset)); // its data is still there to read, as Linux
        Assert.Equal(Request.Length, reset.BytesToRead);

        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50002);
        h.DrainSent();
        Assert.True(listener.TryAccept(out _));
        h.Send(TcpFlags.Rst | TcpFlags.Ack, PeerIsn + 1 + (uint)Request.Length, Isn + 1, sourcePort: 50002);
        Assert.Equal(1, listener.FastOpenQueued); // accepted, then reset: held

        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50003);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // no room
        h.Advance(TimeSpan.FromSeconds(60));
        h.DrainSent();
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50004);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
    }

    [Fact]
    public void Without_the_server_bit_or_a_queue_a_valid_cookie_gets_an_ordinary_handshake_and_no_cookie()
    {
        foreach ((FastOpenFlags flags, int queue) in new[] { (FastOpenFlags.Client, 16), (FastOpenFlags.Client | FastOpenFlags.Server, 0) })
        {
            (Harness h, TcpPassiveOpen listener) = Listening(Server(flags), queue);
            h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request);
            Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
            Assert.Equal(TcpFastOpenKind.None, synAck.Options.FastOpen);
            h.Send(TcpFlags.Syn, PeerIsn + 100, options: CookieRequest(), sourcePort: 50009);
            Assert.Equal(TcpFastOpenKind.None, h.Next().Options.FastOpen);
            Assert.Equal(0, listener.PendingAccepts);
            Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
        }
    }

    [Fact]
    public void With_cookies_not_required_any_syn_with_data_opens_at_once()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server(FastOpenFlags.Server | FastOpenFlags.ServerCookieNotRequired));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        Assert.Equal(TcpFastOpenKind.None, synAck.Options.FastOpen);
        Assert.True(listener.TryAccept(out TcpConnection child));
        Assert.Equal(Request.Length, child.BytesToRead);
    }

    [Fact]
    public void Data_without_a_cookie_is_not_taken_when_cookies_are_required()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(TcpFastOpenKind.None, synAck.Options.FastOpen);
        Assert.Equal(0, listener.PendingAccepts);
    }

    [Fact]
    public void A_cookie_of_the_backup_key_opens_and_the_syn_ack_hands_out_the_primary_keys_cookie()
    {
        FastOpenKey rotated = FastOpenKey.Parse("01010101-02020202-03030303-04040404,a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
        (Harness h, TcpPassiveOpen listener) = Listening(Server(key: rotated));
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie(Key)), payload: Request);
        Sent synAck = h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1 + (uint)Request.Length);
        Assert.Equal(ValidCookie(rotated), synAck.Options.FastOpenCookie);
        Assert.NotEqual(ValidCookie(Key), synAck.Options.FastOpenCookie);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassiveAltKey]);
        Assert.True(listener.TryAccept(out _));
    }

    [Fact]
    public void Server_without_socket_option_gives_every_listener_a_queue_of_its_backlog()
    {
        var h = new Harness(Server(FastOpenFlags.Server | FastOpenFlags.ServerWithoutSocketOption));
        Assert.Equal(5, h.Engine.Listen(Harness.LocalPort, backlog: 5).FastOpenQueueLength);
        var plain = new Harness(Server(FastOpenFlags.ServerWithoutSocketOption));
        Assert.Equal(0, plain.Engine.Listen(Harness.LocalPort, backlog: 5).FastOpenQueueLength);
    }

    [Fact]
    public void A_stack_without_a_configured_key_uses_a_random_one_per_stack()
    {
        var one = new TcpEngine(Harness.LocalAddress, new TcpConfig());
        var two = new TcpEngine(Harness.LocalAddress, new TcpConfig());
        TcpPassiveOpen a = one.Listen(80), b = two.Listen(80);
        var id = new FourTuple(new IpEndpoint(Harness.LocalAddress, 80), new IpEndpoint(Harness.PeerAddress, 40000));
        Assert.NotEqual(one.FastOpenCookieFor(a, id), two.FastOpenCookieFor(b, id));
        Assert.Equal(8, one.FastOpenCookieFor(a, id).Length);
    }

    [Fact]
    public void An_accepted_fast_open_connection_outlives_its_closed_listener()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server());
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request);
        h.DrainSent();
        Assert.True(listener.TryAccept(out TcpConnection child));
        listener.Close();
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, PeerIsn + 1 + (uint)Request.Length, Isn + 1, window: 502);
        Assert.Equal(TcpState.Established, child.State);
        h.ExpectNothing();
    }

    [Fact]
    public void A_fast_open_connection_gets_one_syn_ack_retry_more_than_an_ordinary_one()
    {
        (Harness h, TcpPassiveOpen listener) = Listening(Server() with { SynAckRetries = 2 });
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50001);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: 50002);
        Assert.True(listener.TryAccept(out TcpConnection child));
        TcpConnection plain = Assert.Single(h.Engine.Connections, c => c.RemoteEndpoint.Port == 50002);
        h.DrainSent();
        for (int i = 0; i < 3; i++) h.AdvanceToNextDeadline(); // 1 s, 2 s, 4 s: the ordinary one gives up at its third timeout
        Assert.Equal(TcpState.Closed, plain.State);
        Assert.Equal(TcpState.SynReceived, child.State);
        Assert.Equal(3, h.Log.Of(TcpEventKind.Retransmission).Count(e => e.Connection.Remote.Port == 50001));
        h.AdvanceToNextDeadline();
        Assert.Equal(TcpState.Closed, child.State); // tcp_fastopen_synack_timer: synack_retries + 1
        Assert.Equal(3, h.Log.Of(TcpEventKind.Retransmission).Count(e => e.Connection.Remote.Port == 50001));
    }

    [Fact]
    public void Under_syn_cookies_the_fast_open_option_is_not_looked_at()
    {
        // tcp_conn_request parses the option only when no SYN cookie is wanted: a cookie SYN-ACK carries no Fast Open
        // cookie and acknowledges no data, and nothing is kept.
        (Harness h, TcpPassiveOpen listener) = Listening(Server() with { SynCookies = SynCookieMode.Always });
        h.Send(TcpFlags.Syn, PeerIsn, options: WithCookie(ValidCookie()), payload: Request, sourcePort: 50001);
        Sent withCookie = h.Next();
        Assert.Equal(PeerIsn + 1, withCookie.Ack);
        Assert.Equal(TcpFastOpenKind.None, withCookie.Options.FastOpen);
        h.Send(TcpFlags.Syn, PeerIsn, options: CookieRequest(), sourcePort: 50002);
        Assert.Equal(TcpFastOpenKind.None, h.Next().Options.FastOpen);
        Assert.Empty(h.Engine.Connections);
        Assert.Equal(0, listener.PendingAccepts);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
    }
}
