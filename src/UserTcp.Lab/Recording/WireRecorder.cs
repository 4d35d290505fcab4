using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>
/// One packet as the TUN link carried it: when its sender put it on the link, which way, its TCP fields and SACK blocks,
/// and the fault that hit it. <see cref="At"/> is UserTcp's instant for what it sent, and for what the kernel sent the
/// kernel's own (<see cref="KernelTransmitTimes"/>) when the lab had it, else the instant UserTcp read it.
/// </summary>
public sealed record WirePacket(
    int Index, TimeSpan At, PacketDirection Direction, TcpSegmentInfo Segment, IReadOnlyList<SackBlock> Sack, byte? WindowScale, FaultNote? Fault)
{
    /// <summary>For a packet from the kernel timed by the kernel: when UserTcp read it from the device (null otherwise).</summary>
    public TimeSpan? ReadAt { get; init; }

    /// <summary>
    /// When the receiver had it: UserTcp's read for a packet from the kernel; for UserTcp's own, <see cref="At"/> (the
    /// kernel takes a packet written to the TUN device in that write). A receiver's reaction counts from here.
    /// </summary>
    public TimeSpan ArrivedAt => ReadAt ?? At;

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
