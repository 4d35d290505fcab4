using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>
/// Sequence and acknowledgment numbers as the lab prints them everywhere (ladder, timeline, graphs, verdicts): relative
/// to the ISN of the side whose sequence space they are in, as tcpdump -S off and Wireshark print them. A side whose SYN
/// the record lacks keeps its numbers raw. <see cref="LabRecord.Numbering"/> makes one for a connection.
/// </summary>
public readonly record struct SeqNumbering(SeqNumber? KernelIsn, SeqNumber? UserTcpIsn)
{
    /// <summary><paramref name="number"/> relative to <paramref name="isn"/>; the raw number without one.</summary>
    public static uint Relative(SeqNumber number, SeqNumber? isn) => isn is SeqNumber i ? (uint)(number - i) : number.Value;

    /// <summary>The ISN of one side's sequence space.</summary>
    public SeqNumber? IsnOf(LabSide side) => side == LabSide.Kernel ? KernelIsn : UserTcpIsn;

    /// <summary>A number in <paramref name="side"/>'s sequence space (its seq, or the peer's ack of it).</summary>
    public uint Of(LabSide side, SeqNumber number) => Relative(number, IsnOf(side));

    /// <summary>The packet's sequence number, relative to its sender's ISN.</summary>
    public uint Seq(WirePacket p) => Of(Sender(p), p.Segment.SequenceNumber);

    /// <summary>The packet's acknowledgment number, relative to the ISN of the side it acknowledges.</summary>
    public uint Ack(WirePacket p) => Of(Receiver(p), p.Segment.AcknowledgmentNumber);

    /// <summary>The packet's SACK blocks, "1449-2897 4345-5793", in the acknowledged side's numbers.</summary>
    public string Sack(WirePacket p)
    {
        SeqNumber? isn = IsnOf(Receiver(p));
        return string.Join(" ", p.Sack.Select(b => $"{Relative(b.Left, isn)}-{Relative(b.Right, isn)}"));
    }

    private static LabSide Sender(WirePacket p) => p.ToKernel ? LabSide.UserTcp : LabSide.Kernel;

    private static LabSide Receiver(WirePacket p) => p.ToKernel ? LabSide.Kernel : LabSide.UserTcp;
}
