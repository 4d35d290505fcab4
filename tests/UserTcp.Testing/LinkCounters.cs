namespace UserTcp.Testing;

/// <summary>What one direction of a <see cref="SimulatedLink"/> has carried so far.</summary>
public sealed class LinkCounters
{
    /// <summary>Packets accepted onto the wire (oversize ones excluded).</summary>
    public long PacketsSent { get; internal set; }
    public long BytesSent { get; internal set; }
    /// <summary>Packets taken by the receiving endpoint.</summary>
    public long PacketsDelivered { get; internal set; }
    public long BytesDelivered { get; internal set; }
    /// <summary>Packets refused because they were larger than the MTU.</summary>
    public long OversizeDropped { get; internal set; }
    /// <summary>Packets on the wire now: sent but not yet taken.</summary>
    public long InFlight => PacketsSent - PacketsDelivered;
}
