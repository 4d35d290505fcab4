using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What the engine has seen and done, for the lab, logs and tests that count.</summary>
public sealed class EngineCounters
{
    private readonly long[] _malformed = new long[Enum.GetValues<WireError>().Length];

    public long PacketsReceived { get; internal set; }
    public long SegmentsSent { get; internal set; }
    public long Retransmissions { get; internal set; }
    public long ResetsSent { get; internal set; }
    /// <summary>Well-formed segments for one of our connections that the state machine refused (each with a Dropped event and its cause).</summary>
    public long SegmentsDroppedByState { get; internal set; }
    /// <summary>Well-formed packets addressed to another IPv4 address than the stack's.</summary>
    public long PacketsNotForUs { get; internal set; }
    /// <summary>SYNs dropped because a listener's SYN queue was full.</summary>
    public long ListenOverflows { get; internal set; }

    /// <summary>Packets that failed to parse, by reason.</summary>
    public long Malformed(WireError error) => _malformed[(int)error];
    public long MalformedTotal => _malformed.Sum();

    internal void CountMalformed(WireError error) => _malformed[(int)error]++;
}
