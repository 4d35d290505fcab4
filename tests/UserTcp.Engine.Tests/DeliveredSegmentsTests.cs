using UserTcp.Engine.Tests.Ecn;
using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// tcpi_delivered and tcpi_delivered_ce (Linux's tp->delivered, tp->delivered_ce): segments delivered, SACKed or
/// cumulatively acknowledged, each once; the SYN or SYN-ACK counts one, a Fast Open SYN and its data one together.
/// </summary>
public sealed class DeliveredSegmentsTests
{
    private static readonly IpEndpoint Peer = new(Harness.PeerAddress, Harness.PeerPort);
    private static readonly byte[] Cookie = [0xab, 0xcd, 0x12, 0x34];

    private static uint Delivered(TcpConnection c) => c.Info().DeliveredSegments;

    private static void PeerAck(Harness h, int acked, params (int From, int To)[] sacked)
    {
        var options = new TcpOptions();
        foreach ((int from, int to) in sacked) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from)), new SeqNumber(Our(to))));
        h.Send(TcpFlags.Ack, Their(0), Our(acked), window: PeerWindow, options: options);
    }

    [Fact]
    public void The_ack_of_our_syn_ack_counts_one_and_a_cumulative_ack_each_segment_it_covers_whole()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), timestamps: false);
        Assert.Equal(1u, Delivered(c));
        c.Send(Bytes(3 * 1460));
        h.Poll();
        for (int i = 0; i < 3; i++)
        {
            Sent s = h.Next();
            Assert.Equal((Our(i * 1460), 1460), (s.Seq, s.Payload.Length));
        }
        h.ExpectNothing();
        PeerAck(h, 730); // half a segment: nothing delivered whole
        Assert.Equal(1u, Delivered(c));
        PeerAck(h, 3 * 1460);
        Assert.Equal(4u, Delivered(c));
        Assert.Equal(0u, c.Info().DeliveredCeSegments);
        h.ExpectNothing();
    }

    [Fact]
    public void A_sacked_segment_counts_when_sacked_and_not_again_when_acknowledged()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), timestamps: false);
        c.Send(Bytes(4 * 1460));
        h.Poll();
        while (h.TryNext() is not null) { }
        PeerAck(h, 0, (2 * 1460, 3 * 1460));
        Assert.Equal(2u, Delivered(c));
        PeerAck(h, 0, (2 * 1460, 3 * 1460)); // the same block again: nothing new
        Assert.Equal(2u, Delivered(c));
        PeerAck(h, 0, (2 * 1460, 4 * 1460));
        Assert.Equal(3u, Delivered(c));
        PeerAck(h, 4 * 1460);
        Assert.Equal(5u, Delivered(c)); // the two never SACKed
        PeerAck(h, 4 * 1460, (0, 1460)); // a D-SACK of what was acknowledged
        Assert.Equal(5u, Delivered(c));
        h.ExpectNothing();
    }

    [Fact]
    public void A_dsack_of_a_resent_segment_counts_the_needless_copy_as_delivered_but_not_more_copies_than_were_resent()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), new TcpConfig { TailLossProbe = false }, timestamps: false);
        c.Send(Bytes(1460));
        h.Poll();
        Assert.Equal(Our(0), h.Next().Seq);
        h.AdvanceToNextDeadline(); // the timeout resends it
        Assert.Equal(Our(0), h.Next().Seq);
        Assert.Equal(1, c.Info().TotalRetransmissions);
        PeerAck(h, 1460, (0, 1460)); // both copies arrived: the segment, and its D-SACKed copy (Linux's tcp_dsack_seen)
        Assert.Equal(3u, Delivered(c));
        PeerAck(h, 1460, (0, 1460)); // a second D-SACK: more copies reported than were resent, dubious (the network's)
        Assert.Equal(3u, Delivered(c));
        h.ExpectNothing();
    }

    [Fact]
    public void Without_sack_duplicates_count_and_the_cumulative_ack_counts_the_rest_at_least_one()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), timestamps: false, sack: false);
        c.Send(Bytes(4 * 1460));
        h.Poll();
        while (h.TryNext() is not null) { }
        PeerAck(h, 0);
        PeerAck(h, 0);
        Assert.Equal(3u, Delivered(c));
        PeerAck(h, 4 * 1460);
        Assert.Equal(5u, Delivered(c));
        h.ExpectNothing();
    }

    [Fact]
    public void An_ack_with_ece_counts_what_it_delivered_as_ce_too()
    {
        (Harness h, TcpConnection c) = EcnFixtures.EcnEstablished();
        EcnFixtures.SendSegments(h, c, 2);
        h.Send(TcpFlags.Ack | TcpFlags.Ece, PeerIsn + 1, Our(2 * EcnFixtures.Mss), window: 502);
        Assert.Equal(3u, Delivered(c));
        Assert.Equal(2u, c.Info().DeliveredCeSegments);
        Assert.Single(EcnFixtures.SendSegments(h, c, 1)); // carries CWR
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(3 * EcnFixtures.Mss), window: 502);
        Assert.Equal(4u, Delivered(c));
        Assert.Equal(2u, c.Info().DeliveredCeSegments);
    }

    [Fact]
    public void An_active_open_counts_its_syn()
    {
        (Harness h, TcpConnection c) = SynSent();
        Assert.Equal(0u, Delivered(c));
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: PeerSynOptions);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(1u, Delivered(c));
        h.ExpectNothing();
    }

    // ───────────── Fast Open (Linux's tcp_rcv_fastopen_synack) ─────────────

    private static Harness FastOpenHarness()
    {
        var h = new Harness(new TcpConfig { FastOpen = FastOpenFlags.Client, Timestamps = false });
        TcpConnection warm = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: SynAckOptions(Cookie));
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(1u, Delivered(warm)); // a cookie request is a plain SYN
        warm.Abort();
        h.Poll();
        h.DrainSent();
        return h;
    }

    private static TcpOptions SynAckOptions(byte[]? cookie = null)
    {
        var options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 6 };
        if (cookie is not null)
        {
            Assert.True(TcpFastOpenCookie.TryCreate(cookie, out TcpFastOpenCookie value));
            options.SetFastOpen(TcpFastOpenKind.Rfc7413, value);
        }
        return options;
    }

    [Fact]
    public void A_syn_whose_data_is_all_acknowledged_counts_one_with_its_data()
    {
        Harness h = FastOpenHarness();
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[1000]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn, payloadLength: 1000);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Our(1000), options: SynAckOptions());
        h.Expect(TcpFlags.Ack, Our(1000), PeerIsn + 1);
        h.ExpectNothing();
        Assert.True(c.FastOpenSynDataAcknowledged);
        Assert.Equal(1u, Delivered(c));
        c.Send(new byte[1000]);
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1000), PeerIsn + 1, payloadLength: 1000);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(2000));
        Assert.Equal(2u, Delivered(c));
        h.ExpectNothing();
    }

    [Fact]
    public void A_syn_ack_of_the_syn_alone_counts_the_syn_and_the_resent_data_counts_when_acknowledged()
    {
        Harness h = FastOpenHarness();
        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[700]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn, payloadLength: 700);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: SynAckOptions());
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Isn + 1, PeerIsn + 1, payloadLength: 700);
        h.ExpectNothing();
        Assert.Equal(1u, Delivered(c));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(700));
        Assert.Equal(2u, Delivered(c));
        h.ExpectNothing();
    }
}
