using System.Buffers.Binary;

namespace UserTcp.Wire;

/// <summary>ICMP message types UserTcp reads or writes (RFC 792).</summary>
public enum IcmpType : byte
{
    /// <summary>Echo reply, the answer to a ping.</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable; the code says what could not be reached.</summary>
    DestinationUnreachable = 3,
    /// <summary>Deprecated (RFC 6633): ignored.</summary>
    SourceQuench = 4,
    /// <summary>Redirect to a better gateway: ignored.</summary>
    Redirect = 5,
    /// <summary>Echo request (ping).</summary>
    EchoRequest = 8,
    /// <summary>Time exceeded: the TTL ran out on the way.</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem with the quoted header.</summary>
    ParameterProblem = 12,
}

/// <summary>Destination-unreachable codes (RFC 792; RFC 1122 §3.2.2.1 adds 6–12).</summary>
public enum IcmpUnreachableCode : byte
{
    /// <summary>The network is unreachable.</summary>
    Network = 0,
    /// <summary>The host is unreachable.</summary>
    Host = 1,
    /// <summary>The host does not speak the protocol.</summary>
    Protocol = 2,
    /// <summary>Nothing listens on the port.</summary>
    Port = 3,
    /// <summary>The packet needed fragmenting but had DF set; bytes 6–7 carry the next hop's MTU (RFC 1191 §4).</summary>
    FragmentationNeeded = 4,
    /// <summary>A source route failed.</summary>
    SourceRouteFailed = 5,
}

/// <summary>
/// A validated view of one ICMP message (RFC 792) carried by an IPv4 packet: type, code, checksum, the four bytes the
/// type gives meaning to (identifier and sequence number of an echo; the next-hop MTU of a fragmentation-needed
/// error), and what follows. Like the other views, <see cref="TryParse(in Ipv4Packet, out IcmpPacket, bool)"/> checks every length once, accessors never
/// throw, nothing allocates.
/// </summary>
public readonly ref struct IcmpPacket
{
    /// <summary>The length of the ICMP header: type, code, checksum and four bytes the type defines.</summary>
    public const int HeaderLength = 8;

    /// <summary>Byte offsets of the header fields (RFC 792).</summary>
    internal static class Field
    {
        public const int Type = 0;
        public const int Code = 1;
        public const int Checksum = 2;
        public const int RestOfHeader = 4;
        public const int Identifier = 4;
        public const int SequenceNumber = 6;
        public const int NextHopMtu = 6;
    }

    // Invariant: _bytes.Length >= HeaderLength, checksum verified unless the caller opted out.
    private readonly ReadOnlySpan<byte> _bytes;

    private IcmpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>Validates the ICMP message <paramref name="packet"/> carries. Fragments and other protocols are refused.</summary>
    public static WireError TryParse(in Ipv4Packet packet, out IcmpPacket icmp, bool verifyChecksum = true)
    {
        icmp = default;
        if (packet.IsFragment) return WireError.Fragment;
        if (packet.Protocol != Ipv4Packet.ProtocolIcmp) return WireError.NotIcmp;
        return TryParse(packet.Payload, out icmp, verifyChecksum);
    }

    /// <summary>Validates raw ICMP bytes (the IPv4 payload). Never throws and never allocates.</summary>
    public static WireError TryParse(ReadOnlySpan<byte> bytes, out IcmpPacket icmp, bool verifyChecksum = true)
    {
        icmp = default;
        if (bytes.Length < HeaderLength) return WireError.Truncated;
        if (verifyChecksum && InternetChecksum.Compute(bytes) != 0) return WireError.BadIcmpChecksum;
        icmp = new IcmpPacket(bytes);
        return WireError.None;
    }

    /// <summary>The whole message, header and body.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;
    /// <summary>The message type.</summary>
    public IcmpType Type => (IcmpType)_bytes[Field.Type];
    /// <summary>The code, whose meaning depends on the type.</summary>
    public byte Code => _bytes[Field.Code];
    /// <summary>The checksum field as on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
    /// <summary>Bytes 4–7 as one number; what they mean depends on the type.</summary>
    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.RestOfHeader..]);
    /// <summary>Echo request and reply: the identifier (RFC 792).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Identifier..]);
    /// <summary>Echo request and reply: the sequence number (RFC 792).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.SequenceNumber..]);
    /// <summary>Fragmentation needed: the next hop's MTU (RFC 1191 §4); 0 from routers older than RFC 1191.</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.NextHopMtu..]);
    /// <summary>What follows the header: an echo's data, or an error's quoted packet.</summary>
    public ReadOnlySpan<byte> Body => _bytes[HeaderLength..];

    /// <summary>An error message (destination unreachable, source quench, redirect, time exceeded, parameter problem).</summary>
    public bool IsError => Type is IcmpType.DestinationUnreachable or IcmpType.SourceQuench or IcmpType.Redirect
        or IcmpType.TimeExceeded or IcmpType.ParameterProblem;

    /// <summary>
    /// The TCP segment an error message quotes: its IPv4 header and at least the first 8 bytes of TCP — ports and
    /// sequence number, all RFC 792 promises (RFC 5927 §4.1 validates against them). The quoted header's checksum is not
    /// checked (routers may have changed its TTL); its lengths are.
    /// </summary>
    public WireError TryGetQuotedTcp(out QuotedTcpSegment quoted)
    {
        quoted = default;
        ReadOnlySpan<byte> body = Body;
        if (body.Length < Ipv4Packet.MinHeaderLength) return WireError.BadIcmpQuote;
        if (body[Ipv4Packet.Field.VersionIhl] >> 4 != 4) return WireError.BadIcmpQuote;
        int ipHeader = (body[Ipv4Packet.Field.VersionIhl] & 0x0F) * 4;
        if (ipHeader < Ipv4Packet.MinHeaderLength || body.Length < ipHeader + 8) return WireError.BadIcmpQuote;
        if (body[Ipv4Packet.Field.Protocol] != Ipv4Packet.ProtocolTcp) return WireError.BadIcmpQuote;
        ReadOnlySpan<byte> tcp = body[ipHeader..];
        quoted = new QuotedTcpSegment(
            Ipv4Address.Read(body[Ipv4Packet.Field.Source..]),
            Ipv4Address.Read(body[Ipv4Packet.Field.Destination..]),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[TcpSegment.Field.SourcePort..]),
            BinaryPrimitives.ReadUInt16BigEndian(tcp[TcpSegment.Field.DestinationPort..]),
            new SeqNumber(BinaryPrimitives.ReadUInt32BigEndian(tcp[TcpSegment.Field.SequenceNumber..])),
            BinaryPrimitives.ReadUInt16BigEndian(body[Ipv4Packet.Field.TotalLength..]));
        return WireError.None;
    }
}

/// <summary>What an ICMP error tells of the TCP segment it answers: the quoted addresses, ports, sequence number and the
/// original packet's total length (for RFC 1191 §7's plateaus when a router gives no MTU).</summary>
public readonly record struct QuotedTcpSegment(Ipv4Address Source, Ipv4Address Destination, ushort SourcePort, ushort DestinationPort, SeqNumber SequenceNumber, ushort TotalLength);
