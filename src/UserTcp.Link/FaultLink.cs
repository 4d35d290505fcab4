namespace UserTcp.Link;

/// <summary>
/// What the <see cref="FaultInjectingDevice"/>s of one link share, one per queue of a multi-queue device: the rules (their
/// counts and latches), the seeded generator, the counters, the tap, the connection states and the clock. Every fate is
/// decided under <see cref="Decide"/>, so the link's packets meet the rules as one stream in the order they are decided,
/// and the same seed and the same order give the same fates, whichever queue a packet crosses.
/// </summary>
internal sealed class FaultLink
{
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly Func<TimeSpan>? _clock;

    public FaultLink(IEnumerable<FaultRule> rules, int seed, TimeProvider? time, IConnectionStateSource? states, IPacketTap? tap, Func<TimeSpan>? clock)
    {
        ArgumentNullException.ThrowIfNull(rules);
        Rules = new FaultRuleSet(rules);
        States = states;
        Tap = tap;
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
        _clock = clock;
        // A seeded Random is the point here: reproducible fates, not secrecy.
        Random = new Random(seed);
    }

    public FaultRuleSet Rules { get; }
    // Guards Random, the rules' counts and latches, and Counters: both directions of every queue decide under it.
    public Lock Decide { get; } = new();
    public Random Random { get; }
    public FaultCounters Counters { get; } = new();
    public IConnectionStateSource? States { get; }
    public IPacketTap? Tap { get; }
    public TimeProvider Time => _time;
    public Action<FaultEvent>? OnFault { get; set; }

    /// <summary>The clock of rules' time windows and of the tap's records.</summary>
    public TimeSpan Now => _clock?.Invoke() ?? _time.GetElapsedTime(_start);

    /// <summary>Counts packets handed on to a device (any queue, either direction).</summary>
    public void Forwarded(int packets = 1)
    {
        lock (Decide) Counters.Forwarded += packets;
    }

    /// <summary>Counts a released packet the device refused.</summary>
    public void WriteFailed()
    {
        lock (Decide) Counters.WriteFailures++;
    }
}
