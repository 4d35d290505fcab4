using System.Globalization;
using System.Text;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>A fault rule's text that does not parse; <see cref="Token"/> is the word at fault.</summary>
public sealed class FaultRuleException(string token, string message) : FormatException(message)
{
    /// <summary>The word of the rule that is wrong.</summary>
    public string Token { get; } = token;
}

/// <summary>
/// The rule language (README "Faults on the live path"). A rule is an action and then selectors, separated by spaces,
/// in any order; every selector given must match.
/// <code>
/// action:    drop | delay=DURATION | duplicate | reorder[=DURATION] | corrupt | mark   (mark: ECT → CE; Not-ECT passes as it is)
/// direction: to-kernel (out) | from-kernel (in)                 default: both
/// flags:     flags=FIN+ACK (carries all of) | flags==ACK (exactly)   SYN FIN RST PSH ACK URG ECE CWR
/// payload:   data | empty
/// window:    window=0 | reopens                                  advertises a zero window | the window update after one
/// state:     state=FIN-WAIT-1,TIME-WAIT                           UserTcp's state of the connection
/// which:     nth=N | nth=N..M | nth=N.. | count=N (= nth=1..N)   among the packets the selectors pick
/// again:     again=N                                             and the next N sendings of each data segment acted on (its retransmissions)
/// time:      time=2s..5s | time=1.5s.. | time=..500ms             since the device started
/// latch:     after=FIN | after=to-kernel:FIN                     after the first such packet (by default in the rule's direction)
/// port:      port=5000                                           either end of the segment
/// ecn:       ecn=ect | ecn=ce | ecn=not-ect                      the IP header's ECN field: ECT(0) or ECT(1) | CE | Not-ECT
/// size:      mtu=1200                                            packets longer than this: a path MTU black hole
/// chance:    p=5% | p=0.05
/// </code>
/// Examples: "drop from-kernel flags=FIN nth=1" (the first FIN from the kernel), "drop to-kernel after=FIN" (every
/// segment to the kernel after our FIN), "drop to-kernel flags==ACK empty state=TIME-WAIT" (the final ACK),
/// "drop from-kernel reopens nth=1" (the kernel's first window update after a zero window), "drop p=5%" (5 % random
/// loss both ways), "mark to-kernel data nth=20..22" (CE on UserTcp's 20th to 22nd data segments, as a router does),
/// "drop to-kernel data nth=3 again=1" (UserTcp's third data segment and its first retransmission).
/// </summary>
public sealed partial class FaultRule
{
    private const string Selectors = "to-kernel, from-kernel, flags=, flags==, data, empty, window=0, reopens, state=, nth=, count=, again=, time=, after=, port=, ecn=, mtu=, p=";
    private const string Actions = "drop, delay=DURATION, duplicate, reorder, corrupt, mark, refuse";

