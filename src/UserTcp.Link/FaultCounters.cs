namespace UserTcp.Link;

/// <summary>What a <see cref="FaultInjector"/> has done so far; per-rule drops are on each <see cref="FaultRule"/>.</summary>
public sealed class FaultCounters
{
    /// <summary>Packets handed to the injector.</summary>
    public long Transmitted { get; internal set; }
    /// <summary>Packets handed on to the inner device, duplicates included.</summary>
    public long Forwarded { get; internal set; }
    /// <summary>Packets a rule dropped.</summary>
    public long DroppedByRule { get; internal set; }
    /// <summary>Packets lost to <see cref="FaultOptions.DropRate"/>.</summary>
    public long DroppedAtRandom { get; internal set; }
    /// <summary>Packets sent twice.</summary>
    public long Duplicated { get; internal set; }
    /// <summary>Packets held back behind a later one (reordered).</summary>
    public long HeldBack { get; internal set; }
    /// <summary>Copies given a non-zero jitter delay.</summary>
    public long Delayed { get; internal set; }
    /// <summary>Packets with a byte flipped.</summary>
    public long Corrupted { get; internal set; }
    /// <summary>ECN-capable packets a rule set to CE (a mark rule's Not-ECT packets pass unchanged and are not counted).</summary>
    public long Marked { get; internal set; }
    /// <summary>Packets UserTcp tried to send that a <c>refuse</c> rule made its device's queue refuse (TCP heard of each and retries).</summary>
    public long Refused { get; internal set; }
    /// <summary>Delayed or held-back packets the device refused when they were released (each lost, as a failed write is).</summary>
    public long WriteFailures { get; internal set; }
}
