using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Writes a synchronized connection's plain segment — no option but NOP NOP TS (RFC 7323 Appendix A's layout, as
/// Linux's tcp_options_write), no SACK blocks — field by field at fixed offsets, its two checksums summed from the
/// field values as they are written (RFC 1071 §2(A): the sum's order does not matter), instead of through
/// <see cref="PacketWriter"/>'s general option encoder. The bytes are exactly PacketWriter's (PlainSegmentWriterTests
/// compares them); everything else (SYNs, SACK blocks, Fast Open) goes the general way. Issue 10: an ACK or a small
/// answer is most of a request/response exchange's segments, and this cuts the cost of building one.
/// </summary>
internal static class PlainSegmentWriter
{
    private const int IpHeader = Ipv4Packet.MinHeaderLength;
    private const int TcpHeader = TcpSegment.MinHeaderLength;
    private const int TimestampBytes = TcpConnection.TimestampOptionBytes;
    // Ipv4Repr's default TTL (Linux's net.ipv4.ip_default_ttl), which TcpEngine.TransmitFor leaves as it is.
    private const byte TimeToLive = 64;
    // Below this the general writer's copy-and-sum is a plain copy and a scalar sum too (InternetChecksum.CopyAndAdd), so
    // the same two steps here cost no more; a longer payload without checksum offload keeps its single fused pass there.
    private const int SummedPayloadLimit = 64;

    /// <summary>
    /// <paramref name="segment"/> is plain: not a SYN (whose options are the handshake's), no option but a timestamp, no
    /// SACK block; and its payload is copied without a sum (<paramref name="partialChecksum"/>) or short.
    /// </summary>
    public static bool Fits(scoped in TcpRepr segment, bool partialChecksum, out bool timestamp)
    {
        TcpOptions options = segment.Options;
        timestamp = options.Timestamp is not null;
        return (segment.Flags & TcpFlags.Syn) == 0 && options.MaxSegmentSize is null && options.WindowScale is null && !options.SackPermitted
            && options.FastOpen == TcpFastOpenKind.None && options.SackBlocks.IsEmpty
            && (partialChecksum ? segment.Payload.Length <= ushort.MaxValue - IpHeader - TcpHeader - TimestampBytes : segment.Payload.Length < SummedPayloadLimit);
    }

    /// <summary>Bytes the packet takes.</summary>
    public static int Length(scoped in TcpRepr segment, bool timestamp) => IpHeader + TcpHeader + (timestamp ? TimestampBytes : 0) + segment.Payload.Length;

    /// <summary>
    /// Writes the IPv4 packet from <paramref name="id"/>'s local end to its remote one into <paramref name="destination"/>
    /// (at least <see cref="Length"/> bytes); returns its length. The TCP checksum is the pseudo-header sum alone with
    /// <paramref name="partialChecksum"/> (PacketWriter.PartialTcpChecksum, for a device that completes it).
    /// </summary>
    public static int Write(Span<byte> destination, FourTuple id, scoped in TcpRepr segment, bool timestamp, byte typeOfService, bool dontFragment,
        ushort identification, bool partialChecksum)
    {
        ReadOnlySpan<byte> payload = segment.Payload;
        int tcpHeader = TcpHeader + (timestamp ? TimestampBytes : 0);
        int tcpLength = tcpHeader + payload.Length;
        int total = IpHeader + tcpLength;
        Span<byte> packet = destination[..total];
        uint source = id.Local.Address.Value, target = id.Remote.Address.Value;
        ulong addresses = (source >> 16) + (source & 0xFFFF) + (target >> 16) + (target & 0xFFFF);

        // IPv4 (RFC 791): version 4, IHL 5, no options.
        ushort versionTos = (ushort)(0x4500 | typeOfService);
        ushort fragment = (ushort)(dontFragment ? 0x4000 : 0);
        const ushort ttlProtocol = TimeToLive << 8 | Ipv4Packet.ProtocolTcp;
        BinaryPrimitives.WriteUInt16BigEndian(packet, versionTos);
        BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)total);
        BinaryPrimitives.WriteUInt16BigEndian(packet[4..], identification);
        BinaryPrimitives.WriteUInt16BigEndian(packet[6..], fragment);
        BinaryPrimitives.WriteUInt16BigEndian(packet[8..], ttlProtocol);
        BinaryPrimitives.WriteUInt32BigEndian(packet[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(packet[16..], target);
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], Complement(versionTos + (ulong)total + identification + fragment + ttlProtocol + addresses));

        // TCP (RFC 9293 §3.1): ports, SEQ, ACK, data offset and flags, window, checksum, urgent pointer, then NOP NOP TS.
        Span<byte> tcp = packet[IpHeader..];
        ushort sourcePort = id.Local.Port, destinationPort = id.Remote.Port;
        uint seq = segment.SequenceNumber.Value, ack = segment.AcknowledgmentNumber.Value;
        ushort offsetFlags = (ushort)((tcpHeader / 4) << 12 | (byte)segment.Flags);
        ushort window = segment.Window, urgent = segment.UrgentPointer;
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[12..], offsetFlags);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], urgent);
        // The pseudo-header (RFC 9293 §3.1): addresses, protocol, TCP length.
        ulong pseudo = addresses + Ipv4Packet.ProtocolTcp + (ulong)tcpLength;
        ulong sum = pseudo + sourcePort + destinationPort + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF) + offsetFlags + window + urgent;
        if (timestamp)
        {
            TcpTimestamp ts = segment.Options.Timestamp.GetValueOrDefault();
            const uint nopNopTimestamp = (uint)TcpOptionKind.NoOperation << 24 | (uint)TcpOptionKind.NoOperation << 16 | (uint)TcpOptionKind.Timestamps << 8 | 10;
            BinaryPrimitives.WriteUInt32BigEndian(tcp[20..], nopNopTimestamp);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[24..], ts.Value);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[28..], ts.EchoReply);
            sum += (nopNopTimestamp >> 16) + (nopNopTimestamp & 0xFFFF) + (ts.Value >> 16) + (ts.Value & 0xFFFF) + (ts.EchoReply >> 16) + (ts.EchoReply & 0xFFFF);
        }
        Span<byte> data = tcp[tcpHeader..];
        payload.CopyTo(data);
        ushort checksum;
        if (partialChecksum)
        {
            checksum = (ushort)~Complement(pseudo); // folded, not complemented
        }
        else
        {
            // InternetChecksum sums words in the machine's byte order; folded to 16 bits, the byte swap turns it into
            // network order (RFC 1071 §2(B)). The header is a multiple of 4 bytes, so the payload's words line up.
            ushort payloadSum = (ushort)Fold(InternetChecksum.Add(0, data[..payload.Length]));
            checksum = Complement(sum + (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(payloadSum) : payloadSum));
        }
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], checksum);
        return total;
    }

    /// <summary>The one's complement of the folded sum of network-order words: the value a checksum field holds.</summary>
    private static ushort Complement(ulong sum) => (ushort)~Fold(sum);

    private static ulong Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (sum & 0xFFFF) + (sum >> 16);
    }
}