    /// <summary>Parses one rule.</summary>
    /// <exception cref="FaultRuleException">The text is not a rule; the message names the bad word and says what would do.</exception>
    public static FaultRule Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] words = text.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw new FaultRuleException("", $"a rule is empty: start it with an action ({Actions})");

        (FaultAction action, TimeSpan? delay) = ParseAction(words[0]);
        PacketDirection? direction = null;
        TcpFlags? flags = null;
        bool exact = false;
        PayloadFilter payload = PayloadFilter.Any;
        WindowFilter window = WindowFilter.Any;
        HashSet<TcpState>? states = null;
        (long First, long? Last)? nth = null;
        (TimeSpan? From, TimeSpan? Until)? timeWindow = null;
        TcpFlags? after = null;
        PacketDirection? afterDirection = null;
        ushort? port = null;
        EcnFilter ecn = EcnFilter.Any;
        double? probability = null;
        int again = 0;
        int? mtu = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);

        foreach (string word in words.Skip(1))
        {
            string lower = word.ToLowerInvariant();
            int equals = lower.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? lower : lower[..equals];
            string value = equals < 0 ? "" : word[(equals + 1)..];
            string kind = key switch
            {
                "to-kernel" or "out" or "from-kernel" or "in" => "direction",
                "data" or "empty" => "payload",
                "reopens" => "window",
                "count" => "nth",
                _ => key,
            };
            bool valueless = kind is "direction" or "payload" || key == "reopens";
            if (equals < 0 && !valueless)
            {
                throw Unknown(word, key is "flags" or "state" or "nth" or "count" or "again" or "mtu" or "time" or "after" or "port" or "ecn" or "p" or "window" ? $"'{key}' needs a value, as {key}=..." : null);
            }
            if (equals >= 0 && valueless) throw new FaultRuleException(word, $"'{word}': {key} takes no value");
            if (!seen.Add(kind)) throw new FaultRuleException(word, $"'{word}' repeats the {kind} already given: one {kind} per rule");
            switch (key)
            {
                case "to-kernel" or "out": direction = PacketDirection.Outbound; break;
                case "from-kernel" or "in": direction = PacketDirection.Inbound; break;
                case "data": payload = PayloadFilter.Data; break;
                case "empty": payload = PayloadFilter.Empty; break;
                case "reopens": window = WindowFilter.Reopens; break;
                case "window":
                    window = value == "0"
                        ? WindowFilter.Zero
                        : throw new FaultRuleException(word, $"'{word}' is not a window selector: write window=0 (advertises a zero window) or reopens (the window update after one)");
                    break;
                case "flags":
                    exact = value.StartsWith('=');
                    flags = ParseFlags(word, exact ? value[1..] : value);
                    break;
                case "after":
                    int colon = value.IndexOf(':', StringComparison.Ordinal);
                    if (colon >= 0)
                    {
                        afterDirection = value[..colon].ToLowerInvariant() switch
                        {
                            "to-kernel" or "out" => PacketDirection.Outbound,
                            "from-kernel" or "in" => PacketDirection.Inbound,
                            _ => throw new FaultRuleException(word, $"'{value[..colon]}' in '{word}' is not a direction: write after=to-kernel:FIN or after=from-kernel:FIN"),
                        };
                    }
                    after = ParseFlags(word, value[(colon + 1)..]);
                    break;
                case "port":
                    port = ushort.TryParse(value, System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out ushort p) && p > 0
                        ? p
                        : throw new FaultRuleException(word, $"'{value}' in '{word}' is not a port: use 1 to 65535");
                    break;
                case "ecn":
                    ecn = value.ToLowerInvariant() switch
                    {
                        "ect" => EcnFilter.Ect,
                        "ce" => EcnFilter.Ce,
                        "not-ect" => EcnFilter.NotEct,
                        _ => throw new FaultRuleException(word, $"'{value}' in '{word}' is not an ECN kind: write ecn=ect (ECT(0) or ECT(1)), ecn=ce or ecn=not-ect"),
                    };
                    break;
                case "state": states = ParseStates(word, value); break;
                case "nth": nth = ParseRange(word, value); break;
                case "count":
                    long count = ParseCount(word, value);
                    nth = (1, count);
                    break;
                case "again":
                    long times = ParseCount(word, value);
                    again = times <= MaxAgain ? (int)times : throw new FaultRuleException(word, $"'{word}' is more resendings than any stack makes: use again=1 to again={MaxAgain}");
                    break;
                case "mtu":
                    mtu = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int bytes) && bytes is >= MinMtu and <= MaxMtu
                        ? bytes
                        : throw new FaultRuleException(word, $"'{value}' in '{word}' is not an MTU: use {MinMtu} to {MaxMtu} bytes (packets longer than it are picked)");
                    break;
                case "time": timeWindow = ParseWindow(word, value); break;
                case "p": probability = ParseProbability(word, value); break;
                default: throw Unknown(word, null);
            }
        }
        if (action == FaultAction.Refused)
        {
            // A local queue stands in front of the link on UserTcp's side only: it refuses what UserTcp sends.
            if (direction == PacketDirection.Inbound)
            {
                throw new FaultRuleException(words[0], "'refuse' is UserTcp's own device refusing what UserTcp sends: use to-kernel, or no direction");
            }
            direction = PacketDirection.Outbound;
        }

        return new FaultRule(action)
        {
            Delay = delay ?? TimeSpan.FromMilliseconds(100),
            Direction = direction,
            Flags = flags ?? TcpFlags.None,
            ExactFlags = exact,
            Payload = payload,
            Window = window,
            States = states,
            NthFirst = nth?.First ?? 1,
            NthLast = nth?.Last,
            From = timeWindow?.From,
            Until = timeWindow?.Until,
            After = after,
            AfterDirection = afterDirection,
            Port = port,
            Ecn = ecn,
            Probability = probability ?? 1,
            Again = again,
            Mtu = mtu,
        };
    }

    // More resendings than any stack makes before it gives up (Linux's tcp_retries2 is at most 255).
    private const long MaxAgain = 1000;

    /// <summary>The rule in the rule language, normalized (what <see cref="Parse"/> reads back to the same rule).</summary>
    public string ToText()
    {
        var text = new StringBuilder(Action switch
        {
            FaultAction.Dropped => "drop",
            FaultAction.Delayed => $"delay={Duration(Delay)}",
            FaultAction.Duplicated => "duplicate",
            FaultAction.HeldBack => $"reorder={Duration(Delay)}",
            FaultAction.Corrupted => "corrupt",
            FaultAction.Marked => "mark",
            FaultAction.Refused => "refuse",
            _ => Action.ToString(),
        });
        if (Direction is PacketDirection d) text.Append(d == PacketDirection.Outbound ? " to-kernel" : " from-kernel");
        if (Flags != TcpFlags.None || ExactFlags) text.Append(ExactFlags ? " flags==" : " flags=").Append(Name(Flags));
        if (Payload != PayloadFilter.Any) text.Append(Payload == PayloadFilter.Data ? " data" : " empty");
        if (Window != WindowFilter.Any) text.Append(Window == WindowFilter.Zero ? " window=0" : " reopens");
        if (States is not null) text.Append(" state=").AppendJoin(',', States.Order().Select(s => s.ToRfcName()));
        if (After is TcpFlags a)
        {
            text.Append(" after=");
            if (AfterDirection is PacketDirection ad) text.Append(ad == PacketDirection.Outbound ? "to-kernel:" : "from-kernel:");
            text.Append(Name(a));
        }
        if (Port is ushort onPort) text.Append(CultureInfo.InvariantCulture, $" port={onPort}");
        if (Mtu is int overMtu) text.Append(CultureInfo.InvariantCulture, $" mtu={overMtu}");
        if (Ecn != EcnFilter.Any) text.Append(Ecn switch { EcnFilter.Ect => " ecn=ect", EcnFilter.Ce => " ecn=ce", _ => " ecn=not-ect" });
        if (From is not null || Until is not null)
        {
            text.Append(" time=").Append(From is TimeSpan f ? Duration(f) : "").Append("..").Append(Until is TimeSpan u ? Duration(u) : "");
        }
        if (NthFirst != 1 || NthLast is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $" nth={NthFirst}");
            if (NthLast != NthFirst) text.Append("..").Append(NthLast?.ToString(CultureInfo.InvariantCulture) ?? "");
        }
        if (Again > 0) text.Append(CultureInfo.InvariantCulture, $" again={Again}");
        if (Predicate is not null) text.Append(" (with a predicate)");
        if (Probability < 1) text.Append(CultureInfo.InvariantCulture, $" p={Probability * 100:0.####}%");
        return text.ToString();
    }

    private static (FaultAction, TimeSpan?) ParseAction(string word)
    {
        string lower = word.ToLowerInvariant();
        int equals = lower.IndexOf('=', StringComparison.Ordinal);
        string name = equals < 0 ? lower : lower[..equals];
        string? value = equals < 0 ? null : word[(equals + 1)..];
        return name switch
        {
            "drop" or "duplicate" or "corrupt" or "mark" or "refuse" when value is not null =>
                throw new FaultRuleException(word, $"'{word}': {name} takes no value"),
            "drop" => (FaultAction.Dropped, null),
            "duplicate" => (FaultAction.Duplicated, null),
            "corrupt" => (FaultAction.Corrupted, null),
            "mark" => (FaultAction.Marked, null),
            "refuse" => (FaultAction.Refused, null),
            "delay" when value is null => throw new FaultRuleException(word, "'delay' needs a duration, as delay=200ms"),
            "delay" => (FaultAction.Delayed, ParseDuration(word, value)),
            "reorder" => (FaultAction.HeldBack, value is null ? null : ParseDuration(word, value)),
            _ => throw new FaultRuleException(word, $"'{word}' is not an action: a rule starts with one of {Actions}"),
        };
    }

    private static TcpFlags ParseFlags(string word, string value)
    {
        if (value.Length == 0) throw new FaultRuleException(word, $"'{word}' names no flags: use e.g. FIN, SYN+ACK");
        TcpFlags flags = TcpFlags.None;
        foreach (string name in value.Split('+'))
        {
            (TcpFlags Flag, string Name) match = FlagNames.FirstOrDefault(pair => string.Equals(pair.Name, name, StringComparison.OrdinalIgnoreCase));
            if (match.Name is null)
            {
                throw new FaultRuleException(word, $"'{name}' in '{word}' is not a TCP flag: use SYN, FIN, RST, PSH, ACK, URG, ECE, CWR, joined by +");
            }
            flags |= match.Flag;
        }
        return flags;
    }

    private static HashSet<TcpState> ParseStates(string word, string value)
    {
        var states = new HashSet<TcpState>();
        foreach (string name in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string normal = name.Replace('_', '-').ToUpperInvariant();
            TcpState? state = TcpStateExtensions.Rfc9293States.Cast<TcpState?>().FirstOrDefault(s => s!.Value.ToRfcName() == normal);
            if (state is null)
            {
                throw new FaultRuleException(word, $"'{name}' in '{word}' is not a TCP state: use "
                    + string.Join(", ", TcpStateExtensions.Rfc9293States.Select(s => s.ToRfcName())));
            }
            states.Add(state.Value);
        }
        if (states.Count == 0) throw new FaultRuleException(word, $"'{word}' names no state: use e.g. state=FIN-WAIT-1");
        return states;
    }

    private static (long, long?) ParseRange(string word, string value)
    {
        int dots = value.IndexOf("..", StringComparison.Ordinal);
        if (dots < 0)
        {
            long n = ParseCount(word, value);
            return (n, n);
        }
        long first = ParseCount(word, value[..dots]);
        string rest = value[(dots + 2)..];
        if (rest.Length == 0) return (first, null);
        long last = ParseCount(word, rest);
        if (last < first) throw new FaultRuleException(word, $"'{word}' ends before it starts: write nth=FIRST..LAST with FIRST <= LAST");
        return (first, last);
    }

    private static long ParseCount(string word, string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1
            ? n
            : throw new FaultRuleException(word, $"'{text}' in '{word}' is not a count: use a whole number from 1");

    private static (TimeSpan?, TimeSpan?) ParseWindow(string word, string value)
    {
        int dots = value.IndexOf("..", StringComparison.Ordinal);
        if (dots < 0) throw new FaultRuleException(word, $"'{word}' is not a time window: write time=FROM..UNTIL, e.g. time=2s..5s or time=1s..");
        TimeSpan? from = dots == 0 ? null : ParseDuration(word, value[..dots]);
        TimeSpan? until = dots + 2 == value.Length ? null : ParseDuration(word, value[(dots + 2)..]);
        if (from is null && until is null) throw new FaultRuleException(word, $"'{word}' bounds nothing: give FROM, UNTIL or both");
        if (from is TimeSpan f && until is TimeSpan u && u <= f) throw new FaultRuleException(word, $"'{word}' ends before it starts");
        return (from, until);
    }

    private static TimeSpan ParseDuration(string word, string text)
    {
        string lower = text.ToLowerInvariant();
        (string number, double scale) = lower.EndsWith("ms", StringComparison.Ordinal) ? (lower[..^2], 1e-3)
            : lower.EndsWith("us", StringComparison.Ordinal) ? (lower[..^2], 1e-6)
            : lower.EndsWith('s') ? (lower[..^1], 1.0)
            : ("", 0);
        if (scale == 0 || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) || value > 86_400 / scale)
        {
            throw new FaultRuleException(word, $"'{text}' in '{word}' is not a duration: write it with a unit, e.g. 200ms or 1.5s");
        }
        return TimeSpan.FromSeconds(value * scale);
    }

    private static double ParseProbability(string word, string value)
    {
        bool percent = value.EndsWith('%');
        string number = percent ? value[..^1] : value;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double p) || (percent ? p > 100 : p > 1))
        {
            throw new FaultRuleException(word, $"'{value}' in '{word}' is not a probability: write p=5% or p=0.05");
        }
        return percent ? p / 100 : p;
    }

    private static FaultRuleException Unknown(string word, string? detail) =>
        new(word, detail is null ? $"'{word}' is not a selector: use {Selectors}" : $"'{word}': {detail}");

    private static string Duration(TimeSpan time) => time.Ticks % TimeSpan.TicksPerSecond == 0 && time >= TimeSpan.FromSeconds(1)
        ? string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0}s")
        : string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:0.###}ms");
}
