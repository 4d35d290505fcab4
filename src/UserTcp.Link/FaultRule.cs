using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>Which packets a rule looks at by payload.</summary>
public enum PayloadFilter : byte
{
    /// <summary>Every segment, with data or without.</summary>
    Any,
    /// <summary>Segments carrying data (payload length &gt; 0).</summary>
    Data,
    /// <summary>Segments without data: pure ACKs, bare SYNs, FINs and RSTs.</summary>
    Empty,
}

/// <summary>Which packets a rule looks at by the IP header's ECN field (RFC 3168 §5).</summary>
public enum EcnFilter : byte
{
    /// <summary>Every packet, whatever its ECN field.</summary>
    Any,
    /// <summary>ECN-capable packets: ECT(0) or ECT(1).</summary>
    Ect,
    /// <summary>Packets a router marked: CE.</summary>
    Ce,
    /// <summary>Packets of a sender that does not speak ECN (ACKs and retransmissions of Linux's ECN connections are Not-ECT too).</summary>
    NotEct,
}

/// <summary>
/// One fault: a selection of packets and what to do to them. A packet is selected when it passes every selector that
/// is set — direction, TCP flags, payload, the advertised window, UserTcp's connection state, a time window, a latch
/// ("after the first FIN"), the ECN field, a predicate — and then the rule counts it: <see cref="NthFirst"/>..<see cref="NthLast"/> picks which selected
/// packets it acts on ("the first FIN"), and <see cref="Probability"/> rolls for each of those. Rules are written in
/// the small language of <see cref="Parse"/> ("drop from-kernel flags=FIN nth=1") or built with the factories.
/// <para>
/// An injector shows every packet to every rule, in order, so counting rules count the same packets whatever other
/// rules do; then it applies what the acting rules ask: a drop wins, otherwise CE-marking, delay, hold-back (reorder),
/// duplicate and corrupt combine (a corrupted copy is of the marked packet). Rules keep counts and latches, so a rule instance belongs to one injector. A packet that does
/// not parse as TCP/IPv4 is selected only by rules with no TCP selector.
/// </para>
/// </summary>
public sealed partial class FaultRule
{
    // Invariant: selected packets seen so far, counted up to NthLast (or without bound when NthLast is null).
    private long _selected;
    // Invariant: true once a packet in this rule's direction carrying all of After has passed; never reset.
    private bool _latched;
    // Which ends advertised a zero window, for WindowFilter.Reopens (null for any other filter).
    private ZeroWindowTracker? _zeroWindows;
    // For Again: the data segments acted on (by connection, direction and first sequence number) and how many of their
    // sendings are still to be acted on; an entry goes when it reaches 0.
    private Dictionary<SendingKey, int>? _resendings;
    private readonly string? _description;

    /// <summary>A rule that applies <paramref name="action"/> to every packet its selectors pick.</summary>
    /// <param name="action">What to do to a selected packet.</param>
    /// <param name="description">How logs name the rule; by default its text in the rule language.</param>
    public FaultRule(FaultAction action, string? description = null)
    {
        if (!Enum.IsDefined(action)) throw new ArgumentOutOfRangeException(nameof(action), action, "not a fault action");
        Action = action;
        _description = description;
    }

    /// <summary>What the rule does to the packets it acts on.</summary>
    public FaultAction Action { get; }

