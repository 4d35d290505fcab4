using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>ICMP: echo answered (RFC 792, RFC 1122 §3.2.2.6); errors validated (RFC 5927) and acted on (RFC 1122, RFC 1191).</summary>
public class IcmpTests
{
    private static readonly Ipv4Address Router = new(10, 77, 0, 254);

    /// <summary>An ICMP error from <paramref name="from"/> quoting a segment we sent to the harness's peer.</summary>
    internal static byte[] IcmpError(IcmpType type, byte code, uint seq, ushort mtu = 0, int quotedPayload = 1460,
        ushort localPort = Harness.LocalPort, ushort peerPort = Harness.PeerPort, Ipv4Address? from = null)
    {
        var segment = new TcpRepr { SourcePort = localPort, DestinationPort = peerPort, SequenceNumber = new SeqNumber(seq), Flags = TcpFlags.Ack, Payload = new byte[quotedPayload] };
        byte[] original = new byte[PacketWriter.Ipv4TcpLength(segment)];
        PacketWriter.TryWriteIpv4Tcp(original, new Ipv4Repr(Harness.LocalAddress, Harness.PeerAddress), segment, out _);
        byte[] quote = original[..28]; // the IPv4 header and 8 bytes of TCP: all RFC 792 promises
        byte[] packet = new byte[PacketWriter.Ipv4IcmpLength(quote.Length)];
        PacketWriter.TryWriteIpv4Icmp(packet, new Ipv4Repr(from ?? Router, Harness.LocalAddress), type, code, mtu, quote, out _);
        return packet;
    }

    private static byte[] FragmentationNeeded(uint seq, ushort mtu) => IcmpError(IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.FragmentationNeeded, seq, mtu);

    private static void Deliver(Harness h, byte[] packet) => h.Engine.Receive(packet, h.Now, h);

