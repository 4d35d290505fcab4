namespace UserTcp.Wire;

/// <summary>
/// A TCP segment as values: what the engine reads from an arriving segment and fills in to send one.
/// The payload is a span into the caller's buffer, so this is a ref struct and lives on the stack.
/// </summary>
public ref struct TcpRepr
{
    public ushort SourcePort { get; set; }
    public ushort DestinationPort { get; set; }
    public SeqNumber SequenceNumber { get; set; }
    public SeqNumber AcknowledgmentNumber { get; set; }
    public TcpFlags Flags { get; set; }
    /// <summary>The raw 16-bit window field (already scaled down by the sender's shift).</summary>
    public ushort Window { get; set; }
    public ushort UrgentPointer { get; set; }
    public TcpOptions Options { get; set; }
    public ReadOnlySpan<byte> Payload { get; set; }

    public static TcpRepr From(in TcpSegment segment) => new()
    {
        SourcePort = segment.SourcePort,
        DestinationPort = segment.DestinationPort,
        SequenceNumber = segment.SequenceNumber,
        AcknowledgmentNumber = segment.AcknowledgmentNumber,
        Flags = segment.Flags,
        Window = segment.Window,
        UrgentPointer = segment.UrgentPointer,
        Options = segment.Options,
        Payload = segment.Payload,
    };

    public readonly bool Has(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>Header bytes this segment needs: 20 plus its options.</summary>
    public readonly int HeaderLength => TcpSegment.MinHeaderLength + Options.EncodedLength;

    /// <summary>SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).</summary>
    public readonly int SegmentLength => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);
}