    /// <summary>For <see cref="FaultAction.Delayed"/>: how long the packet waits. For <see cref="FaultAction.HeldBack"/>: the longest it waits for a packet to follow it.</summary>
    public TimeSpan Delay
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            field = value;
        }
    } = TimeSpan.FromMilliseconds(100);

    /// <summary>Only packets going this way; null for both.</summary>
    public PacketDirection? Direction { get; init; }

    /// <summary>Only segments carrying all of these flags (with <see cref="ExactFlags"/>: exactly these).</summary>
    public TcpFlags Flags { get; init; }

    /// <summary>When true, a segment's flags must equal <see cref="Flags"/> rather than include them.</summary>
    public bool ExactFlags { get; init; }

    /// <summary>Only segments with data, or only those without; <see cref="PayloadFilter.Any"/> for both.</summary>
    public PayloadFilter Payload { get; init; }

    /// <summary>Only segments that advertise a zero window, or only the window update that follows one; <see cref="WindowFilter.Any"/> for all.</summary>
    public WindowFilter Window
    {
        get;
        init
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(Window), value, "not a window filter");
            field = value;
            _zeroWindows = value == WindowFilter.Reopens ? new ZeroWindowTracker() : null;
        }
    }

    /// <summary>Only segments whose connection is in one of these states on UserTcp's side when the packet passes; null for any.</summary>
    public IReadOnlySet<TcpState>? States { get; init; }

    /// <summary>Only packets at instants in [From, Until) of the injector's clock; null for no bound.</summary>
    public TimeSpan? From { get; init; }
    /// <summary>The end of the window (exclusive); null for no end.</summary>
    public TimeSpan? Until { get; init; }

    /// <summary>Only packets after the first one that carries all of these flags (and goes <see cref="AfterDirection"/>); that one itself is not selected.</summary>
    public TcpFlags? After { get; init; }

    /// <summary>Which way the packet that sets the <see cref="After"/> latch goes; null for the rule's own direction (or either).</summary>
    public PacketDirection? AfterDirection { get; init; }

    /// <summary>Only segments to or from this TCP port (either end); null for any.</summary>
    public ushort? Port { get; init; }

    /// <summary>
    /// Only packets longer than this many bytes (the whole IP packet as this link carries it): what a path of this MTU
    /// loses when it may not fragment and no ICMP comes back — a path MTU black hole (RFC 2923 §2.1). Null for any length.
    /// </summary>
    public int? Mtu
    {
        get;
        init => field = value is null or (>= MinMtu and <= MaxMtu) ? value : throw new ArgumentOutOfRangeException(nameof(Mtu), value, $"an MTU from {MinMtu} to {MaxMtu} bytes");
    }

    /// <summary>The smallest and largest <see cref="Mtu"/>: RFC 791's 68 bytes every IPv4 link carries, and the largest IPv4 packet.</summary>
    public const int MinMtu = 68, MaxMtu = 65535;

    /// <summary>Only IPv4 packets whose ECN field is of this kind; <see cref="EcnFilter.Any"/> for all.</summary>
    public EcnFilter Ecn
    {
        get;
        init
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(Ecn), value, "not an ECN filter");
            field = value;
        }
    }

    /// <summary>Acts on the selected packets numbered NthFirst..NthLast (1-based); NthLast null for no end.</summary>
    public long NthFirst
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = 1;

    /// <summary>The last selected packet acted on (1-based, inclusive); null for no end.</summary>
    public long? NthLast { get; init; }

    /// <summary>The chance, in [0, 1], that a packet the rule would act on is acted on; drawn from the injector's seeded generator.</summary>
    public double Probability
    {
        get;
        init
        {
            if (!(value >= 0 && value <= 1)) throw new ArgumentOutOfRangeException(nameof(Probability), value, "a probability is between 0 and 1");
            field = value;
        }
    } = 1;

    /// <summary>
    /// Also acts on the next this many sendings of each data segment the rule acted on — the same connection and direction
    /// and the same first sequence number, so its retransmissions ("the segment and its fast retransmission are lost").
    /// A resending is acted on whatever the other selectors say of it, and is not counted by <see cref="NthFirst"/>..<see cref="NthLast"/>
    /// or rolled for again. 0 (the default): none.
    /// </summary>
    public int Again
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            field = value;
            _resendings = value > 0 ? [] : null;
        }
    }

    /// <summary>A further test on the segment's fields, for rules built in code.</summary>
    public Func<TcpSegmentInfo, bool>? Predicate { get; init; }

    /// <summary>What the rule does, in words, for logs and test output.</summary>
    public string Description => _description ?? ToText();

    /// <summary>Packets this rule acted on (for drops: the packets it was the first dropping rule for).</summary>
    public long Applied { get; internal set; }

    /// <summary>Whether the rule needs UserTcp's connection state to decide.</summary>
    public bool NeedsState => States is not null;

    // Whether a packet that is not TCP can never match (the latch alone does not: once latched it drops everything).
    private bool NeedsTcp => Flags != TcpFlags.None || ExactFlags || Payload != PayloadFilter.Any || Window != WindowFilter.Any || States is not null || Predicate is not null
        || Port is not null;

    /// <summary>The rule's description.</summary>
    public override string ToString() => Description;

    /// <summary>
    /// Sees one packet; true when the rule acts on it. Counting, latching and the probability roll happen here, so call it
    /// once per packet, <paramref name="length"/> bytes long. <paramref name="segment"/> is null when the packet is not well-formed TCP/IPv4; <paramref name="ecn"/>
    /// is its IP ECN field, null when it is not IPv4; <paramref name="state"/> is UserTcp's state of the packet's
    /// connection, null when unknown.
    /// </summary>
    internal bool Matches(TimeSpan now, PacketDirection direction, int length, in TcpSegmentInfo? segment, EcnCodepoint? ecn, TcpState? state, Random random)
    {
        // The window update is the first non-zero window after a zero one from the same end: every segment is watched,
        // whatever the other selectors (and the latch) say of it.
        bool reopens = _zeroWindows is not null && segment is { } seen && _zeroWindows.Reopens(seen);
        if (After is TcpFlags trigger && !_latched)
        {
            // The latch watches its own direction (by default the rule's) and selects nothing until it is set.
            PacketDirection? watched = AfterDirection ?? Direction;
            if (segment is { } first && (watched is null || watched == direction) && (Port is null || first.SourcePort == Port || first.DestinationPort == Port))
            {
                _latched = first.Has(trigger);
            }
            return false;
        }
        if (Direction is PacketDirection only && only != direction) return false;
        // A resending of a segment acted on: before the ECN field is asked, Linux's retransmissions being Not-ECT.
        if (_resendings is not null && segment is { PayloadLength: > 0 } again && TakeResending(again)) return true;
        if (Ecn != EcnFilter.Any && !EcnMatches(ecn)) return false;
        if (Mtu is int mtu && length <= mtu) return false;
        if (segment is not { } tcp)
        {
            if (NeedsTcp) return false;
        }
        else
        {
            if (Port is ushort port && tcp.SourcePort != port && tcp.DestinationPort != port) return false;
            if (ExactFlags ? tcp.Flags != Flags : !tcp.Has(Flags)) return false;
            if (Payload == PayloadFilter.Data && tcp.PayloadLength == 0) return false;
            if (Payload == PayloadFilter.Empty && tcp.PayloadLength > 0) return false;
            if (Window == WindowFilter.Zero && !tcp.AdvertisesZeroWindow) return false;
            if (Window == WindowFilter.Reopens && !reopens) return false;
            if (States is not null && (state is not TcpState s || !States.Contains(s))) return false;
            if (Predicate is not null && !Predicate(tcp)) return false;
        }
        if (From is TimeSpan from && now < from) return false;
        if (Until is TimeSpan until && now >= until) return false;
        if (NthLast is long last && _selected >= last) return false;
        long n = ++_selected;
        if (n < NthFirst) return false;
        bool acts = Probability >= 1 || (Probability > 0 && random.NextDouble() < Probability);
        if (acts && _resendings is not null && segment is { PayloadLength: > 0 } acted) _resendings[SendingKey.Of(acted)] = Again;
        return acts;
    }

    private bool TakeResending(in TcpSegmentInfo segment)
    {
        SendingKey key = SendingKey.Of(segment);
        if (!_resendings!.TryGetValue(key, out int left)) return false;
        if (left > 1) _resendings[key] = left - 1;
        else _resendings.Remove(key);
        return true;
    }

    /// <summary>A data segment's identity across its sendings: its connection and direction, and its first sequence number.</summary>
    private readonly record struct SendingKey(Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort, SeqNumber Seq)
    {
        public static SendingKey Of(in TcpSegmentInfo s) => new(s.Source, s.SourcePort, s.Destination, s.DestinationPort, s.SequenceNumber);
    }

    private bool EcnMatches(EcnCodepoint? ecn) => ecn is EcnCodepoint field && Ecn switch
    {
        EcnFilter.Ect => EcnField.IsEct(field),
        EcnFilter.Ce => field == EcnCodepoint.Ce,
        EcnFilter.NotEct => field == EcnCodepoint.NotEct,
        _ => true,
    };

    /// <summary>Drops the <paramref name="n"/>-th segment (1-based) that carries all of <paramref name="flags"/>; "drop the first FIN".</summary>
    public static FaultRule DropNth(TcpFlags flags, int n = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new FaultRule(FaultAction.Dropped, $"drop the {Ordinal(n)} {Name(flags)}")
        {
            Flags = flags,
            NthFirst = n,
            NthLast = n,
            Predicate = flags == TcpFlags.None ? static _ => true : null,
        };
    }

    /// <summary>Lets the first segment carrying all of <paramref name="flags"/> through, then drops everything after it.</summary>
    public static FaultRule DropAllAfter(TcpFlags flags) =>
        new(FaultAction.Dropped, $"drop everything sent after the first {Name(flags)}") { After = flags };

    /// <summary>Drops every packet sent at an instant in [<paramref name="from"/>, <paramref name="until"/>).</summary>
    public static FaultRule Blackhole(TimeSpan from, TimeSpan until)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(until, from);
        return new FaultRule(FaultAction.Dropped,
            string.Create(CultureInfo.InvariantCulture, $"drop everything sent from {from.TotalSeconds:0.######} s until {until.TotalSeconds:0.######} s"))
        {
            From = from,
            Until = until,
        };
    }

    /// <summary>Drops every TCP segment <paramref name="predicate"/> accepts; <paramref name="description"/> names it in logs.</summary>
    public static FaultRule DropMatching(Func<TcpSegmentInfo, bool> predicate, string description)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        ArgumentException.ThrowIfNullOrWhiteSpace(description);
        return new FaultRule(FaultAction.Dropped, description) { Predicate = predicate };
    }

    /// <summary>Flag names as people write them: "FIN", "SYN+ACK"; "segment" for no flags.</summary>
    internal static string Name(TcpFlags flags)
    {
        if (flags == TcpFlags.None) return "segment";
        return string.Join('+', FlagNames.Where(pair => (flags & pair.Flag) != 0).Select(pair => pair.Name));
    }

    private static readonly (TcpFlags Flag, string Name)[] FlagNames =
    [
        (TcpFlags.Syn, "SYN"), (TcpFlags.Fin, "FIN"), (TcpFlags.Rst, "RST"), (TcpFlags.Psh, "PSH"),
        (TcpFlags.Ack, "ACK"), (TcpFlags.Urg, "URG"), (TcpFlags.Ece, "ECE"), (TcpFlags.Cwr, "CWR"),
    ];

    private static string Ordinal(int n) => n switch
    {
        1 => "first",
        2 => "second",
        3 => "third",
        _ when n % 100 is 11 or 12 or 13 => string.Create(CultureInfo.InvariantCulture, $"{n}th"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n}{(n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" }}"),
    };
}
