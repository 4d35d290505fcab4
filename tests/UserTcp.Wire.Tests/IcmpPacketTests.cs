using System.Buffers.Binary;
using UserTcp.Testing;

namespace UserTcp.Wire.Tests;

/// <summary>The ICMP view and writer: echo round trip, errors and their quoted TCP header, every truncation, no throw, no allocation.</summary>
public class IcmpPacketTests
{
    private static readonly Ipv4Address Kernel = Ipv4Address.Parse("10.77.0.1");
    private static readonly Ipv4Address Stack = Ipv4Address.Parse("10.77.0.2");

    private static byte[] Echo(IcmpType type, uint idAndSeq, byte[] data)
    {
        byte[] packet = new byte[PacketWriter.Ipv4IcmpLength(data.Length)];
        Assert.True(PacketWriter.TryWriteIpv4Icmp(packet, new Ipv4Repr(Kernel, Stack), type, 0, idAndSeq, data, out int length));
        Assert.Equal(packet.Length, length);
        return packet;
    }

    /// <summary>Destination unreachable, fragmentation needed, quoting a 1500-byte segment the stack sent.</summary>
    private static byte[] FragmentationNeeded(int quotedBytes = 28)
    {
        byte[] original = new byte[1500];
        var tcp = new TcpRepr { SourcePort = 80, DestinationPort = 51936, SequenceNumber = new SeqNumber(0xFFFF_FFF1), Flags = TcpFlags.Ack, Payload = new byte[1460] };
        Assert.True(PacketWriter.TryWriteIpv4Tcp(original, new Ipv4Repr(Stack, Kernel), tcp, out _));
        byte[] packet = new byte[PacketWriter.Ipv4IcmpLength(quotedBytes)];
        Assert.True(PacketWriter.TryWriteIpv4Icmp(packet, new Ipv4Repr(Kernel, Stack), IcmpType.DestinationUnreachable, 4, 1280, original.AsSpan(0, quotedBytes), out _));
        return packet;
    }

    [Fact]
    public void An_echo_request_round_trips_and_its_reply_keeps_identifier_sequence_and_data()
    {
        byte[] data = [.. Enumerable.Range(0, 56).Select(i => (byte)(i * 7))];
        byte[] request = Echo(IcmpType.EchoRequest, 0xBEEF_0003, data);
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(request, out Ipv4Packet ip));
        Assert.Equal(WireError.None, IcmpPacket.TryParse(ip, out IcmpPacket icmp));
        Assert.Equal((IcmpType.EchoRequest, (byte)0, (ushort)0xBEEF, (ushort)3, false), (icmp.Type, icmp.Code, icmp.Identifier, icmp.SequenceNumber, icmp.IsError));
        Assert.Equal(data, icmp.Body.ToArray());

