using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>
/// Wraps a device and applies faults to what this side transmits: first the rules, in order, then the random faults
/// of <see cref="FaultOptions"/> drawn from a seeded <see cref="Random"/>, so the same seed and the same traffic give
/// the same fates. Wrap both ends of a link for faults in both directions.
/// <para>
/// Delayed and held-back packets wait here and are handed to the inner device when they fall due, stamped with the
/// instant they fell due. Calling protocol, with a clock that never goes backwards:
/// (1) pass the current instant to every <see cref="Transmit"/> and <see cref="TryReceive"/>;
/// (2) wake at the earliest of the engines' deadlines and every device's <see cref="NextArrival"/>, which includes
/// <see cref="NextRelease"/> — the instant this injector next has a held packet to hand on;
/// (3) on waking at <c>now</c>, call <see cref="TryReceive"/> on every device until it returns false (or
/// <see cref="Flush"/> on each injector first); that hands held packets on, and a packet they make arrive by
/// <c>now</c> is seen on the next round at the same <c>now</c>. A wake-up that finds nothing to receive is normal.
/// </para>
/// Not thread-safe: one simulation loop drives it.
/// </summary>
public sealed class FaultInjector : ILinkDevice
{
    private readonly ILinkDevice _inner;
    // Invariant: the only source of randomness, so a seed fixes every fate.
    private readonly Random _random;
    private readonly FaultRuleSet _rules;
    // Invariant: packets waiting out a jitter delay or released from a hold, by the instant they go to _inner.
    private readonly PacketQueue _delayed;
    // Invariant: the copies of at most one held-back packet, due at its reorder timeout.
    private readonly PacketQueue _heldBack;

