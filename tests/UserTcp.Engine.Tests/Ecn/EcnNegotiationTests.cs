using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.Ecn;

/// <summary>RFC 3168 §6.1.1's handshake, with Linux's rules (tcp_ecn_send_syn, tcp_ecn_create_request, tcp_ecn_rcv_synack).</summary>
public class EcnNegotiationTests
{
    private const TcpFlags EceCwr = TcpFlags.Ece | TcpFlags.Cwr;

    [Theory]
    // An ECN-setup SYN (ECE and CWR) is agreed to unless ECN is off; anything else is not an ECN-setup SYN.
    [InlineData(EcnMode.Off, EceCwr, false)]
    [InlineData(EcnMode.Off, TcpFlags.None, false)]
    [InlineData(EcnMode.Accept, EceCwr, true)]
    [InlineData(EcnMode.Accept, TcpFlags.None, false)]
    [InlineData(EcnMode.Accept, TcpFlags.Ece, false)]
    [InlineData(EcnMode.Accept, TcpFlags.Cwr, false)]
    [InlineData(EcnMode.Request, EceCwr, true)]
    [InlineData(EcnMode.Request, TcpFlags.None, false)]
    [InlineData(EcnMode.Request, TcpFlags.Ece, false)]
    public void A_syn_ack_carries_ece_alone_only_when_the_syn_asked_and_the_configuration_allows(EcnMode mode, TcpFlags synEcn, bool agreed)
    {
        var h = new Harness(new TcpConfig { Ecn = mode });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn | synEcn, PeerIsn, options: PeerSynOptions);
        Sent synAck = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack | (agreed ? TcpFlags.Ece : TcpFlags.None), synAck.Flags); // never CWR
        Assert.Equal(EcnCodepoint.NotEct, synAck.Ecn); // RFC 3168 §6.1.1: a SYN-ACK is not ECN-capable
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(agreed, c.EcnEnabled);
        Assert.Equal(agreed, c.Info().Ecn);
    }

    [Theory]
    [InlineData(EcnCodepoint.Ect0)]
    [InlineData(EcnCodepoint.Ce)]
    public void An_ecn_setup_syn_that_arrives_ect_marked_is_not_agreed_to(EcnCodepoint marked)
    {
        // Linux's tcp_ecn_create_request: a SYN is never ECT (RFC 3168 §6.1.1), so a marked one says the path rewrites the field.
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn | EceCwr, PeerIsn, options: PeerSynOptions, ecn: marked);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
    }

    [Theory]
    // Only ECE alone agrees (RFC 3168 §6.1.1); ECE and CWR both is a peer reflecting the SYN's bits.
    [InlineData(TcpFlags.Ece, true)]
    [InlineData(EceCwr, false)]
    [InlineData(TcpFlags.Cwr, false)]
    [InlineData(TcpFlags.None, false)]
    public void A_requesting_syn_is_agreed_to_by_a_syn_ack_with_ece_alone(TcpFlags synAckEcn, bool agreed)
    {
        var h = new Harness(new TcpConfig { Ecn = EcnMode.Request });
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        Sent syn = h.Next();
        Assert.Equal(TcpFlags.Syn | EceCwr, syn.Flags);
        Assert.Equal(EcnCodepoint.NotEct, syn.Ecn);
        h.Send(TcpFlags.Syn | TcpFlags.Ack | synAckEcn, PeerIsn, Isn + 1, options: PeerSynOptions);
        Sent ack = h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1); // no ECE: the SYN-ACK's ECE echoes nothing
        Assert.Equal(EcnCodepoint.NotEct, ack.Ecn);
        Assert.Equal(agreed, c.EcnEnabled);
        Assert.Equal(0, c.EcnReductions);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
    }

    [Theory]
    [InlineData(EcnMode.Off)]
    [InlineData(EcnMode.Accept)]
    public void Only_the_request_mode_asks_in_its_syn(EcnMode mode)
    {
        var h = new Harness(new TcpConfig { Ecn = mode });
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn);
        // A SYN-ACK with ECE that was never asked for turns nothing on.
        h.Send(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, PeerIsn, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.False(c.EcnEnabled);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_retransmitted_syn_drops_its_ecn_request_with_fallback(bool fallback)
    {
        var h = new Harness(new TcpConfig { Ecn = EcnMode.Request, EcnFallback = fallback });
        h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn | EceCwr, Isn);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | (fallback ? TcpFlags.None : EceCwr), Isn);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | (fallback ? TcpFlags.None : EceCwr), Isn);
        h.ExpectNothing();
    }

    [Fact]
    public void A_simultaneous_open_agrees_when_both_syns_asked()
    {
        var h = new Harness(new TcpConfig { Ecn = EcnMode.Request });
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn | EceCwr, Isn);
        h.Send(TcpFlags.Syn | EceCwr, PeerIsn, options: PeerSynOptions);
        // Linux's tcp_ecn_send_synack: the SYN-ACK keeps ECE and drops CWR.
        h.Expect(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, PeerIsn, Isn + 1, options: PeerSynOptions);
        Assert.Equal(TcpState.Established, c.State);
        Assert.True(c.EcnEnabled);
    }

    [Fact]
    public void A_simultaneous_open_whose_peer_syn_did_not_ask_stays_without_ecn()
    {
        var h = new Harness(new TcpConfig { Ecn = EcnMode.Request });
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn | EceCwr, Isn);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        Assert.Equal(TcpState.Established, c.State);
        Assert.False(c.EcnEnabled);
    }

    [Fact]
    public void A_syn_ack_retransmission_keeps_its_ece()
    {
        // Linux's tcp_ecn_make_synack: the request's agreement stands for every SYN-ACK (no fallback on the passive side).
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn | EceCwr, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, Isn, PeerIsn + 1);
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, Isn, PeerIsn + 1);
    }
    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void A_syn_cookie_keeps_the_agreement_in_its_tsval_and_without_timestamps_has_none(bool timestamps, bool agreed)
    {
        // Linux's tcp_conn_request and cookie_init_timestamp (TS_OPT_ECN); cookie_ecn_ok on the ACK's TSecr.
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        TcpOptions syn = PeerSynOptions;
        if (timestamps) syn.Timestamp = new TcpTimestamp(100, 0);
        h.Send(TcpFlags.Syn | EceCwr, PeerIsn, options: syn);
        Sent synAck = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack | (agreed ? TcpFlags.Ece : TcpFlags.None), synAck.Flags);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
        TcpOptions ack = default;
        if (timestamps) ack.Timestamp = new TcpTimestamp(101, synAck.Options.Timestamp!.Value.Value);
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: 502, options: ack);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(agreed, c.EcnEnabled);
    }
}
