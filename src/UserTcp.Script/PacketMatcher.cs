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
            tcp.Window, tcp.UrgentPointer, DecodeOptions(tcp.RawOptions), tcp.Payload.Length);
    }

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

/// <summary>A captured segment with its numbers made relative the way the script writes them.</summary>
internal sealed record RelativeSegment(TcpFlags Flags, uint Seq, int PayloadLength, uint Ack, ushort Window, ushort UrgentPointer, IReadOnlyList<OptionSpec> Options)
{
    /// <summary>
    /// Outbound seq relative to UserTcp's ISN (<paramref name="localBase"/>); ack and SACK blocks relative to the script
    /// side's ISN (<paramref name="remoteBase"/>) when the ACK bit is set, as packetdrill maps them.
    /// </summary>
    public static RelativeSegment From(CapturedSegment s, uint localBase, uint remoteBase)
    {
        bool ack = (s.Flags & TcpFlags.Ack) != 0;
        var options = s.Options.Select(o => o is SackOption sack
            ? new SackOption(sack.Blocks.Select(b => (unchecked(b.Left - remoteBase), unchecked(b.Right - remoteBase))).ToList())
            : o).ToList();
        return new RelativeSegment(s.Flags, unchecked(s.Seq - localBase), s.PayloadLength, ack ? unchecked(s.Ack - remoteBase) : s.Ack, s.Window, s.UrgentPointer, options);
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
        if (like?.UrgentPointer is not null || (like is null && UrgentPointer != 0)) text.Append(CultureInfo.InvariantCulture, $" urg {UrgentPointer}");
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
/// Compares an expected outbound packet line with what UserTcp sent. Strict by default (every written field, options
/// in order, as packetdrill); <c>--relaxed</c> skips the window and compares options as a set of what UserTcp
/// implements (MSS value, window scale present), so scripts written for Linux run unchanged.
/// </summary>
internal static class PacketMatcher
{
    public static List<string> Differences(PacketSpec expected, RelativeSegment actual, bool relaxed)
    {
        var differences = new List<string>();
        if (expected.Flags != actual.Flags) differences.Add($"flags {ScriptFormat.Flags(actual.Flags)} instead of {ScriptFormat.Flags(expected.Flags)}");
        if (expected.Seq != actual.Seq) differences.Add($"seq {actual.Seq} instead of {expected.Seq}");
        if (expected.PayloadLength != actual.PayloadLength) differences.Add($"{actual.PayloadLength} payload bytes instead of {expected.PayloadLength}");
        if (expected.Ack is uint ack && ack != actual.Ack) differences.Add($"ack {actual.Ack} instead of {ack}");
        if (!relaxed && expected.Window is ushort window && window != actual.Window) differences.Add($"win {actual.Window} instead of {window}");
        if (expected.UrgentPointer is ushort urg && urg != actual.UrgentPointer) differences.Add($"urg {actual.UrgentPointer} instead of {urg}");
        if (expected.Options is { } options && !OptionsMatch(options, actual.Options, relaxed))
        {
            string got = actual.Options.Count == 0 ? "no options" : "<" + string.Join(",", actual.Options) + ">";
            string want = options.Count == 0 ? "none" : "<" + string.Join(",", options) + ">";
            differences.Add(relaxed ? $"options {got} instead of {want} (compared as a set)" : $"options {got} instead of {want}");
        }
        return differences;
    }

    public static bool OptionsMatch(IReadOnlyList<OptionSpec> expected, IReadOnlyList<OptionSpec> actual, bool relaxed)
    {
        if (!relaxed) return expected.SequenceEqual(actual);
        // As a set, padding ignored; options UserTcp never sends (SACK, timestamps) are not required of it; the
        // window scale shift depends on the buffer size, so only its presence counts.
        var want = expected.Where(o => o is MssOption or WindowScaleOption or UnknownOption).ToList();
        var got = actual.Where(o => o is not (NopOption or EolOption)).ToList();
        if (want.Count != got.Count) return false;
        foreach (OptionSpec option in want)
        {
            bool found = option switch
            {
                WindowScaleOption => got.Any(o => o is WindowScaleOption),
                _ => got.Contains(option),
            };
            if (!found) return false;
        }
        return true;
    }
}
