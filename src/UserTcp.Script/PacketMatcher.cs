using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>A segment UserTcp sent, captured with the script time it left at. Numbers are as on the wire.</summary>
internal sealed record CapturedSegment(
    long Time,
    ushort SourcePort,
    ushort DestinationPort,
    TcpFlags Flags,
    uint Seq,
    uint Ack,
    ushort Window,
    ushort UrgentPointer,
    IReadOnlyList<OptionSpec> Options,
    int PayloadLength)
{
    /// <summary>Whether every payload byte is zero (packetdrill's scripts write zeros, and it compares the payload).</summary>
    public bool ZeroPayload { get; init; } = true;

    /// <summary>The IP header's length in bytes (20 without IP options) and the TCP header's four reserved bits (AE the last).</summary>
    public (int IpHeaderLength, int ReservedBits) Header { get; init; } = (Ipv4Packet.MinHeaderLength, 0);

    /// <summary>The IP header's TOS byte (its low two bits the ECN field, RFC 3168 §5) and TTL, which a line's [ip fields] check.</summary>
    public (byte Tos, byte Ttl) Ip { get; init; } = (0, 64);

    /// <summary>Parses an IPv4 packet the engine transmitted; null with the reason when it does not parse.</summary>
    public static CapturedSegment? TryParse(ReadOnlySpan<byte> packet, long time, out string? problem)
    {
        problem = null;
        WireError error = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        scoped TcpSegment tcp = default;
        if (error == WireError.None) error = TcpSegment.TryParse(ip, out tcp);
        if (error != WireError.None)
        {
            problem = $"UserTcp sent a packet that does not parse: {error.Describe()}";
            return null;
        }
        return new CapturedSegment(time, tcp.SourcePort, tcp.DestinationPort, tcp.Flags, tcp.SequenceNumber.Value, tcp.AcknowledgmentNumber.Value,
            tcp.Window, tcp.UrgentPointer, DecodeOptions(tcp.RawOptions), tcp.Payload.Length)
        {
            ZeroPayload = tcp.Payload.IndexOfAnyExcept((byte)0) < 0,
            Header = (ip.HeaderLength, tcp.Reserved),
            Ip = (ip.TypeOfService, ip.TimeToLive),
        };
    }

    /// <summary>How a sent packet's IP fields differ from a line's annotation (packetdrill's [ect0], [noecn], [ect01], [tos 0xN], [ttl N]).</summary>
    public static IEnumerable<string> IpDifferences(IpAnnotation expected, (byte Tos, byte Ttl) actual)
    {
        var ecn = (EcnCodepoint)(actual.Tos & 0x3);
        if (expected.EitherEct && ecn is not (EcnCodepoint.Ect0 or EcnCodepoint.Ect1)) yield return $"ECN field {Spell(ecn)}, not ECT(0) or ECT(1)";
        if (expected.Ecn is EcnCodepoint want && want != ecn) yield return $"ECN field {Spell(ecn)}, not {Spell(want)}";
        if (expected.Tos is byte tos && tos != actual.Tos) yield return string.Create(CultureInfo.InvariantCulture, $"TOS 0x{actual.Tos:x}, not 0x{tos:x}");
        if (expected.Ttl is byte ttl && ttl != actual.Ttl) yield return string.Create(CultureInfo.InvariantCulture, $"TTL {actual.Ttl}, not {ttl}");
    }

    private static string Spell(EcnCodepoint ecn) => ecn switch { EcnCodepoint.NotEct => "noecn", EcnCodepoint.Ect0 => "ect0", EcnCodepoint.Ect1 => "ect1", _ => "ce" };

    /// <summary>The options in wire order, in script spelling.</summary>
    public static List<OptionSpec> DecodeOptions(ReadOnlySpan<byte> raw)
    {
        var options = new List<OptionSpec>();
        var reader = new TcpOptionReader(raw);
        while (reader.MoveNext())
        {
            ReadOnlySpan<byte> data = reader.Current.Data;
            options.Add(reader.Current.Kind switch
            {
                TcpOptionKind.EndOfList => new EolOption(),
                TcpOptionKind.NoOperation => new NopOption(),
                TcpOptionKind.MaxSegmentSize => new MssOption(BinaryPrimitives.ReadUInt16BigEndian(data)),
                TcpOptionKind.WindowScale => new WindowScaleOption(data[0]),
                TcpOptionKind.SackPermitted => new SackPermittedOption(),
                TcpOptionKind.Timestamps => new TimestampOption(BinaryPrimitives.ReadUInt32BigEndian(data), BinaryPrimitives.ReadUInt32BigEndian(data[4..])),
                TcpOptionKind.Sack => new SackOption(Blocks(data)),
                _ => OtherOptions.FromWire((byte)reader.Current.Kind, data),
            });
        }
        return options;
    }

    private static List<(uint, uint)> Blocks(ReadOnlySpan<byte> data)
    {
        var blocks = new List<(uint, uint)>();
        for (int i = 0; i + 8 <= data.Length; i += 8)
        {
            blocks.Add((BinaryPrimitives.ReadUInt32BigEndian(data[i..]), BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..])));
        }
        return blocks;
    }
}

