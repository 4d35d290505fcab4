namespace UserTcp.Link;

/// <summary>
/// The random faults a <see cref="FaultInjector"/> applies to what its side transmits. Rates are probabilities
/// per packet in [0, 1]; 0 never fires and 1 always does.
/// </summary>
public sealed record FaultOptions
{
    /// <summary>No random faults: packets pass unless a rule drops them.</summary>
    public static FaultOptions None { get; } = new();

    /// <summary>Chance a packet is lost.</summary>
    public double DropRate { get; init; }
    /// <summary>Chance a packet is sent twice (the copy follows the original).</summary>
    public double DuplicateRate { get; init; }
    /// <summary>
    /// Chance a packet is held back until this side's next packet has gone (a dropped one does not count), then
    /// follows it; a held packet goes anyway after <see cref="ReorderTimeout"/>, so the last packet of a burst is
    /// late rather than lost. One packet is held at a time, and it gets no jitter on top.
    /// </summary>
    public double ReorderRate { get; init; }
    /// <summary>The longest a reordered packet waits for a packet to follow.</summary>
    public TimeSpan ReorderTimeout { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>
    /// Each packet is held for an extra delay drawn uniformly from [0, DelayJitter]. Independent delays reorder
    /// packets sent closer together than the jitter, as netem's do.
    /// </summary>
    public TimeSpan DelayJitter { get; init; }
    /// <summary>Chance one random byte of a packet is flipped; the receiver's checksums must then refuse it.</summary>
    public double CorruptRate { get; init; }
}
