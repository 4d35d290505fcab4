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
    /// kernel takes a packet written to the TUN device in that write). A receiver's reaction counts from here. Under a
    /// delay or hold-back rule, UserTcp's packet is recorded when the link handed it to the kernel (so its At is then
    /// later than UserTcp's send), and one from the kernel reached UserTcp that much after its ArrivedAt.
    /// </summary>
    public TimeSpan ArrivedAt => ReadAt ?? At;

    /// <summary>
    /// When its sender sent it: <see cref="At"/>, except for UserTcp's packet under a delay or hold-back rule, which is
    /// recorded when the link handed it on: then the instant the link took it (<see cref="LinkTookAt"/>), else the rule's
    /// delay before <see cref="At"/>. The link's instant is exact; the rule's delay is not on a busy machine, whose delay
    /// line handed a 400 ms hold on 403 ms later, after the resend that overtook it had gone.
    /// </summary>
    public TimeSpan SentAt => LinkTookAt ?? (ToKernel && Fault is { Action: FaultAction.Delayed, Rule: FaultRule rule } ? At - rule.Delay : At);

    /// <summary>
    /// For UserTcp's packet that a delay or hold-back rule held: the instant the link took it from UserTcp, as the fault
    /// injector noted it (<see cref="FaultNote.TookAt"/>); null for any other packet, or a note without it.
    /// </summary>
    public TimeSpan? LinkTookAt =>
        ToKernel && Fault is { Action: FaultAction.Delayed or FaultAction.HeldBack, TookAt: TimeSpan took } && took <= At ? took : null;

    /// <summary>
    /// "UserTcp read it 12.3 ms later" for a packet from the kernel that waited in the device a millisecond or more (its
    /// <see cref="At"/> is when the kernel sent it), as the ladder, the timeline and the capture say it; null otherwise.
    /// </summary>
    public string? LateRead => ReadAt is TimeSpan read ? KernelTransmission.LateReadNote(At, read) : null;

    /// <summary>The IP header's ECN field as the link delivered it (<see cref="EcnField"/>; a packet a rule CE-marked is recorded marked).</summary>
    public EcnCodepoint Ecn { get; init; }

    /// <summary>The TCP Fast Open option it carries (RFC 7413 §4.1.1), if any; <see cref="FastOpenCookie"/> is its cookie, empty for a request.</summary>
    public TcpFastOpenKind FastOpen { get; init; }
    public TcpFastOpenCookie FastOpenCookie { get; init; }

    /// <summary>It carries CE, congestion experienced: a router (here the link's <c>mark</c> rule) marked it instead of dropping it (RFC 3168 §5).</summary>
    public bool Ce => Ecn == EcnCodepoint.Ce;

    /// <summary>From UserTcp to the kernel.</summary>
    public bool ToKernel => Direction == PacketDirection.Outbound;
    public bool Dropped => Fault?.Action == FaultAction.Dropped;
    /// <summary>UserTcp's own queue refused it (the link's <c>refuse</c> rule): it never left UserTcp, and no sending counts it.</summary>
    public bool Refused => Fault?.Action == FaultAction.Refused;
}

/// <summary>
/// Keeps every TCP packet the live stack's tap sees (a <see cref="IPacketTap"/> given to the builder), in order, for the
/// lab's timeline, ladder and graphs, and every packet's bytes for its capture (<see cref="WriteCapture"/>).
/// Thread-safe: the device's reader and writers record at once.
/// </summary>
public sealed class WireRecorder : IPacketTap
{
    private readonly Lock _gate = new();
    private readonly List<WirePacket> _packets = [];
    private readonly List<Frame> _frames = [];

    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault)
    {
        byte[] bytes = packet.ToArray();
        if (!TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo info))
        {
            lock (_gate) _frames.Add(new Frame(bytes, direction, at, fault, WireIndex: -1));
            return;
        }
        SackBlock[] sack = [];
        byte? scale = null;
        TcpFastOpenKind fastOpen = TcpFastOpenKind.None;
        TcpFastOpenCookie cookie = default;
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip, verifyChecksum: false) == WireError.None
            && TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false) == WireError.None)
        {
            sack = tcp.Options.SackBlocks.ToArray();
            scale = tcp.Options.WindowScale;
            fastOpen = tcp.Options.FastOpen;
            cookie = tcp.Options.FastOpenCookie;
        }
        lock (_gate)
        {
            _frames.Add(new Frame(bytes, direction, at, fault, _packets.Count));
            _packets.Add(new WirePacket(_packets.Count, at, direction, info, sack, scale, fault) { Ecn = EcnField.Of(packet) ?? EcnCodepoint.NotEct, FastOpen = fastOpen, FastOpenCookie = cookie });
        }
    }

    /// <summary>
    /// Writes every packet recorded to a pcapng file at <paramref name="path"/>, stamped as <paramref name="timed"/> says
    /// (<see cref="Packets"/> with the kernel's instants: <see cref="KernelTransmitTimes.Apply"/>), in the order of those
    /// instants, with each fault as a comment, and a packet from the kernel that UserTcp read late commented as a live
    /// capture's is ("UserTcp read it 12.3 ms later"). <paramref name="epoch"/> is the wall-clock instant of stack time zero.
    /// </summary>
    public void WriteCapture(string path, IReadOnlyList<WirePacket> timed, DateTimeOffset epoch, string interfaceName, string description)
    {
        ArgumentNullException.ThrowIfNull(timed);
        List<(Frame Frame, WirePacket? Packet)> frames;
        lock (_gate) frames = [.. _frames.Select(f => (f, f.WireIndex >= 0 && f.WireIndex < timed.Count ? timed[f.WireIndex] : null))];
        using PcapNgWriter capture = PcapNgWriter.Create(path, epoch, interfaceName, description);
        foreach ((Frame frame, WirePacket? packet) in frames.OrderBy(f => f.Packet?.At ?? f.Frame.At)) // stable: equal instants keep the tap's order
        {
            capture.Record(frame.Bytes, frame.Direction, packet?.At ?? frame.At, frame.Fault, packet?.LateRead);
        }
    }

    public IReadOnlyList<WirePacket> Packets
    {
        get
        {
            lock (_gate) return [.. _packets];
        }
    }

    // One packet as the tap saw it, with the index of its WirePacket (-1 when it was not TCP).
    private readonly record struct Frame(byte[] Bytes, PacketDirection Direction, TimeSpan At, FaultNote? Fault, int WireIndex);
}
