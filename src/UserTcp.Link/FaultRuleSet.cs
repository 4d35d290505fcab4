using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>What the rules ask for one packet: for each action, the first rule that acts (null when none does).</summary>
internal readonly record struct RuleVerdict(FaultRule? Drop, FaultRule? Delay, FaultRule? HoldBack, FaultRule? Duplicate, FaultRule? Corrupt, FaultRule? Mark = null)
{
    public bool Any => Drop is not null || Delay is not null || HoldBack is not null || Duplicate is not null || Corrupt is not null || Mark is not null;
}

/// <summary>The rules of one injector, shown every packet in order (so counting rules count alike whatever the others do).</summary>
internal sealed class FaultRuleSet
{
    private readonly FaultRule[] _rules;
    private readonly bool _needsState;
    // Some rule refuses at the queue: only then is EvaluateRefusal asked to read the packet.
    private readonly bool _refuses;

    /// <summary>Whether any rule is a <c>refuse</c> rule: without one, no packet needs asking.</summary>
    public bool Refuses => _refuses;

    public FaultRuleSet(IEnumerable<FaultRule> rules)
    {
        _rules = [.. rules];
        _needsState = _rules.Any(r => r.NeedsState);
        _refuses = _rules.Any(r => r.Action == FaultAction.Refused);
    }

    public IReadOnlyList<FaultRule> Rules => _rules;

    public RuleVerdict Evaluate(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan now, IConnectionStateSource? states, Random random)
    {
        if (_rules.Length == 0) return default;
        (TcpSegmentInfo? segment, EcnCodepoint? ecn, TcpState? state) = Read(packet, direction, states);
        FaultRule? drop = null, delay = null, hold = null, duplicate = null, corrupt = null, mark = null;
        foreach (FaultRule rule in _rules)
        {
            if (rule.Action == FaultAction.Refused) continue; // asked before the queue takes the packet (EvaluateRefusal), not here
            if (!rule.Matches(now, direction, packet.Length, segment, ecn, state, random)) continue;
            switch (rule.Action)
            {
                case FaultAction.Dropped: drop ??= rule; break;
                case FaultAction.Delayed: delay ??= rule; break;
                case FaultAction.HeldBack: hold ??= rule; break;
                case FaultAction.Duplicated: duplicate ??= rule; break;
                case FaultAction.Corrupted: corrupt ??= rule; break;
                case FaultAction.Marked: mark ??= rule; break;
            }
        }
        // A dropped packet suffers nothing else; the rules that would have acted on it did not.
        if (drop is not null) return new RuleVerdict(drop, null, null, null, null);
        return new RuleVerdict(null, delay, hold, duplicate, corrupt, mark);
    }

    /// <summary>Whether a <c>refuse</c> rule makes the device's queue refuse this outbound packet: the first that acts, or null.</summary>
    public FaultRule? EvaluateRefusal(ReadOnlySpan<byte> packet, TimeSpan now, IConnectionStateSource? states, Random random)
    {
        if (!_refuses) return null;
        (TcpSegmentInfo? segment, EcnCodepoint? ecn, TcpState? state) = Read(packet, PacketDirection.Outbound, states);
        FaultRule? refuser = null;
        foreach (FaultRule rule in _rules)
        {
            // Every refuse rule sees the packet, so each counts alike whatever the others do.
            if (rule.Action == FaultAction.Refused && rule.Matches(now, PacketDirection.Outbound, packet.Length, segment, ecn, state, random)) refuser ??= rule;
        }
        return refuser;
    }

    /// <summary>What rules select on: the packet's TCP fields, its ECN codepoint, and its connection's state when a rule asks for it.</summary>
    private (TcpSegmentInfo? Segment, EcnCodepoint? Ecn, TcpState? State) Read(ReadOnlySpan<byte> packet, PacketDirection direction, IConnectionStateSource? states)
    {
        TcpSegmentInfo? segment = TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo info) ? info : null;
        EcnCodepoint? ecn = EcnField.Of(packet);
        TcpState? state = null;
        if (_needsState && states is not null && segment is { } tcp)
        {
            var source = new IpEndpoint(tcp.Source, tcp.SourcePort);
            var destination = new IpEndpoint(tcp.Destination, tcp.DestinationPort);
            state = states.StateOf(direction == PacketDirection.Outbound ? new FourTuple(source, destination) : new FourTuple(destination, source));
        }
        return (segment, ecn, state);
    }
}
