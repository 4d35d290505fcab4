using System.Buffers.Binary;

namespace UserTcp.Wire;

/// <summary>Emits IPv4 and TCP headers, options, payload and checksums into a caller's buffer. Never allocates.</summary>
public static class PacketWriter
{
    /// <summary>Bytes needed for an IPv4 packet (no IP options) carrying <paramref name="tcp"/>.</summary>
    public static int Ipv4TcpLength(scoped in TcpRepr tcp) => Ipv4Packet.MinHeaderLength + tcp.HeaderLength + tcp.Payload.Length;

    /// <summary>
    /// Writes a whole IPv4 packet carrying <paramref name="tcp"/>. False (and nothing usable written) when the
    /// destination is too short or the packet would exceed 65535 bytes. With <paramref name="partialChecksum"/> the TCP
    /// checksum field holds only the folded pseudo-header sum, for a device that completes it (checksum offload, Linux's
    /// CHECKSUM_PARTIAL): the payload is copied but never summed.
    /// </summary>
    public static bool TryWriteIpv4Tcp(Span<byte> destination, in Ipv4Repr ip, scoped in TcpRepr tcp, out int bytesWritten, bool partialChecksum = false)
    {
        bytesWritten = 0;
        int total = Ipv4TcpLength(tcp);
        if (total > ushort.MaxValue || destination.Length < total) return false;
        Ipv4Repr header = ip;
        header.Protocol = Ipv4Packet.ProtocolTcp;
        WriteIpv4Header(destination, header, total - Ipv4Packet.MinHeaderLength);
        TryWriteTcp(destination[Ipv4Packet.MinHeaderLength..total], ip.Source, ip.Destination, tcp, out _, partialChecksum);
        bytesWritten = total;
        return true;
    }