/// <summary>
/// A captured segment with its numbers made relative the way the script writes them; a TSval is in script terms too
/// (<see cref="TimestampMapping"/>), with the live value kept in <see cref="LiveTimestamp"/>.
/// </summary>
internal sealed record RelativeSegment(TcpFlags Flags, uint Seq, int PayloadLength, uint Ack, ushort Window, ushort UrgentPointer, IReadOnlyList<OptionSpec> Options)
{
    /// <summary>The TSval as sent, before mapping to script terms; null without a timestamp option.</summary>
    public uint? LiveTimestamp { get; init; }

    /// <summary>Whether every payload byte is zero.</summary>
    public bool ZeroPayload { get; init; } = true;

    /// <summary>The IP header's length and the TCP reserved bits, as captured.</summary>
    public (int IpHeaderLength, int ReservedBits) Header { get; init; } = (Ipv4Packet.MinHeaderLength, 0);

    /// <summary>
    /// Outbound seq relative to UserTcp's ISN (<paramref name="localBase"/>); ack and SACK blocks relative to the script
    /// side's ISN (<paramref name="remoteBase"/>) when the ACK bit is set, as packetdrill maps them.
    /// </summary>
    public static RelativeSegment From(CapturedSegment s, uint localBase, uint remoteBase, TimestampMapping? timestamps = null)
    {
        bool ack = (s.Flags & TcpFlags.Ack) != 0;
        var options = s.Options.Select(o => o switch
        {
            SackOption sack => new SackOption(sack.Blocks.Select(b => (unchecked(b.Left - remoteBase), unchecked(b.Right - remoteBase))).ToList()),
            TimestampOption ts when timestamps is not null => ts with { Value = timestamps.ToScript(ts.Value) },
            _ => o,
        }).ToList();
        return new RelativeSegment(s.Flags, unchecked(s.Seq - localBase), s.PayloadLength, ack ? unchecked(s.Ack - remoteBase) : s.Ack, s.Window, s.UrgentPointer, options)
        {
            LiveTimestamp = s.Options.OfType<TimestampOption>().FirstOrDefault()?.Value,
            ZeroPayload = s.ZeroPayload,
            Header = s.Header,
        };
    }

    /// <summary>
    /// Script spelling. With <paramref name="like"/>, shows the fields that expectation states (plus ack when the ACK bit
    /// is set and options when there are any), so expected and actual read side by side; without it, every field.
    /// </summary>
    public string Format(PacketSpec? like = null)
    {
        var text = new StringBuilder("> ");
        text.Append(ScriptFormat.Flags(Flags));
        text.Append(CultureInfo.InvariantCulture, $" {Seq}:{unchecked(Seq + (uint)PayloadLength)}({PayloadLength})");
        if ((Flags & TcpFlags.Ack) != 0 || like?.Ack is not null) text.Append(CultureInfo.InvariantCulture, $" ack {Ack}");
        if (like is null || like.Window is not null) text.Append(CultureInfo.InvariantCulture, $" win {Window}");
        if (like?.UrgentPointer is not null || UrgentPointer != 0) text.Append(CultureInfo.InvariantCulture, $" urg {UrgentPointer}");
        if (like is { AnyOptions: true })
        {
            if (Options.Count > 0) text.Append(" <...>");
        }
        else if (Options.Count > 0)
        {
            text.Append(" <").Append(string.Join(",", Options)).Append('>');
        }
        return text.ToString();
    }
}