    /// <summary>An injector around <paramref name="inner"/> with random faults from <paramref name="options"/>, then <paramref name="rules"/>, seeded by <paramref name="seed"/>.</summary>
    public FaultInjector(ILinkDevice inner, FaultOptions options, int seed, params IEnumerable<FaultRule> rules)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rules);
        CheckRate(options.DropRate, nameof(options.DropRate));
        CheckRate(options.DuplicateRate, nameof(options.DuplicateRate));
        CheckRate(options.ReorderRate, nameof(options.ReorderRate));
        CheckRate(options.CorruptRate, nameof(options.CorruptRate));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DelayJitter, TimeSpan.Zero, nameof(options.DelayJitter));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ReorderTimeout, TimeSpan.Zero, nameof(options.ReorderTimeout));
        _inner = inner;
        Options = options;
        // A seeded Random is the point here: reproducible fates, not secrecy.
        _random = new Random(seed);
        _rules = new FaultRuleSet(rules);
        _delayed = new PacketQueue(inner.Mtu);
        _heldBack = new PacketQueue(inner.Mtu);
    }

    /// <summary>The random faults; rates in [0, 1], jitter and reorder timeout non-negative (checked on construction).</summary>
    public FaultOptions Options { get; }
    /// <summary>The rules, in the order they are tried.</summary>
    public IReadOnlyList<FaultRule> Rules => _rules.Rules;

    /// <summary>Which way the packets this injector sees travel, for rules that select by direction (default: outbound).</summary>
    public PacketDirection Direction { get; init; } = PacketDirection.Outbound;

    /// <summary>Where rules that select by connection state look states up; without it such rules never match.</summary>
    public IConnectionStateSource? States { get; init; }
    /// <summary>What the injector has done so far.</summary>
    public FaultCounters Counters { get; } = new();

    /// <summary>Called for every fault applied, with the packet formatted; while null nothing is formatted.</summary>
    public Action<FaultEvent>? OnFault { get; set; }

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;

    /// <summary>The earliest instant a packet held here is due to go to the inner device; null when none is held.</summary>
    public TimeSpan? NextRelease => Earliest(_delayed.NextDue, _heldBack.NextDue);

    /// <summary>The inner device's next arrival or <see cref="NextRelease"/>, whichever is first: when to call this device next.</summary>
    public TimeSpan? NextArrival => Earliest(_inner.NextArrival, NextRelease);

    /// <inheritdoc/>
    public void Transmit(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        Flush(now);
        Counters.Transmitted++;
        RuleVerdict rules = _rules.Evaluate(packet, Direction, now, States, _random);
        if (rules.Drop is FaultRule dropper)
        {
            dropper.Applied++;
            Counters.DroppedByRule++;
            if (OnFault is not null) Report(now, FaultAction.Dropped, $"dropped by rule '{dropper.Description}'", packet, dropper);
            return;
        }
        if (DroppedAtRandom(packet, now)) return;
        if (rules.Mark is FaultRule marker)
        {
            if (EcnField.MarkedCopy(packet) is (byte[] copy, EcnCodepoint before))
            {
                // Everything after (copies, delays, corruption) sees the marked packet, as the link beyond the router would.
                packet = copy;
                marker.Applied++;
                Counters.Marked++;
                Report(now, FaultAction.Marked, $"CE-marked ({EcnField.Name(before)} → CE) by rule '{marker.Description}'", packet, marker);
            }
        }

        int copies = 1;
        if (rules.Duplicate is FaultRule duplicator)
        {
            duplicator.Applied++;
            copies = 2;
            Counters.Duplicated++;
            Report(now, FaultAction.Duplicated, $"duplicated by rule '{duplicator.Description}'", packet, duplicator);
        }
        else if (Roll(Options.DuplicateRate))
        {
            copies = 2;
            Counters.Duplicated++;
            Report(now, FaultAction.Duplicated, "duplicated", packet);
        }
        TimeSpan holdFor = Options.ReorderTimeout;
        bool holdBack = false;
        if (_heldBack.Count == 0 && rules.HoldBack is FaultRule holder)
        {
            holder.Applied++;
            holdBack = true;
            holdFor = holder.Delay;
            Counters.HeldBack++;
            Report(now, FaultAction.HeldBack, $"held back behind the next packet by rule '{holder.Description}'", packet, holder);
        }
        else if (_heldBack.Count == 0 && Roll(Options.ReorderRate))
        {
            holdBack = true;
            Counters.HeldBack++;
            Report(now, FaultAction.HeldBack, "held back behind the next packet", packet);
        }
        TimeSpan ruleDelay = TimeSpan.Zero;
        if (!holdBack && rules.Delay is FaultRule delayer)
        {
            delayer.Applied++;
            ruleDelay = delayer.Delay;
            Counters.Delayed++;
            if (OnFault is not null)
            {
                Report(now, FaultAction.Delayed,
                    string.Create(CultureInfo.InvariantCulture, $"delayed by {ruleDelay.TotalMilliseconds:0.###} ms by rule '{delayer.Description}'"), packet, delayer);
            }
        }
        if (rules.Corrupt is FaultRule corrupter) corrupter.Applied++;

        TimeSpan lastRelease = now;
        for (int copy = 0; copy < copies; copy++)
        {
            bool corrupt = packet.Length > 0 && (rules.Corrupt is not null || Roll(Options.CorruptRate));
            TimeSpan release = holdBack ? now + holdFor : now + ruleDelay + Jitter(packet, now);
            if (!corrupt && release == now)
            {
                Flush(now); // a corrupted first copy queued for now goes first
                Forward(packet, now);
                continue;
            }
            Span<byte> stored = (holdBack ? _heldBack : _delayed).Enqueue(packet, release);
            if (corrupt) Corrupt(stored, now, rules.Corrupt);
            if (release > lastRelease) lastRelease = release;
        }
        // This packet is the "next one" a held-back packet waits for: the held copies follow its last copy.
        if (!holdBack) ReleaseHeldBack(lastRelease);
        Flush(now);
    }

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, TimeSpan now, out int length)
    {
        Flush(now);
        return _inner.TryReceive(buffer, now, out length);
    }

    /// <summary>Hands every held packet due by <paramref name="now"/> to the inner device, in due order, each stamped with its due instant.</summary>
    public void Flush(TimeSpan now)
    {
        while (true)
        {
            bool heldDue = _heldBack.TryPeek(out ReadOnlySpan<byte> held, out TimeSpan heldAt) && heldAt <= now;
            bool delayedDue = _delayed.TryPeek(out ReadOnlySpan<byte> delayed, out TimeSpan delayedAt) && delayedAt <= now;
            if (heldDue && (!delayedDue || heldAt < delayedAt))
            {
                Forward(held, heldAt);
                _heldBack.Dequeue();
            }
            else if (delayedDue)
            {
                Forward(delayed, delayedAt);
                _delayed.Dequeue();
            }
            else
            {
                return;
            }
        }
    }

    private bool DroppedAtRandom(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        if (!Roll(Options.DropRate)) return false;
        Counters.DroppedAtRandom++;
        Report(now, FaultAction.Dropped, "dropped at random", packet);
        return true;
    }

    private TimeSpan Jitter(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        if (Options.DelayJitter == TimeSpan.Zero) return TimeSpan.Zero;
        var extra = TimeSpan.FromTicks((long)(_random.NextDouble() * (Options.DelayJitter.Ticks + 1)));
        if (extra == TimeSpan.Zero) return extra;
        Counters.Delayed++;
        if (OnFault is not null)
        {
            Report(now, FaultAction.Delayed, string.Create(CultureInfo.InvariantCulture, $"delayed by {extra.TotalMilliseconds:0.###} ms"), packet);
        }
        return extra;
    }

    private void Corrupt(Span<byte> copy, TimeSpan now, FaultRule? rule)
    {
        FaultCorruption what = FaultCorruption.Apply(copy, _random);
        Counters.Corrupted++;
        if (OnFault is not null)
        {
            Report(now, FaultAction.Corrupted, rule is null ? what.ToString() : $"{what} by rule '{rule.Description}'", copy, rule);
        }
    }

    /// <summary>Moves the held-back copies behind everything already due by <paramref name="after"/>.</summary>
    private void ReleaseHeldBack(TimeSpan after)
    {
        while (_heldBack.TryPeek(out ReadOnlySpan<byte> held, out _))
        {
            _delayed.Enqueue(held, after);
            _heldBack.Dequeue();
        }
    }

    private void Forward(ReadOnlySpan<byte> packet, TimeSpan at)
    {
        Counters.Forwarded++;
        _inner.Transmit(packet, at);
    }

    private bool Roll(double rate) => rate > 0 && _random.NextDouble() < rate;

    private void Report(TimeSpan now, FaultAction action, string detail, ReadOnlySpan<byte> packet, FaultRule? rule = null) =>
        OnFault?.Invoke(new FaultEvent(now, action, detail, PacketFormatter.Format(packet), rule));

    private static TimeSpan? Earliest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : a < b ? a : b;

    private static void CheckRate(double rate, string name)
    {
        if (!(rate >= 0 && rate <= 1))
        {
            throw new ArgumentOutOfRangeException(name, rate.ToString(CultureInfo.InvariantCulture), "a rate is a probability between 0 and 1");
        }
    }
}