    /// <summary>
    /// Writes a TCP header, options and payload with the checksum over the IPv4 pseudo-header; with
    /// <paramref name="partialChecksum"/>, the pseudo-header sum alone, folded and not complemented, for the device to complete.
    /// </summary>
    public static bool TryWriteTcp(Span<byte> destination, Ipv4Address source, Ipv4Address destinationAddress, scoped in TcpRepr tcp, out int bytesWritten,
        bool partialChecksum = false)
    {
        bytesWritten = 0;
        int headerLength = tcp.HeaderLength;
        int length = headerLength + tcp.Payload.Length;
        if (length > ushort.MaxValue || destination.Length < length) return false;
        Span<byte> segment = destination[..length];
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.SourcePort..], tcp.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.DestinationPort..], tcp.DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.SequenceNumber..], tcp.SequenceNumber.Value);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.AcknowledgmentNumber..], tcp.AcknowledgmentNumber.Value);
        segment[TcpSegment.Field.DataOffset] = (byte)(headerLength / 4 << 4);
        segment[TcpSegment.Field.Flags] = (byte)tcp.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Window..], tcp.Window);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.UrgentPointer..], tcp.UrgentPointer);
        tcp.Options.TryWrite(segment[TcpSegment.MinHeaderLength..headerLength], out _);
        ushort checksum;
        if (partialChecksum)
        {
            tcp.Payload.CopyTo(segment[headerLength..]);
            checksum = PartialTcpChecksum(source, destinationAddress, length);
        }
        else
        {
            // The header's length is a multiple of 4, so the payload's words line up: its sum is taken as it is copied.
            ulong sum = InternetChecksum.Add(InternetChecksum.PseudoHeader(source, destinationAddress, Ipv4Packet.ProtocolTcp, (ushort)length), segment[..headerLength]);
            checksum = InternetChecksum.Finish(InternetChecksum.CopyAndAdd(sum, tcp.Payload, segment[headerLength..]));
        }
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..], checksum);
        bytesWritten = length;
        return true;
    }

    /// <summary>Bytes needed for an IPv4 packet (no IP options) carrying an ICMP message with <paramref name="bodyLength"/> bytes after its header.</summary>
    public static int Ipv4IcmpLength(int bodyLength) => Ipv4Packet.MinHeaderLength + IcmpPacket.HeaderLength + bodyLength;

    /// <summary>
    /// Writes a whole IPv4 packet carrying an ICMP message (RFC 792): <paramref name="restOfHeader"/> is bytes 4–7 (an
    /// echo's identifier and sequence number, a fragmentation-needed error's next-hop MTU), <paramref name="body"/> what
    /// follows (an echo's data, an error's quoted packet). False when it does not fit.
    /// </summary>
    public static bool TryWriteIpv4Icmp(Span<byte> destination, in Ipv4Repr ip, IcmpType type, byte code, uint restOfHeader,
        ReadOnlySpan<byte> body, out int bytesWritten)
    {
        bytesWritten = 0;
        int total = Ipv4IcmpLength(body.Length);
        if (total > ushort.MaxValue || destination.Length < total) return false;
        Ipv4Repr header = ip;
        header.Protocol = Ipv4Packet.ProtocolIcmp;
        WriteIpv4Header(destination, header, total - Ipv4Packet.MinHeaderLength);
        Span<byte> icmp = destination[Ipv4Packet.MinHeaderLength..total];
        icmp[IcmpPacket.Field.Type] = (byte)type;
        icmp[IcmpPacket.Field.Code] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpPacket.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmp[IcmpPacket.Field.RestOfHeader..], restOfHeader);
        body.CopyTo(icmp[IcmpPacket.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpPacket.Field.Checksum..], InternetChecksum.Compute(icmp));
        bytesWritten = total;
        return true;
    }

    /// <summary>The echo reply to <paramref name="request"/> (RFC 792; RFC 1122 §3.2.2.6: same identifier, sequence number and data).</summary>
    public static bool TryWriteEchoReply(Span<byte> destination, in Ipv4Repr ip, in IcmpPacket request, out int bytesWritten) =>
        TryWriteIpv4Icmp(destination, ip, IcmpType.EchoReply, 0, request.RestOfHeader, request.Body, out bytesWritten);

    /// <summary>
    /// What a TCP checksum field holds for a device that completes it (checksum offload, Linux's CHECKSUM_PARTIAL, as
    /// tcp_v4_send_check leaves it): the pseudo-header sum for <paramref name="tcpLength"/> bytes of TCP, folded and not
    /// complemented, so the device's sum over the segment, this field included, is the checksum.
    /// </summary>
    public static ushort PartialTcpChecksum(Ipv4Address source, Ipv4Address destination, int tcpLength) =>
        (ushort)~InternetChecksum.Finish(InternetChecksum.PseudoHeader(source, destination, Ipv4Packet.ProtocolTcp, (ushort)tcpLength));

    /// <summary>Writes a 20-byte IPv4 header (no options) for a payload of the given length, checksum included.</summary>
    public static void WriteIpv4Header(Span<byte> destination, in Ipv4Repr ip, int payloadLength)
    {
        Span<byte> header = destination[..Ipv4Packet.MinHeaderLength];
        header[Ipv4Packet.Field.VersionIhl] = 4 << 4 | Ipv4Packet.MinHeaderLength / 4;
        header[Ipv4Packet.Field.TypeOfService] = ip.TypeOfService;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.TotalLength..], (ushort)(Ipv4Packet.MinHeaderLength + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.Identification..], ip.Identification);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.FlagsFragment..], (ushort)(ip.DontFragment ? 0x4000 : 0));
        header[Ipv4Packet.Field.TimeToLive] = ip.TimeToLive;
        header[Ipv4Packet.Field.Protocol] = ip.Protocol;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.Checksum..], 0);
        ip.Source.Write(header[Ipv4Packet.Field.Source..]);
        ip.Destination.Write(header[Ipv4Packet.Field.Destination..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.Checksum..], InternetChecksum.Compute(header));
    }
}
