using System.Buffers.Binary;
using System.Text;

namespace UserTcp.Wire.Tests;

public class GoldenPacketTests
{
    private static readonly Ipv4Address Kernel = Ipv4Address.Parse("10.77.0.1");
    private static readonly Ipv4Address Peer = Ipv4Address.Parse("10.77.0.2");

    private static void AssertIpv4(in Ipv4Packet ip, int totalLength, ushort id, ushort headerChecksum)
    {
        Assert.Equal(4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(0, ip.TypeOfService);
        Assert.Equal(totalLength, ip.TotalLength);
        Assert.Equal(id, ip.Identification);
        Assert.True(ip.DontFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(Ipv4Packet.ProtocolTcp, ip.Protocol);
        Assert.Equal(headerChecksum, ip.HeaderChecksum);
        Assert.Equal(Kernel, ip.Source);
        Assert.Equal(Peer, ip.Destination);
        Assert.True(ip.Options.IsEmpty);
    }

    private static (byte[] Bytes, WireError IpError, WireError TcpError) Parse(string name)
    {
        byte[] bytes = GoldenPackets.Load(name);
        return (bytes, Ipv4Packet.TryParse(bytes, out _), TcpSegment.TryParse(Ipv4Parsed(bytes), out _));
    }

    private static Ipv4Packet Ipv4Parsed(byte[] bytes)
    {
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet ip));
        return ip;
    }

    [Fact]
    public void Curl_syn_parses_field_by_field()
    {
        byte[] bytes = GoldenPackets.Load("linux-syn");
        Ipv4Packet ip = Ipv4Parsed(bytes);
        AssertIpv4(ip, 60, 5519, 0x1091);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(51936, tcp.SourcePort);
        Assert.Equal(80, tcp.DestinationPort);
        Assert.Equal(3894569614u, tcp.SequenceNumber.Value);
        Assert.Equal(0u, tcp.AcknowledgmentNumber.Value);
        Assert.Equal(40, tcp.HeaderLength);
        Assert.Equal(0, tcp.Reserved);
        Assert.Equal(TcpFlags.Syn, tcp.Flags);
        Assert.Equal(64240, tcp.Window);
        Assert.Equal(0xb8c7, tcp.Checksum);
        Assert.Equal(0, tcp.UrgentPointer);
        Assert.True(tcp.Payload.IsEmpty);
        Assert.Equal(1, tcp.SegmentLength);
        Assert.Equal((ushort)1460, tcp.Options.MaxSegmentSize);
        Assert.True(tcp.Options.SackPermitted);
        Assert.Equal(new TcpTimestamp(3600845608, 0), tcp.Options.Timestamp);
        Assert.Equal((byte)7, tcp.Options.WindowScale);
        Assert.True(tcp.Options.SackBlocks.IsEmpty);
        Assert.Equal(Convert.FromHexString("020405b40402080ad6a08b280000000001030307"), tcp.RawOptions.ToArray());
    }

    [Fact]
    public void Listener_syn_ack_parses_field_by_field()
    {
        byte[] bytes = GoldenPackets.Load("linux-synack");
        Ipv4Packet ip = Ipv4Parsed(bytes);
        AssertIpv4(ip, 60, 0, ip.HeaderChecksum);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(8080, tcp.SourcePort);
        Assert.Equal(40000, tcp.DestinationPort);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(536870913u, tcp.AcknowledgmentNumber.Value);
        Assert.Equal(65160, tcp.Window);
        Assert.Equal((ushort)1460, tcp.Options.MaxSegmentSize);
        Assert.True(tcp.Options.SackPermitted);
        Assert.Equal(new TcpTimestamp(167034955, 1000028), tcp.Options.Timestamp);
        Assert.Equal((byte)7, tcp.Options.WindowScale);
        Assert.Equal(1, tcp.SegmentLength);
    }

    [Fact]
    public void Data_segment_carries_curls_request()
    {
        byte[] bytes = GoldenPackets.Load("linux-data");
        Ipv4Packet ip = Ipv4Parsed(bytes);
        AssertIpv4(ip, 125, ip.Identification, ip.HeaderChecksum);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(3894569615u, tcp.SequenceNumber.Value);
        Assert.Equal(502, tcp.Window);
        Assert.Equal(32, tcp.HeaderLength);
        Assert.Null(tcp.Options.MaxSegmentSize);
        Assert.False(tcp.Options.SackPermitted);
        Assert.Equal(new TcpTimestamp(0xd6a08b29, 0x000f4247), tcp.Options.Timestamp);
        Assert.Equal(73, tcp.Payload.Length);
        Assert.Equal(73, tcp.SegmentLength);
        Assert.StartsWith("GET / HTTP/1.1\r\nHost: 10.77.0.2\r\n", Encoding.ASCII.GetString(tcp.Payload), StringComparison.Ordinal);
    }

    [Fact]
    public void Fin_ack_consumes_one_sequence_number()
    {
        byte[] bytes = GoldenPackets.Load("linux-finack");
        Ipv4Packet ip = Ipv4Parsed(bytes);
        AssertIpv4(ip, 52, ip.Identification, ip.HeaderChecksum);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(3894569688u, tcp.SequenceNumber.Value);
        Assert.Equal(268435548u, tcp.AcknowledgmentNumber.Value);
        Assert.True(tcp.Payload.IsEmpty);
        Assert.Equal(1, tcp.SegmentLength);
        Assert.Equal(new TcpTimestamp(0xd6a08b2a, 0x000f424e), tcp.Options.Timestamp);
    }

