namespace UserTcp.Wire;

/// <summary>
/// A TCP segment as values: what the engine reads from an arriving segment and fills in to send one.
/// The payload is a span into the caller's buffer, so this is a ref struct and lives on the stack.
/// </summary>
public ref struct TcpRepr
{
    /// <summary>The source port.</summary>
    public ushort SourcePort { get; set; }
    /// <summary>The destination port.</summary>
    public ushort DestinationPort { get; set; }
    /// <summary>The sequence number (SEG.SEQ).</summary>
    public SeqNumber SequenceNumber { get; set; }
    /// <summary>The acknowledgment number (SEG.ACK), meaningful with ACK set.</summary>
    public SeqNumber AcknowledgmentNumber { get; set; }
    /// <summary>The control flags.</summary>
    public TcpFlags Flags { get; set; }
    /// <summary>The raw 16-bit window field (already scaled down by the sender's shift).</summary>
    public ushort Window { get; set; }
    /// <summary>The urgent pointer, meaningful with URG set.</summary>
    public ushort UrgentPointer { get; set; }
    /// <summary>The options to write after the fixed header.</summary>
    public TcpOptions Options { get; set; }
    /// <summary>The data to carry.</summary>
    public ReadOnlySpan<byte> Payload { get; set; }

    /// <summary>The fields of a parsed segment, its payload referring to the segment's bytes.</summary>
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

    /// <summary>True when every flag of <paramref name="flags"/> is set.</summary>
    public readonly bool Has(TcpFlags flags) => (Flags & flags) == flags;

    /// <summary>Header bytes this segment needs: 20 plus its options.</summary>
    public readonly int HeaderLength => TcpSegment.MinHeaderLength + Options.EncodedLength;

    /// <summary>SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).</summary>
    public readonly int SegmentLength => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);
}