        byte[] reply = new byte[request.Length];
        Assert.True(PacketWriter.TryWriteEchoReply(reply, new Ipv4Repr(Stack, Kernel), icmp, out int length));
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(reply.AsSpan(0, length), out Ipv4Packet replyIp));
        Assert.Equal(WireError.None, IcmpPacket.TryParse(replyIp, out IcmpPacket echo));
        Assert.Equal((IcmpType.EchoReply, (ushort)0xBEEF, (ushort)3), (echo.Type, echo.Identifier, echo.SequenceNumber));
        Assert.Equal(data, echo.Body.ToArray());
        // Past type, code and checksum, the reply is the request's ICMP message byte for byte (RFC 792).
        Assert.Equal(request[24..], reply[24..length]);
    }

    [Fact]
    public void A_fragmentation_needed_error_gives_the_mtu_and_the_quoted_segments_ports_and_sequence()
    {
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(FragmentationNeeded(), out Ipv4Packet ip));
        Assert.Equal(WireError.None, IcmpPacket.TryParse(ip, out IcmpPacket icmp));
        Assert.True(icmp.IsError);
        Assert.Equal((IcmpType.DestinationUnreachable, (byte)IcmpUnreachableCode.FragmentationNeeded, (ushort)1280), (icmp.Type, icmp.Code, icmp.NextHopMtu));
        Assert.Equal(WireError.None, icmp.TryGetQuotedTcp(out QuotedTcpSegment quoted));
        Assert.Equal(new QuotedTcpSegment(Stack, Kernel, 80, 51936, new SeqNumber(0xFFFF_FFF1), 1500), quoted);
    }

    [Fact]
    public void Every_truncation_is_refused()
    {
        byte[] echo = Echo(IcmpType.EchoRequest, 1, new byte[8]);
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(echo, out Ipv4Packet ip));
        ReadOnlySpan<byte> icmpBytes = ip.Payload;
        for (int length = 0; length < IcmpPacket.HeaderLength; length++)
        {
            Assert.Equal(WireError.Truncated, IcmpPacket.TryParse(icmpBytes[..length], out _, verifyChecksum: false));
        }
        // A quote shorter than an IPv4 header and 8 bytes of TCP is no quote.
        for (int quoted = 0; quoted < 28; quoted++)
        {
            Assert.Equal(WireError.None, Ipv4Packet.TryParse(FragmentationNeeded(quoted), out Ipv4Packet errorIp));
            Assert.Equal(WireError.None, IcmpPacket.TryParse(errorIp, out IcmpPacket error));
            Assert.Equal(WireError.BadIcmpQuote, error.TryGetQuotedTcp(out _));
        }
    }

    [Fact]
    public void A_damaged_message_fails_its_checksum_and_a_tcp_packet_is_not_icmp()
    {
        byte[] echo = Echo(IcmpType.EchoRequest, 1, new byte[8]);
        echo[^1] ^= 1;
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(echo, out Ipv4Packet ip));
        Assert.Equal(WireError.BadIcmpChecksum, IcmpPacket.TryParse(ip, out _));
        BinaryPrimitives.WriteUInt16BigEndian(echo.AsSpan(6), 0x2000); // more fragments
        Ipv4Packet.TryParse(echo, out Ipv4Packet fragment, verifyChecksum: false);
        Assert.Equal(WireError.Fragment, IcmpPacket.TryParse(fragment, out _));
        byte[] tcp = new byte[40];
        PacketWriter.TryWriteIpv4Tcp(tcp, new Ipv4Repr(Kernel, Stack), new TcpRepr { Flags = TcpFlags.Syn }, out _);
        Ipv4Packet.TryParse(tcp, out Ipv4Packet tcpIp);
        Assert.Equal(WireError.NotIcmp, IcmpPacket.TryParse(tcpIp, out _));
    }

    [Fact]
    public void Mutated_messages_never_throw_and_reach_every_icmp_check()
    {
        var random = new Random(1191);
        byte[][] valid = [FragmentationNeeded(), FragmentationNeeded(100), Echo(IcmpType.EchoRequest, 7, new byte[56])];
        var seen = new HashSet<WireError>();
        for (int i = 0; i < 100_000; i++)
        {
            byte[] bytes = (byte[])valid[i % valid.Length].Clone();
            for (int n = random.Next(1, 4); n > 0; n--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (random.Next(4) != 0) FixIcmpChecksum(bytes);
            if (Ipv4Packet.TryParse(bytes, out Ipv4Packet ip, verifyChecksum: false) != WireError.None) continue;
            WireError error = IcmpPacket.TryParse(ip, out IcmpPacket icmp);
            if (error == WireError.None && icmp.IsError) error = icmp.TryGetQuotedTcp(out _);
            seen.Add(error);
        }
        Assert.Superset(new HashSet<WireError> { WireError.None, WireError.NotIcmp, WireError.BadIcmpChecksum, WireError.BadIcmpQuote, WireError.Fragment }, seen);
    }

    private static void FixIcmpChecksum(byte[] packet)
    {
        int ihl = (packet[0] & 0x0F) * 4;
        if (ihl < 20 || ihl + 4 > packet.Length) return;
        Span<byte> icmp = packet.AsSpan(ihl);
        icmp[2] = icmp[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp));
    }

    [Fact]
    public void Random_messages_never_throw()
    {
        var random = new Random(792);
        byte[] buffer = new byte[200];
        for (int i = 0; i < 200_000; i++)
        {
            int length = random.Next(0, buffer.Length);
            Span<byte> bytes = buffer.AsSpan(0, length);
            random.NextBytes(bytes);
            if (length > 8 && (i & 1) == 0) bytes[8] = 0x45; // a plausible quoted IPv4 header
            if (IcmpPacket.TryParse(bytes, out IcmpPacket icmp, verifyChecksum: (i & 2) == 0) != WireError.None) continue;
            _ = (int)icmp.Type + icmp.Code + icmp.Checksum + icmp.RestOfHeader + icmp.Body.Length;
            _ = icmp.TryGetQuotedTcp(out QuotedTcpSegment quoted) == WireError.None ? quoted.SequenceNumber.Value : 0;
        }
    }

    [Fact]
    public void Parsing_an_error_and_writing_an_echo_reply_allocate_nothing()
    {
        byte[] error = FragmentationNeeded();
        byte[] echo = Echo(IcmpType.EchoRequest, 1, new byte[56]);
        byte[] reply = new byte[echo.Length];
        for (int i = 0; i < 1000; i++) Once(); // warm up past tiered JIT
        Assert.Equal(0, Allocations.Fewest(() =>
        {
            for (int i = 0; i < 10_000; i++) Once();
        }));

        void Once()
        {
            Ipv4Packet.TryParse(error, out Ipv4Packet ip);
            IcmpPacket.TryParse(ip, out IcmpPacket icmp);
            icmp.TryGetQuotedTcp(out _);
            Ipv4Packet.TryParse(echo, out Ipv4Packet echoIp);
            IcmpPacket.TryParse(echoIp, out IcmpPacket request);
            PacketWriter.TryWriteEchoReply(reply, new Ipv4Repr(Stack, Kernel), request, out _);
        }
    }
}
