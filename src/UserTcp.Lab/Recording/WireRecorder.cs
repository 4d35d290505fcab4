using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>One packet as the TUN link carried it: when, which way, its TCP fields and SACK blocks, and the fault that hit it.</summary>
public sealed record WirePacket(
    int Index, TimeSpan At, PacketDirection Direction, TcpSegmentInfo Segment, IReadOnlyList<SackBlock> Sack, byte? WindowScale, FaultNote? Fault)
{
    /// <summary>From UserTcp to the kernel.</summary>
    public bool ToKernel => Direction == PacketDirection.Outbound;
    public bool Dropped => Fault?.Action == FaultAction.Dropped;
}

/// <summary>
/// Keeps every TCP packet the live stack's tap sees (a <see cref="IPacketTap"/> given to the builder), in order, for the
/// lab's timeline, ladder and graphs. Thread-safe: the device's reader and writers record at once.
/// </summary>
public sealed class WireRecorder : IPacketTap
{
    private readonly Lock _gate = new();
    private readonly List<WirePacket> _packets = [];

    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault)
    {
        if (!TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo info)) return;
        SackBlock[] sack = [];
        byte? scale = null;
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip, verifyChecksum: false) == WireError.None
            && TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false) == WireError.None)
        {
            sack = tcp.Options.SackBlocks.ToArray();
            scale = tcp.Options.WindowScale;
        }
        lock (_gate)
        {
            _packets.Add(new WirePacket(_packets.Count, at, direction, info, sack, scale, fault));
        }
    }

    public IReadOnlyList<WirePacket> Packets
    {
        get
        {
            lock (_gate) return [.. _packets];
        }
    }
}
