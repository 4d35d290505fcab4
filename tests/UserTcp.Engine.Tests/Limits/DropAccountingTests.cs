using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>Every refused packet is counted by its reason, the ones a listener refuses and ICMP nothing acts on among them.</summary>
public class DropAccountingTests
{
    [Fact]
    public void A_rst_to_a_listener_is_ignored_and_counted()
    {
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Rst, PeerIsn);
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.ResetInListen));
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtListenDrops]);
        Assert.Contains(h.Engine.Counters.Snapshot(), kv => kv.Key == "UserTcpDropResetInListen" && kv.Value == 1);
    }

    [Fact]
    public void An_ack_to_a_listener_is_answered_with_a_rst_and_counted()
    {
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Ack, PeerIsn, 12345);
        h.Expect(TcpFlags.Rst, 12345);
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters.Dropped(TcpCause.AckInListen));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpOutRsts]);
    }

    [Fact]
    public void Icmp_nothing_acts_on_is_counted_as_ignored_and_answered_by_nothing()
    {
        var h = new Harness();
        byte[] reply = new byte[PacketWriter.Ipv4IcmpLength(8)];
        Assert.True(PacketWriter.TryWriteIpv4Icmp(reply, new Ipv4Repr(Harness.PeerAddress, Harness.LocalAddress), IcmpType.EchoReply, 0, 1, new byte[8], out _));
        h.Engine.Receive(reply, h.Now, h);
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.IcmpInMsgs]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpIcmpIgnored]);
    }

    [Fact]
    public void An_ipv6_packet_is_counted_as_not_ipv4_never_as_an_ipv4_header_error()
    {
        var h = new Harness();
        h.Engine.Listen(Harness.LocalPort);
        // An MLDv2 report's IPv6 header (version 6, hop-by-hop next header) and some of what follows.
        byte[] ipv6 = new byte[76];
        ipv6[0] = 0x60;
        ipv6[5] = 36;
        ipv6[7] = 1;
        h.Engine.Receive(ipv6, h.Now, h);
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpDroppedNotIpv4]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.IpInHdrErrors]);
        Assert.Equal(0, h.Engine.Counters.Malformed(WireError.BadVersion));
        Assert.Equal(0, h.Engine.Counters[MibCounter.IpInReceives]);
        Assert.Contains(h.Engine.Counters.Snapshot(), kv => kv.Key == "UserTcpDroppedNotIpv4" && kv.Value == 1);
    }
}
