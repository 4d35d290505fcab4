using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>ICMP errors for a SYN-queue entry, as Linux's tcp_req_err takes them: believed only for the SYN-ACK's own number.</summary>
public class IcmpSynQueueTests
{
    private static void Deliver(Harness h, IcmpType type, IcmpUnreachableCode code, uint seq) =>
        h.Engine.Receive(IcmpTests.IcmpError(type, (byte)code, seq, quotedPayload: 0), h.Now, h);

    [Fact]
    public void Host_unreachable_quoting_our_ISN_drops_the_entry_silently_and_its_ACK_then_meets_a_RST()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        Deliver(h, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Host, Isn);
        h.ExpectNothing(); // no RST: the peer is not told
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtListenDrops]);

        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        h.Expect(TcpFlags.Rst, Isn + 1);
        Assert.False(listener.TryAccept(out _));
    }

    [Fact]
    public void Another_number_or_a_code_no_router_sends_for_an_unreachable_peer_leaves_the_entry_alone()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        Deliver(h, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Host, Isn + 1); // not the SYN-ACK's own number
        Deliver(h, IcmpType.DestinationUnreachable, IcmpUnreachableCode.Port, Isn);     // not fatal to a request
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtOutOfWindowIcmps]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtListenDrops]);

        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        h.ExpectNothing();
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
    }
}
