namespace UserTcp.Wire;

/// <summary>The IPv4 header fields a sender chooses; the writer computes lengths and the checksum.</summary>
public struct Ipv4Repr
{
    /// <summary>A header from <paramref name="source"/> to <paramref name="destination"/> carrying TCP.</summary>
    public Ipv4Repr(Ipv4Address source, Ipv4Address destination)
    {
        Source = source;
        Destination = destination;
    }

    /// <summary>The source address.</summary>
    public Ipv4Address Source { get; set; }
    /// <summary>The destination address.</summary>
    public Ipv4Address Destination { get; set; }
    /// <summary>The protocol number; TCP unless set.</summary>
    public byte Protocol { get; set; } = Ipv4Packet.ProtocolTcp;
    /// <summary>64, Linux's default (net.ipv4.ip_default_ttl).</summary>
    public byte TimeToLive { get; set; } = 64;
    /// <summary>The identification field to write.</summary>
    public ushort Identification { get; set; }
    /// <summary>Set by default: TCP does path MTU discovery (RFC 1191), as Linux does.</summary>
    public bool DontFragment { get; set; } = true;
    /// <summary>DSCP and ECN bits.</summary>
    public byte TypeOfService { get; set; }

    /// <summary>The header fields of a parsed packet (IP options are not carried over).</summary>
    public static Ipv4Repr From(in Ipv4Packet packet) => new(packet.Source, packet.Destination)
    {
        Protocol = packet.Protocol,
        TimeToLive = packet.TimeToLive,
        Identification = packet.Identification,
        DontFragment = packet.DontFragment,
        TypeOfService = packet.TypeOfService,
    };
}
