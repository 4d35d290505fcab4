using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>The fields of a TCP/IPv4 packet a fault rule looks at, copied out so a predicate can keep them.</summary>
public readonly record struct TcpSegmentInfo(
    Ipv4Address Source,
    Ipv4Address Destination,
    ushort SourcePort,
    ushort DestinationPort,
    SeqNumber SequenceNumber,
    SeqNumber AcknowledgmentNumber,
    TcpFlags Flags,
    ushort Window,
    int PayloadLength)
{
    /// <summary>True when every flag in <paramref name="flags"/> is set.</summary>
    public bool Has(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).</summary>
    public int SegmentLength => PayloadLength + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);

    /// <summary>
    /// Whether its window field says anything about the sender's receive window: not a SYN's (unscaled, before any
    /// window) nor a RST's (Linux sends RSTs with window 0).
    /// </summary>
    public bool AdvertisesWindow => (Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0;

    /// <summary>It advertises a zero window: the sender's receive buffer is full.</summary>
    public bool AdvertisesZeroWindow => AdvertisesWindow && Window == 0;

    /// <summary>
    /// Reads the summary of an IPv4 packet carrying TCP; false for anything else or anything malformed. Checksums are
    /// not verified: a rule asks what a sender meant to send. Never throws and never allocates.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out TcpSegmentInfo info)
    {
        info = default;
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip, verifyChecksum: false) != WireError.None) return false;
        if (TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false) != WireError.None) return false;
        info = new TcpSegmentInfo(ip.Source, ip.Destination, tcp.SourcePort, tcp.DestinationPort,
            tcp.SequenceNumber, tcp.AcknowledgmentNumber, tcp.Flags, tcp.Window, tcp.Payload.Length);
        return true;
    }
}
