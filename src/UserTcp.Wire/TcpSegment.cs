using System.Buffers.Binary;

namespace UserTcp.Wire;

/// <summary>
/// A validated view of one TCP segment (RFC 9293 §3.1). <see cref="TryParse(in Ipv4Packet, out TcpSegment, bool)"/>
/// checks lengths, the checksum and every option once; after that no accessor can throw.
/// </summary>
public readonly ref struct TcpSegment
{
    /// <summary>The length of a header without options (RFC 9293 §3.1).</summary>
    public const int MinHeaderLength = 20;
    /// <summary>The longest header, with 40 bytes of options.</summary>
    public const int MaxHeaderLength = 60;

    /// <summary>Byte offsets of the fixed header fields (RFC 9293 §3.1, Figure 1).</summary>
    internal static class Field
    {
        public const int SourcePort = 0;
        public const int DestinationPort = 2;
        public const int SequenceNumber = 4;
        public const int AcknowledgmentNumber = 8;
        public const int DataOffset = 12;
        public const int Flags = 13;
        public const int Window = 14;
        public const int Checksum = 16;
        public const int UrgentPointer = 18;
    }

    // Invariant: 20 <= HeaderLength <= _bytes.Length, options well-formed and summarised in _options.
    private readonly ReadOnlySpan<byte> _bytes;
    private readonly TcpOptions _options;
    private readonly EcnCodepoint _ecn;

    private TcpSegment(ReadOnlySpan<byte> bytes, TcpOptions options, EcnCodepoint ecn)
    {
        _bytes = bytes;
        _options = options;
        _ecn = ecn;
    }

    /// <summary>Validates the TCP segment carried by <paramref name="packet"/>. Fragments and other protocols are refused.</summary>
    public static WireError TryParse(in Ipv4Packet packet, out TcpSegment segment, bool verifyChecksum = true)
    {
        segment = default;
        // RFC 9293 needs whole segments; UserTcp does not reassemble IP fragments (Linux never sends them with DF set).
        if (packet.IsFragment) return WireError.Fragment;
        if (packet.Protocol != Ipv4Packet.ProtocolTcp) return WireError.NotTcp;
        // The IP header's ECN field travels with the segment (RFC 3168 §6.1.3: the receiver acts on CE), a byte, not allocated.
        return TryParse(packet.Payload, packet.Source, packet.Destination, out segment, verifyChecksum, packet.Ecn);
    }

    /// <summary>Validates raw TCP bytes whose pseudo-header addresses are given. Never throws and never allocates.</summary>
    public static WireError TryParse(ReadOnlySpan<byte> bytes, Ipv4Address source, Ipv4Address destination, out TcpSegment segment, bool verifyChecksum = true) =>
        TryParse(bytes, source, destination, out segment, verifyChecksum, EcnCodepoint.NotEct);

    private static WireError TryParse(ReadOnlySpan<byte> bytes, Ipv4Address source, Ipv4Address destination, out TcpSegment segment, bool verifyChecksum, EcnCodepoint ecn)
    {
        segment = default;
        if (bytes.Length < MinHeaderLength) return WireError.Truncated;
        int headerLength = (bytes[Field.DataOffset] >> 4) * 4;
        if (headerLength < MinHeaderLength || headerLength > bytes.Length) return WireError.BadDataOffset;
        if (verifyChecksum)
        {
            ulong sum = InternetChecksum.PseudoHeader(source, destination, Ipv4Packet.ProtocolTcp, (ushort)bytes.Length);
            if (InternetChecksum.Finish(InternetChecksum.Add(sum, bytes)) != 0) return WireError.BadTcpChecksum;
        }
        WireError optionsError = TcpOptions.TryParse(bytes[MinHeaderLength..headerLength], out TcpOptions options);
        if (optionsError != WireError.None) return optionsError;
        segment = new TcpSegment(bytes, options, ecn);
        return WireError.None;
    }

    /// <summary>The ECN field of the IP header that carried the segment (RFC 3168 §5); Not-ECT when parsed from bare TCP bytes.</summary>
    public EcnCodepoint Ecn => _ecn;
    /// <summary>The whole segment, header and payload.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;
    /// <summary>The source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.SourcePort..]);
    /// <summary>The destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.DestinationPort..]);
    /// <summary>The sequence number (SEG.SEQ).</summary>
    public SeqNumber SequenceNumber => new(BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.SequenceNumber..]));
    /// <summary>The acknowledgment number (SEG.ACK), meaningful with ACK set.</summary>
    public SeqNumber AcknowledgmentNumber => new(BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.AcknowledgmentNumber..]));
    /// <summary>Header length in bytes (Data Offset × 4).</summary>
    public int HeaderLength => (_bytes[Field.DataOffset] >> 4) * 4;
    /// <summary>The four bits after Data Offset: reserved, the last one AE (RFC 9293 §3.1, RFC 3540 history).</summary>
    public int Reserved => _bytes[Field.DataOffset] & 0x0F;
    /// <summary>The control flags.</summary>
    public TcpFlags Flags => (TcpFlags)_bytes[Field.Flags];
    /// <summary>The raw 16-bit window field, before any window scaling.</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Window..]);
    /// <summary>The checksum field as on the wire.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
    /// <summary>The urgent pointer, meaningful with URG set.</summary>
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.UrgentPointer..]);
    /// <summary>The options area as it stands on the wire (walk it with <see cref="TcpOptionReader"/>).</summary>
    public ReadOnlySpan<byte> RawOptions => _bytes[MinHeaderLength..HeaderLength];
    /// <summary>The options as values.</summary>
    public TcpOptions Options => _options;
    /// <summary>The data after the header.</summary>
    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True when every flag of <paramref name="flags"/> is set.</summary>
    public bool Has(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).</summary>
    public int SegmentLength => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);
}
