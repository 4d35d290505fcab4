using UserTcp.Engine;
using UserTcp.Link;

namespace UserTcp.Lab;

/// <summary>Gives the engine's events for a received segment no earlier a time than UserTcp's read of that segment.</summary>
public static class EventAlignment
{
    // How far a packet's read may fall after the event it caused and still be its cause: the tap and the engine read one
    // clock, and a pass starts after its packets were read, so only the clock's granularity separates them.
    private static readonly TimeSpan ReadSlack = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// The runtime stamps every event of one batch of received packets with the instant its pass began. Each event that
    /// shares a pass's stamp is put no earlier than the read of the segment the pass was processing (a segment is never
    /// shown acted on before UserTcp had it). The engine takes the link's packets in the order they were read, so a
    /// segment's event belongs to the first packet, after the last one matched, with the same fields that had been read by
    /// then: on a busy machine a pass can run milliseconds after its reads, and a later retransmission identical to the
    /// segment (a FIN again) must not be taken for it. Application and timer events keep their own, exact, times.
    /// <paramref name="packets"/> are the tap's, stamped when read.
    /// </summary>
    public static IReadOnlyList<TcpEvent> AlignToLink(IReadOnlyList<TcpEvent> events, IReadOnlyList<WirePacket> packets)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(packets);
        var inbound = packets.Where(p => !p.ToKernel && !p.Dropped).ToList();
        int next = 0; // the packets before it are matched, or were passed over by a later match
        var aligned = new List<TcpEvent>(events.Count);
        TimeSpan batch = TimeSpan.MinValue, shifted = TimeSpan.Zero;
        foreach (TcpEvent e in events)
        {
            if (e.Kind == TcpEventKind.SegmentIn)
            {
                int match = -1;
                for (int i = next; i < inbound.Count && match < 0 && inbound[i].At <= e.Time + ReadSlack; i++)
                {
                    if (Carries(inbound[i].Segment, e)) match = i;
                }
                if (match >= 0)
                {
                    next = match + 1;
                    batch = e.Time;
                    shifted = inbound[match].At > e.Time ? inbound[match].At : e.Time;
                }
            }
            aligned.Add(e.Time == batch ? e with { Time = shifted } : e);
        }
        return aligned;
    }

    private static bool Carries(TcpSegmentInfo s, TcpEvent e) =>
        s.SequenceNumber == e.Segment.Seq && s.AcknowledgmentNumber == e.Segment.Ack && s.Flags == e.Segment.Flags
        && s.PayloadLength == e.Segment.PayloadLength && s.SourcePort == e.Connection.Remote.Port
        && s.DestinationPort == e.Connection.Local.Port;
}