    [Fact]
    public void Rst_to_a_closed_port_has_no_options_and_acks_the_syn()
    {
        byte[] bytes = GoldenPackets.Load("linux-rst");
        Ipv4Packet ip = Ipv4Parsed(bytes);
        AssertIpv4(ip, 40, 0, 0x2634);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(9, tcp.SourcePort);
        Assert.Equal(40001, tcp.DestinationPort);
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, tcp.Flags);
        Assert.Equal(0u, tcp.SequenceNumber.Value);
        Assert.Equal(805306369u, tcp.AcknowledgmentNumber.Value); // RFC 9293 §3.10.7.1: SEG.SEQ + SEG.LEN of the SYN
        Assert.Equal(0, tcp.Window);
        Assert.Equal(20, tcp.HeaderLength);
        Assert.True(tcp.Options.IsEmpty);
        Assert.Equal(0, tcp.SegmentLength);
    }

    [Theory]
    [MemberData(nameof(GoldenPackets.All), MemberType = typeof(GoldenPackets))]
    public void Parsed_and_rewritten_it_is_byte_identical(string name)
    {
        byte[] bytes = GoldenPackets.Load(name);
        Ipv4Packet ip = Ipv4Parsed(bytes);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Ipv4Repr ipRepr = Ipv4Repr.From(ip);
        TcpRepr tcpRepr = TcpRepr.From(tcp);

        byte[] written = new byte[1600];
        Assert.Equal(bytes.Length, PacketWriter.Ipv4TcpLength(tcpRepr));
        Assert.True(PacketWriter.TryWriteIpv4Tcp(written, ipRepr, tcpRepr, out int length));
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(written, 0, length));
    }

    [Theory]
    [MemberData(nameof(GoldenPackets.All), MemberType = typeof(GoldenPackets))]
    public void Formats_exactly_as_tcpdump_printed_it(string name)
    {
        Assert.Equal(GoldenPackets.TcpdumpLine(name), PacketFormatter.Format(GoldenPackets.Load(name)));
    }

    [Theory]
    [MemberData(nameof(GoldenPackets.All), MemberType = typeof(GoldenPackets))]
    public void Every_truncation_of_the_buffer_is_rejected_as_truncated(string name)
    {
        byte[] bytes = GoldenPackets.Load(name);
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.Equal(WireError.Truncated, Ipv4Packet.TryParse(bytes.AsSpan(0, length), out _));
        }
    }

    [Theory]
    [MemberData(nameof(GoldenPackets.All), MemberType = typeof(GoldenPackets))]
    public void Every_truncation_with_a_consistent_ip_header_is_rejected_at_the_tcp_layer(string name)
    {
        // A sender that shortens Total Length to match: the IP header verifies, so TCP must notice the damage.
        byte[] original = GoldenPackets.Load(name);
        int headerLength = original[32] >> 4 << 2;
        for (int length = 20; length < original.Length; length++)
        {
            byte[] bytes = original[..length];
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)length);
            GoldenPackets.FixChecksums(bytes, tcpToo: false);
            Assert.Equal(WireError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet ip));
            WireError expected = (length - 20) switch
            {
                < TcpSegment.MinHeaderLength => WireError.Truncated,
                int tcpLength when tcpLength < headerLength => WireError.BadDataOffset,
                _ => WireError.BadTcpChecksum, // only payload is missing; the checksum covers it
            };
            Assert.Equal(expected, TcpSegment.TryParse(ip, out _));
        }
    }

    [Fact]
    public void Link_padding_after_total_length_is_ignored()
    {
        byte[] bytes = [.. GoldenPackets.Load("linux-rst"), 0, 0, 0, 0, 0, 0];
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet ip));
        Assert.Equal(40, ip.Bytes.Length);
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out _));
    }

    [Fact]
    public void Each_kind_of_damage_gets_its_own_error()
    {
        byte[] syn = GoldenPackets.Load("linux-syn");

        WireError Damage(Action<byte[]> change, bool fixChecksums = true)
        {
            byte[] bytes = (byte[])syn.Clone();
            change(bytes);
            if (fixChecksums) GoldenPackets.FixChecksums(bytes);
            WireError error = Ipv4Packet.TryParse(bytes, out Ipv4Packet ip);
            return error != WireError.None ? error : TcpSegment.TryParse(ip, out _);
        }

        Assert.Equal(WireError.None, Damage(_ => { }));
        Assert.Equal(WireError.BadVersion, Damage(b => b[0] = 0x65));
        Assert.Equal(WireError.BadIhl, Damage(b => b[0] = 0x44));
        Assert.Equal(WireError.BadTotalLength, Damage(b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 19)));
        Assert.Equal(WireError.BadTotalLength, Damage(b => { b[0] = 0x46; BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 22); }));
        Assert.Equal(WireError.BadHeaderChecksum, Damage(b => b[8] = 63, fixChecksums: false));
        Assert.Equal(WireError.Fragment, Damage(b => b[6] |= 0x20));
        Assert.Equal(WireError.Fragment, Damage(b => b[7] = 1));
        Assert.Equal(WireError.NotTcp, Damage(b => b[9] = Ipv4Packet.ProtocolUdp));
        Assert.Equal(WireError.BadDataOffset, Damage(b => b[32] = 0x40));
        Assert.Equal(WireError.BadDataOffset, Damage(b => b[32] = 0xB0));
        Assert.Equal(WireError.MalformedOption, Damage(b => b[41] = 5));   // MSS option claiming length 5
        Assert.Equal(WireError.MalformedOption, Damage(b => b[41] = 0));   // a zero length
        Assert.Equal(WireError.BadTcpChecksum, Damage(b => b[50] ^= 1, fixChecksums: false));
    }
}
