using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>
/// A deterministic drop decision with a description for logs ("drop the first FIN"). A fault injector shows every
/// packet it is handed to every rule, in order, before any random fault; the packet is dropped when any rule
/// matches, and the first matching rule is credited. Rules that count or latch keep state, so a rule instance
/// belongs to one injector. A packet that does not parse as TCP matches only rules that ignore its contents.
/// </summary>
public abstract class FaultRule
{
    private protected FaultRule(string description) => Description = description;

    /// <summary>What the rule does, in words, for logs and test output.</summary>
    public string Description { get; }

    /// <summary>Packets this rule dropped (as the first matching rule).</summary>
    public long Dropped { get; internal set; }

    public override string ToString() => Description;

    /// <summary>Sees one transmitted packet; <paramref name="segment"/> is null when it is not well-formed TCP/IPv4.</summary>
    internal abstract bool Matches(TimeSpan now, in TcpSegmentInfo? segment);

    /// <summary>Drops the <paramref name="n"/>-th segment (1-based) that carries all of <paramref name="flags"/>; "drop the first FIN".</summary>
    public static FaultRule DropNth(TcpFlags flags, int n = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new NthRule(flags, n);
    }

    /// <summary>Lets the first segment carrying all of <paramref name="flags"/> through, then drops everything after it.</summary>
    public static FaultRule DropAllAfter(TcpFlags flags) => new AfterRule(flags);

    /// <summary>Drops every packet sent at an instant in [<paramref name="from"/>, <paramref name="until"/>).</summary>
    public static FaultRule Blackhole(TimeSpan from, TimeSpan until)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(until, from);
        return new BlackholeRule(from, until);
    }

    /// <summary>Drops every TCP segment <paramref name="predicate"/> accepts; <paramref name="description"/> names it in logs.</summary>
    public static FaultRule DropMatching(Func<TcpSegmentInfo, bool> predicate, string description)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        ArgumentException.ThrowIfNullOrWhiteSpace(description);
        return new PredicateRule(predicate, description);
    }

    /// <summary>Flag names as people write them: "FIN", "SYN+ACK"; "segment" for no flags.</summary>
    private static string Name(TcpFlags flags)
    {
        if (flags == TcpFlags.None) return "segment";
        (TcpFlags Flag, string Name)[] names =
        [
            (TcpFlags.Syn, "SYN"), (TcpFlags.Fin, "FIN"), (TcpFlags.Rst, "RST"), (TcpFlags.Psh, "PSH"),
            (TcpFlags.Ack, "ACK"), (TcpFlags.Urg, "URG"), (TcpFlags.Ece, "ECE"), (TcpFlags.Cwr, "CWR"),
        ];
        return string.Join('+', names.Where(pair => (flags & pair.Flag) != 0).Select(pair => pair.Name));
    }

    private static string Ordinal(int n) => n switch
    {
        1 => "first",
        2 => "second",
        3 => "third",
        _ when n % 100 is 11 or 12 or 13 => string.Create(CultureInfo.InvariantCulture, $"{n}th"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n}{(n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" }}"),
    };

    private sealed class NthRule(TcpFlags flags, int n) : FaultRule($"drop the {Ordinal(n)} {Name(flags)}")
    {
        // Invariant: segments carrying all of flags seen so far, dropped or not, counted up to n.
        private int _seen;

        internal override bool Matches(TimeSpan now, in TcpSegmentInfo? segment) =>
            segment is { } tcp && tcp.Has(flags) && _seen < n && ++_seen == n;
    }

    private sealed class AfterRule(TcpFlags flags) : FaultRule($"drop everything sent after the first {Name(flags)}")
    {
        // Invariant: true once a segment carrying all of flags has been seen; never reset.
        private bool _latched;

        internal override bool Matches(TimeSpan now, in TcpSegmentInfo? segment)
        {
            if (_latched) return true;
            _latched = segment is { } tcp && tcp.Has(flags);
            return false;
        }
    }

    private sealed class BlackholeRule(TimeSpan from, TimeSpan until) : FaultRule(
        string.Create(CultureInfo.InvariantCulture, $"drop everything sent from {from.TotalSeconds:0.######} s until {until.TotalSeconds:0.######} s"))
    {
        internal override bool Matches(TimeSpan now, in TcpSegmentInfo? segment) => now >= from && now < until;
    }

    private sealed class PredicateRule(Func<TcpSegmentInfo, bool> predicate, string description) : FaultRule(description)
    {
        internal override bool Matches(TimeSpan now, in TcpSegmentInfo? segment) => segment is { } tcp && predicate(tcp);
    }
}
