using System.Buffers.Binary;

namespace UserTcp.Wire;

/// <summary>
/// A validated view of one IPv4 packet (RFC 791). Create it with <see cref="TryParse"/>, which checks every
/// length once; after that no accessor can throw. The view spans exactly Total Length bytes.
/// </summary>
public readonly ref struct Ipv4Packet
{
    /// <summary>The length of a header without options (RFC 791 §3.1).</summary>
    public const int MinHeaderLength = 20;
    /// <summary>The protocol number of ICMP.</summary>
    public const byte ProtocolIcmp = 1;
    /// <summary>The protocol number of TCP.</summary>
    public const byte ProtocolTcp = 6;
    /// <summary>The protocol number of UDP.</summary>
    public const byte ProtocolUdp = 17;

    /// <summary>Byte offsets of the fixed header fields (RFC 791 §3.1).</summary>
    internal static class Field
    {
        public const int VersionIhl = 0;
        public const int TypeOfService = 1;
        public const int TotalLength = 2;
        public const int Identification = 4;
        public const int FlagsFragment = 6;
        public const int TimeToLive = 8;
        public const int Protocol = 9;
        public const int Checksum = 10;
        public const int Source = 12;
        public const int Destination = 16;
    }

    private const ushort DontFragmentBit = 0x4000;
    private const ushort MoreFragmentsBit = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;

    // Invariant: Length == TotalLength >= HeaderLength >= 20, header checksum verified unless the caller opted out.
    private readonly ReadOnlySpan<byte> _bytes;

    private Ipv4Packet(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Validates <paramref name="buffer"/> as an IPv4 packet. Bytes after Total Length (link padding) are ignored.
    /// Never throws and never allocates.
    /// </summary>
    public static WireError TryParse(ReadOnlySpan<byte> buffer, out Ipv4Packet packet, bool verifyChecksum = true)
    {
        packet = default;
        if (buffer.Length < MinHeaderLength) return WireError.Truncated;
        if (buffer[Field.VersionIhl] >> 4 != 4) return WireError.BadVersion;
        int headerLength = (buffer[Field.VersionIhl] & 0x0F) * 4;
        if (headerLength < MinHeaderLength) return WireError.BadIhl;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.TotalLength..]);
        if (totalLength < headerLength) return WireError.BadTotalLength;
        if (totalLength > buffer.Length) return WireError.Truncated;
        if (verifyChecksum && InternetChecksum.Compute(buffer[..headerLength]) != 0) return WireError.BadHeaderChecksum;
        packet = new Ipv4Packet(buffer[..totalLength]);
        return WireError.None;
    }

    /// <summary>The whole packet, header and payload (exactly Total Length bytes).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;
    /// <summary>The version field: 4 for every packet that parsed.</summary>
    public int Version => _bytes[Field.VersionIhl] >> 4;
    /// <summary>Header length in bytes (IHL × 4).</summary>
    public int HeaderLength => (_bytes[Field.VersionIhl] & 0x0F) * 4;
    /// <summary>The whole second byte: DSCP (high 6 bits) and ECN (low 2 bits).</summary>
    public byte TypeOfService => _bytes[Field.TypeOfService];
    /// <summary>The ECN field, the TOS byte's two low bits (RFC 3168 §5).</summary>
    public EcnCodepoint Ecn => (EcnCodepoint)(_bytes[Field.TypeOfService] & 0x3);
    /// <summary>The total length field: header and payload, in bytes.</summary>
    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.TotalLength..]);
    /// <summary>The identification field, which groups the fragments of one datagram.</summary>
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Identification..]);
    private ushort FlagsFragment => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.FlagsFragment..]);
    /// <summary>The DF flag: the packet must not be fragmented on its way.</summary>
    public bool DontFragment => (FlagsFragment & DontFragmentBit) != 0;
    /// <summary>The MF flag: more fragments of this datagram follow.</summary>
    public bool MoreFragments => (FlagsFragment & MoreFragmentsBit) != 0;
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset => (FlagsFragment & FragmentOffsetMask) * 8;
    /// <summary>True when the packet is a fragment (MF set or a non-zero fragment offset).</summary>
    public bool IsFragment => MoreFragments || FragmentOffset != 0;
    /// <summary>The time-to-live field.</summary>
    public byte TimeToLive => _bytes[Field.TimeToLive];
    /// <summary>The protocol field (<see cref="ProtocolTcp"/>, ...).</summary>
    public byte Protocol => _bytes[Field.Protocol];
    /// <summary>The header checksum field as on the wire.</summary>
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
    /// <summary>The source address.</summary>
    public Ipv4Address Source => Ipv4Address.Read(_bytes[Field.Source..]);
    /// <summary>The destination address.</summary>
    public Ipv4Address Destination => Ipv4Address.Read(_bytes[Field.Destination..]);
    /// <summary>The header bytes, options included.</summary>
    public ReadOnlySpan<byte> Header => _bytes[..HeaderLength];
    /// <summary>IP options, if any (bytes 20..IHL×4); not interpreted.</summary>
    public ReadOnlySpan<byte> Options => _bytes[MinHeaderLength..HeaderLength];
    /// <summary>The bytes after the header, up to the total length.</summary>
    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];
}
