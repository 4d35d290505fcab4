using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>
/// Two Fast Open SYNs crossing (upstream's simultaneous-fast-open.pkt): the data our SYN carried stays sent, the peer's
/// is not taken, and the peer's SYN-ACK is acknowledged with a D-SACK of its repeated SYN (Linux's tcp_rcv_state_process
/// in SYN_RECV, tcp_data_queue).
/// </summary>
public sealed class FastOpenSimultaneousTests
{
    private static readonly IpEndpoint Peer = new(Harness.PeerAddress, Harness.PeerPort);
    private static readonly byte[] Cookie = [0xab, 0xcd, 0x12, 0x34];

    private static TcpOptions SynOptions(byte[]? cookie = null)
    {
        var options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 6 };
        if (cookie is not null)
        {
            Assert.True(TcpFastOpenCookie.TryCreate(cookie, out TcpFastOpenCookie value));
            options.SetFastOpen(TcpFastOpenKind.Rfc7413, value);
        }
        return options;
    }

    /// <summary>A cookie cached, then a Fast Open SYN with 1000 bytes that the peer's SYN with 500 bytes crosses.</summary>
    private static (Harness H, TcpConnection C) Crossed()
    {
        var h = new Harness(new TcpConfig { FastOpen = FastOpenFlags.Client, Timestamps = false });
        TcpConnection warm = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn);
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: SynOptions(Cookie));
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        warm.Abort();
        h.Poll();
        h.DrainSent();

        TcpConnection c = h.Engine.ConnectFastOpen(Peer, Harness.LocalPort);
        c.Send(new byte[1000]);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn, payloadLength: 1000);
        h.Advance(Ms(5));
        h.Send(TcpFlags.Syn, PeerIsn, payload: new byte[500], options: SynOptions([0x87, 0x65, 0x43, 0x21]));
        Assert.Equal(TcpState.SynReceived, c.State);
        // Our SYN again with the ACK of the peer's SYN alone (its data is not taken), and without our data.
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1, payloadLength: 0);
        h.ExpectNothing();
        return (h, c);
    }

    [Fact]
    public void A_syn_ack_that_acknowledges_our_data_establishes_and_is_acknowledged_with_a_dsack_of_its_syn()
    {
        (Harness h, TcpConnection c) = Crossed();
        h.Advance(Ms(45));
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Our(1000), options: SynOptions());
        Assert.Equal(TcpState.Established, c.State);
        Sent ack = h.Expect(TcpFlags.Ack, Our(1000), PeerIsn + 1);
        SackBlock dsack = Assert.Single(ack.Options.SackBlocks.ToArray());
        Assert.Equal((PeerIsn, PeerIsn + 1), (dsack.Left.Value, dsack.Right.Value));
        h.ExpectNothing();
        Assert.Equal(0, c.BytesToRead); // the peer's SYN data was not taken: it sends it again
        Assert.Equal(3u, c.Info().DeliveredSegments); // the SYN-ACK twice (queued SYN and SYN_RECV's count), the data once
        // Our data was acknowledged: nothing goes again.
        h.Advance(S(5));
        h.ExpectNothing();
    }

    [Fact]
    public void A_syn_ack_of_our_syn_alone_leaves_the_data_to_the_retransmission_timer()
    {
        (Harness h, TcpConnection c) = Crossed();
        h.Advance(Ms(45));
        h.Send(TcpFlags.Syn | TcpFlags.Ack, PeerIsn, Isn + 1, options: SynOptions());
        Assert.Equal(TcpState.Established, c.State);
        h.Expect(TcpFlags.Ack, Our(1000), PeerIsn + 1); // numbered SND.NXT, past the data the SYN carried
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), PeerIsn + 1, payloadLength: 1000);
        h.ExpectNothing();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Our(1000));
        Assert.Equal(Our(1000), c.SndUna.Value);
    }
}
