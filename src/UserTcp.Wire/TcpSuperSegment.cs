using System.Buffers.Binary;

namespace UserTcp.Wire;

/// <summary>
/// Joins consecutive TCP segments of one connection into a super-segment for a device that cuts it again (TSO,
/// VIRTIO_NET_HDR_GSO_TCPV4): the super-segment carries the headers once and the payload of every segment, which are
/// all <c>segmentSize</c> long but the last. Cutting it gives back exactly the segments that were joined, as Linux's
/// tcp_gso_segment does: each copy of the headers gets its own sequence number, PSH and FIN only on the last.
/// </summary>
public static class TcpSuperSegment
{
    private const byte AckOnly = (byte)TcpFlags.Ack;
    private const byte LastOnly = (byte)(TcpFlags.Psh | TcpFlags.Fin);

    /// <summary>
    /// Appends the segment at <c>span[nextOffset..(nextOffset + nextLength)]</c> to the super-segment at
    /// <c>span[..superLength]</c> when it is the next segment of the same connection with the same headers: its payload
    /// moves to the end of the super-segment, whose IPv4 length and header checksum, TCP flags and partial TCP checksum
    /// (pseudo-header sum only) follow. <paramref name="segmentSize"/> is the super-segment's segment size, 0 while it is
    /// a single segment (then its payload sets it). False, and nothing changed, when the segment cannot join: another
    /// connection, a gap, different headers or options, a short segment before it, flags other than ACK before the last,
    /// or more than <paramref name="maxPayload"/> bytes (and an IPv4 packet's 65535) in all.
    /// </summary>
    public static bool TryAppend(Span<byte> span, int superLength, int nextOffset, int nextLength, ref int segmentSize, int maxPayload,
        out int appendedLength)
    {
        appendedLength = superLength;
        if (nextOffset < superLength || span.Length < nextOffset + nextLength) return false;
        Span<byte> first = span[..superLength];
        ReadOnlySpan<byte> next = span.Slice(nextOffset, nextLength);
        if (!TryHeaderLength(first, out int headerLength) || !TryHeaderLength(next, out int nextHeaderLength) || nextHeaderLength != headerLength)
        {
            return false;
        }
        int payload = superLength - headerLength;
        int nextPayload = nextLength - headerLength;
        int size = segmentSize == 0 ? payload : segmentSize;
        if (payload <= 0 || size <= 0 || payload % size != 0 || nextPayload <= 0 || nextPayload > size
            || payload + nextPayload > maxPayload || superLength + nextPayload > ushort.MaxValue)
        {
            return false;
        }
        const int tcp = Ipv4Packet.MinHeaderLength;
        if (!SameHeaders(first, next, headerLength)
            || first[tcp + TcpSegment.Field.Flags] != AckOnly
            || (next[tcp + TcpSegment.Field.Flags] & ~LastOnly) != AckOnly
            || BinaryPrimitives.ReadUInt32BigEndian(next[(tcp + TcpSegment.Field.SequenceNumber)..])
                != unchecked(BinaryPrimitives.ReadUInt32BigEndian(first[(tcp + TcpSegment.Field.SequenceNumber)..]) + (uint)payload))
        {
            return false;
        }

        byte flags = next[tcp + TcpSegment.Field.Flags];
        span.Slice(nextOffset + headerLength, nextPayload).CopyTo(span[superLength..]);
        appendedLength = superLength + nextPayload;
        Span<byte> joined = span[..appendedLength];
        joined[tcp + TcpSegment.Field.Flags] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(joined[Ipv4Packet.Field.TotalLength..], (ushort)appendedLength);
        BinaryPrimitives.WriteUInt16BigEndian(joined[Ipv4Packet.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(joined[Ipv4Packet.Field.Checksum..], InternetChecksum.Compute(joined[..Ipv4Packet.MinHeaderLength]));
        var source = Ipv4Address.Read(joined[Ipv4Packet.Field.Source..]);
        var destination = Ipv4Address.Read(joined[Ipv4Packet.Field.Destination..]);
        BinaryPrimitives.WriteUInt16BigEndian(joined[(tcp + TcpSegment.Field.Checksum)..],
            PacketWriter.PartialTcpChecksum(source, destination, appendedLength - tcp));
        segmentSize = size;
        return true;
    }

    // A TCP packet in a 20-byte IPv4 header (no options, no fragment) whose lengths agree: the IPv4 and TCP headers' length.
    private static bool TryHeaderLength(ReadOnlySpan<byte> packet, out int headerLength)
    {
        headerLength = 0;
        if (packet.Length < Ipv4Packet.MinHeaderLength + TcpSegment.MinHeaderLength
            || packet[Ipv4Packet.Field.VersionIhl] != (4 << 4 | Ipv4Packet.MinHeaderLength / 4)
            || packet[Ipv4Packet.Field.Protocol] != Ipv4Packet.ProtocolTcp
            || (BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.FlagsFragment..]) & 0x3fff) != 0 // MF or an offset: a fragment
            || BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.TotalLength..]) != packet.Length)
        {
            return false;
        }
        headerLength = Ipv4Packet.MinHeaderLength + (packet[Ipv4Packet.MinHeaderLength + TcpSegment.Field.DataOffset] >> 4) * 4;
        return headerLength <= packet.Length && headerLength >= Ipv4Packet.MinHeaderLength + TcpSegment.MinHeaderLength;
    }

    // Everything the cut segments share: IPv4 (but length, identification and checksum), ports, acknowledgment, data
    // offset, window, urgent pointer and options (the same timestamps, no SACK blocks that differ).
    private static bool SameHeaders(ReadOnlySpan<byte> first, ReadOnlySpan<byte> next, int headerLength)
    {
        const int tcp = Ipv4Packet.MinHeaderLength;
        return first[Ipv4Packet.Field.TypeOfService] == next[Ipv4Packet.Field.TypeOfService]
            && first[Ipv4Packet.Field.FlagsFragment..Ipv4Packet.Field.Checksum].SequenceEqual(next[Ipv4Packet.Field.FlagsFragment..Ipv4Packet.Field.Checksum])
            && first[Ipv4Packet.Field.Source..tcp].SequenceEqual(next[Ipv4Packet.Field.Source..tcp])
            && first[tcp..(tcp + TcpSegment.Field.SequenceNumber)].SequenceEqual(next[tcp..(tcp + TcpSegment.Field.SequenceNumber)])
            && first[(tcp + TcpSegment.Field.AcknowledgmentNumber)..(tcp + TcpSegment.Field.Flags)]
                .SequenceEqual(next[(tcp + TcpSegment.Field.AcknowledgmentNumber)..(tcp + TcpSegment.Field.Flags)])
            && first[(tcp + TcpSegment.Field.Window)..(tcp + TcpSegment.Field.Checksum)].SequenceEqual(next[(tcp + TcpSegment.Field.Window)..(tcp + TcpSegment.Field.Checksum)])
            && first[(tcp + TcpSegment.Field.UrgentPointer)..headerLength].SequenceEqual(next[(tcp + TcpSegment.Field.UrgentPointer)..headerLength]);
    }
}
