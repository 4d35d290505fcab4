using UserTcp.Wire;

namespace UserTcp.Benchmarks;

/// <summary>The request benchmarks' peer: a Linux client's segment to our port, written by hand (part of the cost measured).</summary>
internal static class PeerSegment
{
    public static readonly Ipv4Address Ours = new(10, 0, 0, 2);
    public static readonly Ipv4Address Peer = new(10, 0, 0, 1);
    public const ushort PeerPort = 40000;

    /// <summary>Writes the IPv4 and TCP headers, options and payload into <paramref name="into"/>; returns the packet's length.</summary>
    public static int Write(Span<byte> into, ushort ourPort, SeqNumber seq, SeqNumber ack, TcpFlags flags, TcpOptions options, ReadOnlySpan<byte> payload)
    {
        var tcp = new TcpRepr
        {
            SourcePort = PeerPort,
            DestinationPort = ourPort,
            SequenceNumber = seq,
            AcknowledgmentNumber = ack,
            Flags = flags,
            Window = 502, // 64,256 bytes at shift 7, as Linux's first windows
            Options = options,
            Payload = payload,
        };
        if (!PacketWriter.TryWriteIpv4Tcp(into, new Ipv4Repr(Peer, Ours), tcp, out int length)) throw new InvalidOperationException("segment does not fit");
        return length;
    }
}