/// <summary>
/// packetdrill's TCP timestamp bookkeeping for one script: an outbound TSval cannot be predicted, so the first one
/// UserTcp sends anchors script values to live ones (first_script_ts_val ↔ first_actual_ts_val in packetdrill's
/// run_packet.c). Each matched outbound line records script val → live val, so an inbound TSecr written as a value
/// from an earlier outbound line is sent as the live value; with --tcp_ts_ecr_scaled, others are shifted by the anchor.
/// </summary>
internal sealed class TimestampMapping
{
    private readonly Dictionary<uint, uint> _scriptToLive = [];
    private uint _firstScript;
    private uint _firstLive;

    /// <summary>--tcp_ts_tick_usecs: when set, outbound TSvals are checked against the script at this tick, within tolerance.</summary>
    public long TickMicros { get; set; }
    public bool Anchored { get; private set; }

    /// <summary>An outbound line with <c>TS val</c> <paramref name="scriptValue"/> matched a segment with <paramref name="liveValue"/>.</summary>
    public void Learn(uint scriptValue, uint liveValue)
    {
        _scriptToLive[scriptValue] = liveValue;
        if (Anchored) return;
        Anchored = true;
        _firstScript = scriptValue;
        _firstLive = liveValue;
    }

    /// <summary>A live TSval in script terms (what the script would have written).</summary>
    public uint ToScript(uint liveValue) => Anchored ? unchecked(_firstScript + (liveValue - _firstLive)) : liveValue;

    /// <summary>--tcp_ts_ecr_scaled: an inbound TSecr that names no outbound TSval is shifted by the anchor.</summary>
    public bool EcrScaled { get; set; }

    /// <summary>
    /// The live TSecr to send for a script's inbound <c>ecr</c>: the live TSval of the outbound line that carried it,
    /// or with --tcp_ts_ecr_scaled one shifted by the anchor; null otherwise (packetdrill then fails the script).
    /// </summary>
    public uint? ToLiveEcr(uint scriptEcr) =>
        _scriptToLive.TryGetValue(scriptEcr, out uint live) ? live
        : EcrScaled && Anchored ? unchecked(scriptEcr - _firstScript + _firstLive)
        : null;

    /// <summary>
    /// Whether a TSval (already in script terms) is close enough to the script's: only checked with
    /// --tcp_ts_tick_usecs and once anchored, as packetdrill's verify_outbound_tcp_option.
    /// </summary>
    public bool ValueMatches(uint scriptValue, uint mappedValue, long toleranceMicros) =>
        TickMicros == 0 || !Anchored || Math.Abs((long)unchecked((int)(mappedValue - scriptValue))) * TickMicros <= toleranceMicros;
}