    [Fact]
    public void An_echo_request_gets_an_echo_reply_with_its_identifier_sequence_and_data()
    {
        var engine = new TcpEngine(Harness.LocalAddress);
        var wire = new SegmentCatcher();
        byte[] data = [.. Enumerable.Range(0, 56).Select(i => (byte)i)];
        byte[] request = new byte[PacketWriter.Ipv4IcmpLength(data.Length)];
        PacketWriter.TryWriteIpv4Icmp(request, new Ipv4Repr(Harness.PeerAddress, Harness.LocalAddress) { TimeToLive = 64 }, IcmpType.EchoRequest, 0, 0x1234_0007, data, out _);

        engine.Receive(request, TimeSpan.Zero, wire);

        byte[] reply = Assert.Single(wire.Packets);
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(reply, out Ipv4Packet ip));
        Assert.Equal((Harness.LocalAddress, Harness.PeerAddress, Ipv4Packet.ProtocolIcmp), (ip.Source, ip.Destination, ip.Protocol));
        Assert.Equal(WireError.None, IcmpPacket.TryParse(ip, out IcmpPacket icmp)); // the checksum verifies
        Assert.Equal((IcmpType.EchoReply, (byte)0, (ushort)0x1234, (ushort)7), (icmp.Type, icmp.Code, icmp.Identifier, icmp.SequenceNumber));
        Assert.Equal(data, icmp.Body.ToArray());
        Assert.Equal((1, 1, 1, 1), (engine.Counters[MibCounter.IcmpInMsgs], engine.Counters[MibCounter.IcmpInEchos], engine.Counters[MibCounter.IcmpOutMsgs], engine.Counters[MibCounter.IcmpOutEchoReps]));
    }

    [Fact]
    public void Echo_requests_with_a_bad_checksum_or_for_another_address_get_nothing()
    {
        var engine = new TcpEngine(Harness.LocalAddress);
        var wire = new SegmentCatcher();
        byte[] request = new byte[PacketWriter.Ipv4IcmpLength(8)];
        PacketWriter.TryWriteIpv4Icmp(request, new Ipv4Repr(Harness.PeerAddress, Harness.LocalAddress), IcmpType.EchoRequest, 0, 1, new byte[8], out _);
        byte[] corrupt = (byte[])request.Clone();
        corrupt[^1] ^= 0xFF;
        engine.Receive(corrupt, TimeSpan.Zero, wire);
        byte[] elsewhere = new byte[request.Length];
        PacketWriter.TryWriteIpv4Icmp(elsewhere, new Ipv4Repr(Harness.PeerAddress, new Ipv4Address(10, 77, 0, 9)), IcmpType.EchoRequest, 0, 1, new byte[8], out _);
        engine.Receive(elsewhere, TimeSpan.Zero, wire);
        Assert.Empty(wire.Packets);
        Assert.Equal(1, engine.Counters[MibCounter.IcmpInCsumErrors]);
        Assert.Equal(1, engine.Counters.Malformed(WireError.BadIcmpChecksum));
        Assert.Equal(1, engine.Counters.PacketsNotForUs);
    }

    [Fact]
    public void Fragmentation_needed_lowers_the_mss_of_the_connection_it_names_and_a_forged_one_outside_the_window_changes_nothing()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(3 * 1460));
        h.Poll();
        for (int i = 0; i < 3; i++) h.Expect(TcpFlags.Ack | (i == 2 ? TcpFlags.Psh : 0), Our(i * 1460), Their(0), payloadLength: 1460);
        Assert.Equal(1460, c.SendMss);

        // Forged: the right 4-tuple, but a sequence number no segment in flight has (RFC 5927 §4.1). Nothing changes.
        Deliver(h, FragmentationNeeded(Our(100_000), mtu: 1280));
        Deliver(h, FragmentationNeeded(unchecked(Our(0) - 1), mtu: 1280));
        h.ExpectNothing();
        Assert.Equal((1460, (int?)null), (c.SendMss, c.PathMtu));
        Assert.Equal(2, h.Engine.Counters[MibCounter.TcpExtOutOfWindowIcmps]);

        // Genuine: it quotes our second segment. MSS 1280 - 40; the three segments go again in pieces that fit.
        Deliver(h, FragmentationNeeded(Our(1460), mtu: 1280));
        Assert.Equal((1240, (int?)1280), (c.SendMss, c.PathMtu));
        var resent = new List<Sent>();
        while (h.PendingCount > 0) resent.Add(h.Next());
        Assert.All(resent, s => Assert.InRange(s.Payload.Length, 1, 1240));
        Assert.Equal(3 * 1460, resent.Sum(s => s.Payload.Length));
        Assert.Equal(Our(0), resent[0].Seq);
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpPathMtuDecreases]);

        // New data is cut to the new size too, and the peer's ACK of it all ends the matter.
        h.Send(TcpFlags.Ack, Their(0), Our(3 * 1460), PeerWindow);
        c.Send(Bytes(2000));
        h.Poll();
        h.Expect(TcpFlags.Ack, Our(3 * 1460), Their(0), payloadLength: 1240);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(3 * 1460 + 1240), Their(0), payloadLength: 760); // no small segment out: Nagle lets the tail go
        h.ExpectNothing();
    }

    [Fact]
    public void Ip_pmtudisc_dont_clears_df_and_ignores_fragmentation_needed_while_ip_tos_marks_the_packets()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(1460));
        h.Poll();
        Sent first = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), payloadLength: 1460);
        Assert.Equal(((byte)0, true), (first.TypeOfService, first.DontFragment)); // Linux's default for TCP: IP_PMTUDISC_WANT, TOS 0

        c.PathMtuDiscovery = PathMtuDiscovery.Dont;
        c.TypeOfService = 0x13; // the ECN bits are the stack's: 0x10 goes out
        Assert.Equal(0x10, c.TypeOfService);
        Deliver(h, FragmentationNeeded(Our(0), mtu: 1280));
        h.ExpectNothing();
        Assert.Equal((1460, (int?)null), (c.SendMss, c.PathMtu));
        c.Send(Bytes(1460));
        h.Poll();
        Sent second = h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(1460), Their(0), payloadLength: 1460);
        Assert.Equal(((byte)0x10, false), (second.TypeOfService, second.DontFragment));

        c.PathMtuDiscovery = PathMtuDiscovery.Do; // DF again, and the error now counts
        Deliver(h, FragmentationNeeded(Our(1460), mtu: 1280));
        Assert.Equal((1240, (int?)1280), (c.SendMss, c.PathMtu));
        Assert.True(h.Next().DontFragment);
    }

    [Fact]
    public void A_fragmentation_needed_error_for_another_connection_leaves_this_one_alone()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(1460));
        h.Poll();
        h.DrainSent();
        Deliver(h, IcmpError(IcmpType.DestinationUnreachable, 4, Our(0), 1280, peerPort: 40001));
        h.ExpectNothing();
        Assert.Equal(1460, c.SendMss);
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpIcmpNoConnection]);
    }

    [Fact]
    public void Without_a_next_hop_mtu_the_next_plateau_below_is_taken_and_nothing_goes_below_552()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(Bytes(1460));
        h.Poll();
        h.DrainSent();
        Deliver(h, FragmentationNeeded(Our(0), mtu: 0)); // a router older than RFC 1191: 1500 bytes quoted, so 1492
        Assert.Equal((1452, (int?)1492), (c.SendMss, c.PathMtu));
        h.DrainSent();
        Deliver(h, FragmentationNeeded(Our(0), mtu: 68));
        Assert.Equal((512, (int?)TcpConnection.MinPathMtu), (c.SendMss, c.PathMtu));
        h.DrainSent();
        Deliver(h, FragmentationNeeded(Our(0), mtu: 1400)); // larger than what we know: ignored
        Assert.Equal(TcpConnection.MinPathMtu, c.PathMtu);
    }

    [Fact]
    public void Port_unreachable_refuses_a_connection_in_syn_sent()
    {
        (Harness h, TcpConnection c) = SynSent();
        Deliver(h, IcmpError(IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.Port, Isn, quotedPayload: 0));
        Assert.Equal((TcpState.Closed, TcpError.ConnectionRefused), (c.State, c.Error));
        h.ExpectNothing(); // refused by ICMP: no RST to anyone
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpIcmpHardErrors]);
    }

    [Fact]
    public void Host_unreachable_in_syn_sent_is_soft_and_named_only_when_the_connection_times_out()
    {
        (Harness h, TcpConnection c) = SynSent(new TcpConfig { SynRetries = 2 });
        Deliver(h, IcmpError(IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.Host, Isn, quotedPayload: 0));
        Assert.Equal(TcpState.SynSent, c.State); // RFC 1122 §4.2.3.9: codes 0, 1, 5 MUST NOT abort
        while (c.State != TcpState.Closed) h.AdvanceToNextDeadline();
        Assert.Equal(TcpError.HostUnreachable, c.Error); // as Linux's sk_err_soft: EHOSTUNREACH rather than ETIMEDOUT
    }

    [Fact]
    public void Port_unreachable_in_established_is_soft_and_progress_clears_it()
    {
        (Harness h, TcpConnection c) = Established(new TcpConfig { DataRetries = 2 });
        c.Send(Bytes(100));
        h.Poll();
        h.DrainSent();
        Deliver(h, IcmpError(IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.Port, Our(0), quotedPayload: 100));
        Assert.Equal(TcpState.Established, c.State); // RFC 5927 §4.1: hard errors are soft in synchronized states
        h.Send(TcpFlags.Ack, Their(0), Our(100), PeerWindow); // progress since the error
        c.Send(Bytes(100));
        h.Poll();
        while (c.State != TcpState.Closed) h.AdvanceToNextDeadline();
        Assert.Equal(TcpError.TimedOut, c.Error);
        Assert.Equal(1, h.Engine.Counters[MibCounter.UserTcpIcmpSoftErrors]);
    }

    [Fact]
    public void An_icmp_error_that_quotes_no_tcp_header_is_counted_and_dropped()
    {
        (Harness h, TcpConnection c) = Established();
        byte[] packet = new byte[PacketWriter.Ipv4IcmpLength(10)];
        PacketWriter.TryWriteIpv4Icmp(packet, new Ipv4Repr(Router, Harness.LocalAddress), IcmpType.DestinationUnreachable, 4, 1280, new byte[10], out _);
        Deliver(h, packet);
        h.ExpectNothing();
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(1, h.Engine.Counters[MibCounter.IcmpInErrors]);
        Assert.Equal(1, h.Engine.Counters.Malformed(WireError.BadIcmpQuote));
    }
}