/// <summary>
/// Compares an expected outbound packet line with what UserTcp sent. Strict by default (every written field, options
/// in order, as packetdrill): a TSval is compared only with --tcp_ts_tick_usecs, as packetdrill does (it cannot be
/// predicted), a TSecr always (it echoes the script's own values). <c>--relaxed</c> skips the window and compares
/// options as a set (NOPs and order aside, window scale by presence, timestamps by presence), so scripts written for
/// Linux's tuning run unchanged.
/// </summary>
internal static class PacketMatcher
{
    /// <summary>
    /// What differs between the line and the segment. <paramref name="zeroPayload"/>: the data written so far was zeros
    /// (packetdrill writes nothing else), so a payload must be zeros too, as packetdrill's verify_outbound_live_payload
    /// compares it with the script packet's zero payload.
    /// </summary>
    public static List<string> Differences(PacketSpec expected, RelativeSegment actual, bool relaxed, TimestampMapping? timestamps = null, long toleranceMicros = 0,
        bool zeroPayload = true)
    {
        var differences = new List<string>();
        if (expected.Flags != actual.Flags) differences.Add($"flags {ScriptFormat.Flags(actual.Flags)} instead of {ScriptFormat.Flags(expected.Flags)}");
        // A script packet has no IP options and no reserved bits; packetdrill's verify_ipv4 and verify_tcp compare both.
        if (actual.Header.ReservedBits != 0) differences.Add($"reserved TCP header bits 0x{actual.Header.ReservedBits:x} set");
        if (actual.Header.IpHeaderLength != Ipv4Packet.MinHeaderLength) differences.Add($"an IP header of {actual.Header.IpHeaderLength} bytes (IP options) instead of {Ipv4Packet.MinHeaderLength}");
        if (expected.Seq != actual.Seq) differences.Add($"seq {actual.Seq} instead of {expected.Seq}");
        if (expected.PayloadLength != actual.PayloadLength) differences.Add($"{actual.PayloadLength} payload bytes instead of {expected.PayloadLength}");
        else if (zeroPayload && !actual.ZeroPayload) differences.Add("payload bytes that are not the zeros the script wrote");
        // Not written means 0, compared all the same (packetdrill's verify_tcp checks tcp_ack_seq always; only win may go unchecked).
        uint ack = expected.Ack ?? 0;
        if (ack != actual.Ack) differences.Add($"ack {actual.Ack} instead of {ack}");
        if (!relaxed && expected.Window is ushort window && window != actual.Window) differences.Add($"win {actual.Window} instead of {window}");
        // Not written means 0, and it is compared all the same (packetdrill's opt_urg_ptr; verify_tcp checks tcp_urg_ptr always).
        ushort urg = expected.UrgentPointer ?? 0;
        if (urg != actual.UrgentPointer) differences.Add($"urg {actual.UrgentPointer} instead of {urg}");
        if (expected.Options is { } options && !OptionsMatch(options, actual.Options, relaxed, timestamps, toleranceMicros))
        {
            string got = actual.Options.Count == 0 ? "no options" : "<" + string.Join(",", actual.Options) + ">";
            string want = options.Count == 0 ? "none" : "<" + string.Join(",", options) + ">";
            differences.Add(relaxed ? $"options {got} instead of {want} (compared as a set)" : $"options {got} instead of {want}");
        }
        return differences;
    }

    public static bool OptionsMatch(IReadOnlyList<OptionSpec> expected, IReadOnlyList<OptionSpec> actual, bool relaxed, TimestampMapping? timestamps = null, long toleranceMicros = 0)
    {
        if (!relaxed)
        {
            if (expected.Count != actual.Count) return false;
            for (int i = 0; i < expected.Count; i++)
            {
                bool same = (expected[i], actual[i]) switch
                {
                    (TimestampOption want, TimestampOption sent) => want.EchoReply == sent.EchoReply
                        && (timestamps?.ValueMatches(want.Value, sent.Value, toleranceMicros) ?? true),
                    var (want, sent) => want.Equals(sent),
                };
                if (!same) return false;
            }
            return true;
        }
        // As a set, padding ignored; the window scale shift depends on the buffer size and timestamps on the clock, so
        // only their presence counts.
        var wanted = expected.Where(o => o is not (NopOption or EolOption)).ToList();
        var got = actual.Where(o => o is not (NopOption or EolOption)).ToList();
        if (wanted.Count != got.Count) return false;
        foreach (OptionSpec option in wanted)
        {
            bool found = option switch
            {
                WindowScaleOption => got.Any(o => o is WindowScaleOption),
                TimestampOption => got.Any(o => o is TimestampOption),
                _ => got.Contains(option),
            };
            if (!found) return false;
        }
        return true;
    }

    /// <summary>After an outbound line matched: its TSval anchors or extends the script-to-live mapping.</summary>
    public static void Learn(PacketSpec expected, RelativeSegment actual, TimestampMapping timestamps)
    {
        if (expected.Options?.OfType<TimestampOption>().FirstOrDefault() is { } script && actual.LiveTimestamp is uint live)
        {
            timestamps.Learn(script.Value, live);
        }
    }
}
