using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>How a line states its time (packetdrill's event_time_t).</summary>
public enum TimeKind : byte
{
    /// <summary><c>0.100</c>: seconds since the script started.</summary>
    Absolute,
    /// <summary><c>+0.100</c>: seconds after the previous line happened.</summary>
    Relative,
    /// <summary><c>*</c>: any time (outbound packets only).</summary>
    Any,
    /// <summary><c>0.1~0.3</c>: any time in the range (outbound packets only).</summary>
    AbsoluteRange,
    /// <summary><c>+0.1~+0.3</c>: a range after the previous line (outbound packets only).</summary>
    RelativeRange,
}

/// <summary>A line's time in microseconds, as written (relative times are resolved while the script runs).</summary>
public readonly record struct EventTime(TimeKind Kind, long Start, long End = 0)
{
    public bool IsRelative => Kind is TimeKind.Relative or TimeKind.RelativeRange;

    public override string ToString() => Kind switch
    {
        TimeKind.Absolute => Seconds(Start),
        TimeKind.Relative => "+" + Seconds(Start),
        TimeKind.Any => "*",
        TimeKind.AbsoluteRange => $"{Seconds(Start)}~{Seconds(End)}",
        _ => $"+{Seconds(Start)}~+{Seconds(End)}",
    };

    /// <summary>Seconds with millisecond precision, or microsecond precision when it is needed.</summary>
    public static string Seconds(long micros) =>
        (micros % 1000 == 0 ? (micros / 1e6).ToString("0.000", CultureInfo.InvariantCulture) : (micros / 1e6).ToString("0.000000", CultureInfo.InvariantCulture));
}

/// <summary>Which way a scripted packet travels, seen from UserTcp.</summary>
public enum PacketDirection : byte
{
    /// <summary><c>&lt;</c>: the script sends it to UserTcp.</summary>
    Inbound,
    /// <summary><c>&gt;</c>: UserTcp must send it.</summary>
    Outbound,
}

/// <summary>
/// A TCP packet line: <c>&lt; S. 0:0(0) ack 1 win 65535 &lt;mss 1460&gt;</c>. Sequence numbers are relative (inbound seq to
/// the script side's ISN, outbound seq to UserTcp's; ack the other way round).
/// </summary>
public sealed record PacketSpec(
    PacketDirection Direction,
    TcpFlags Flags,
    uint Seq,
    int PayloadLength,
    uint? Ack,
    ushort? Window,
    ushort? UrgentPointer,
    IReadOnlyList<OptionSpec>? Options)
{
    /// <summary>True for <c>&lt;...&gt;</c>: any options (outbound only).</summary>
    public bool AnyOptions => Options is null;

    /// <summary>IP-level fields the line gives (<c>[ect0]</c>, <c>(tos 0x4)</c>, <c>[ttl 64]</c>), or null.</summary>
    public IpAnnotation? Ip { get; init; }

    public override string ToString()
    {
        var text = new System.Text.StringBuilder();
        text.Append(Direction == PacketDirection.Inbound ? "< " : "> ");
        if (Ip is not null) text.Append(Ip).Append(' ');
        text.Append(ScriptFormat.Flags(Flags));
        text.Append(CultureInfo.InvariantCulture, $" {Seq}:{unchecked(Seq + (uint)PayloadLength)}({PayloadLength})");
        if (Ack is uint ack) text.Append(CultureInfo.InvariantCulture, $" ack {ack}");
        if (Window is ushort window) text.Append(CultureInfo.InvariantCulture, $" win {window}");
        if (UrgentPointer is ushort urg) text.Append(CultureInfo.InvariantCulture, $" urg {urg}");
        if (Options is null) text.Append(" <...>");
        else if (Options.Count > 0) text.Append(" <").Append(string.Join(",", Options)).Append('>');
        return text.ToString();
    }
}

/// <summary>
/// IP-level fields of a packet line (packetdrill's ip_info): the ECN codepoint (<c>[noecn]</c>, <c>[ect0]</c>,
/// <c>[ect1]</c>, <c>[ce]</c>, or <c>[ect01]</c> for either ECT), the whole TOS byte (<c>[tos 0x4]</c>), the TTL, or
/// the IPv6 flow label.
/// </summary>
public sealed record IpAnnotation(EcnCodepoint? Ecn, bool EitherEct, byte? Tos, byte? Ttl, uint? FlowLabel)
{
    public override string ToString()
    {
        var parts = new List<string>();
        if (EitherEct) parts.Add("ect01");
        else if (Ecn is EcnCodepoint ecn) parts.Add(ecn switch { EcnCodepoint.NotEct => "noecn", EcnCodepoint.Ect0 => "ect0", EcnCodepoint.Ect1 => "ect1", _ => "ce" });
        if (Tos is byte tos) parts.Add(string.Create(CultureInfo.InvariantCulture, $"tos 0x{tos:x}"));
        if (Ttl is byte ttl) parts.Add(string.Create(CultureInfo.InvariantCulture, $"ttl {ttl}"));
        if (FlowLabel is uint label) parts.Add(string.Create(CultureInfo.InvariantCulture, $"flowlabel 0x{label:x}"));
        return "[" + string.Join(",", parts) + "]";
    }
}

/// <summary>One option in a packet line, in the script's spelling.</summary>
public abstract record OptionSpec
{
    /// <summary>The option's bytes on the wire.</summary>
    public abstract byte[] Encode();
}

public sealed record NopOption : OptionSpec
{
    public override byte[] Encode() => [1];
    public override string ToString() => "nop";
}

public sealed record EolOption : OptionSpec
{
    public override byte[] Encode() => [0];
    public override string ToString() => "eol";
}

public sealed record MssOption(ushort Value) : OptionSpec
{
    public override byte[] Encode() => [2, 4, (byte)(Value >> 8), (byte)Value];
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"mss {Value}");
}

public sealed record WindowScaleOption(byte Shift) : OptionSpec
{
    public override byte[] Encode() => [3, 3, Shift];
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"wscale {Shift}");
}

public sealed record SackPermittedOption : OptionSpec
{
    public override byte[] Encode() => [4, 2];
    public override string ToString() => "sackOK";
}

public sealed record TimestampOption(uint Value, uint EchoReply) : OptionSpec
{
    public override byte[] Encode()
    {
        byte[] bytes = new byte[10];
        bytes[0] = 8;
        bytes[1] = 10;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2), Value);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(6), EchoReply);
        return bytes;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"TS val {Value} ecr {EchoReply}");
}

/// <summary>SACK blocks, relative like ack numbers.</summary>
public sealed record SackOption(IReadOnlyList<(uint Left, uint Right)> Blocks) : OptionSpec
{
    public override byte[] Encode()
    {
        byte[] bytes = new byte[2 + 8 * Blocks.Count];
        bytes[0] = 5;
        bytes[1] = (byte)bytes.Length;
        for (int i = 0; i < Blocks.Count; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2 + 8 * i), Blocks[i].Left);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(6 + 8 * i), Blocks[i].Right);
        }
        return bytes;
    }

    public bool Equals(SackOption? other) => other is not null && Blocks.SequenceEqual(other.Blocks);
    public override int GetHashCode() => Blocks.Count;
    public override string ToString() => "sack " + string.Join(" ", Blocks.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Left}:{b.Right}")));
}

/// <summary>
/// TCP Fast Open (RFC 7413 §4.1.1): <c>FO</c> (kind 34) or <c>FOEXP</c> (the experimental kind 254 with magic 0xF989),
/// with an optional cookie written in hex. UserTcp has no Fast Open; the option is read and written faithfully.
/// </summary>
public sealed record FastOpenOption(byte[] Cookie, bool Experimental) : OptionSpec
{
    public const byte Kind = 34;
    public const byte ExperimentalKind = 254;
    public const ushort Magic = 0xF989;

    public override byte[] Encode() => Experimental
        ? [ExperimentalKind, (byte)(Cookie.Length + 4), Magic >> 8, Magic & 0xFF, .. Cookie]
        : [Kind, (byte)(Cookie.Length + 2), .. Cookie];

    public bool Equals(FastOpenOption? other) => other is not null && Experimental == other.Experimental && Cookie.AsSpan().SequenceEqual(other.Cookie);
    public override int GetHashCode() => HashCode.Combine(Experimental, Cookie.Length);
    public override string ToString() => (Experimental ? "FOEXP" : "FO") + (Cookie.Length > 0 ? " " + Convert.ToHexStringLower(Cookie) : "");
}

/// <summary>TCP MD5 signature (RFC 2385, kind 19): <c>md5 000102...0f</c>, the digest in hex (at most 16 bytes).</summary>
public sealed record Md5Option(byte[] Digest) : OptionSpec
{
    public const byte Kind = 19;
    public const int DigestLength = 16;

    public override byte[] Encode() => [Kind, (byte)(Digest.Length + 2), .. Digest];

    public bool Equals(Md5Option? other) => other is not null && Digest.AsSpan().SequenceEqual(other.Digest);
    public override int GetHashCode() => Digest.Length;
    public override string ToString() => "md5 " + Convert.ToHexStringLower(Digest);
}

/// <summary>Options the Wire layer does not decode, read into their script spelling.</summary>
internal static class OtherOptions
{
    /// <summary>Fast Open (34, or 254 with its magic) and MD5 (19) as typed options; any other kind as <see cref="UnknownOption"/>.</summary>
    public static OptionSpec FromWire(byte kind, ReadOnlySpan<byte> data) => kind switch
    {
        FastOpenOption.Kind => new FastOpenOption(data.ToArray(), Experimental: false),
        FastOpenOption.ExperimentalKind when data.Length >= 2 && System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(data) == FastOpenOption.Magic
            => new FastOpenOption(data[2..].ToArray(), Experimental: true),
        Md5Option.Kind => new Md5Option(data.ToArray()),
        _ => new UnknownOption(kind, data.ToArray()),
    };
}

/// <summary>An option kind the script language names only by number when it sees one on the wire.</summary>
public sealed record UnknownOption(byte Kind, byte[] Data) : OptionSpec
{
    public override byte[] Encode() => [Kind, (byte)(Data.Length + 2), .. Data];
    public bool Equals(UnknownOption? other) => other is not null && Kind == other.Kind && Data.AsSpan().SequenceEqual(other.Data);
    public override int GetHashCode() => Kind;
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"option {Kind} ({Data.Length} bytes)");
}

/// <summary>One argument or result of a system call line.</summary>
public abstract record ScriptExpression;

/// <summary><c>...</c>: any value (or: the runner supplies it).</summary>
public sealed record EllipsisExpression : ScriptExpression
{
    public override string ToString() => "...";
}

public sealed record IntegerExpression(long Value, string Text) : ScriptExpression
{
    public override string ToString() => Text;
}

/// <summary>A symbol such as <c>SOL_SOCKET</c> or <c>SHUT_WR</c>.</summary>
public sealed record WordExpression(string Name) : ScriptExpression
{
    public override string ToString() => Name;
}

public sealed record StringExpression(string Value) : ScriptExpression
{
    public override string ToString() => $"\"{Value}\"";
}

/// <summary><c>a|b</c>.</summary>
public sealed record OrExpression(ScriptExpression Left, ScriptExpression Right) : ScriptExpression
{
    public override string ToString() => $"{Left}|{Right}";
}

/// <summary>
/// <c>[1]</c> (an int by reference, or an array) or <c>{...}</c> (a struct); fields are <see cref="AssignExpression"/>s.
/// <see cref="Struct"/> is the typed struct a brace list was recognised as (<see cref="StructRecognizer"/>).
/// </summary>
public sealed record ListExpression(IReadOnlyList<ScriptExpression> Items, bool Braces) : ScriptExpression
{
    public StructValue? Struct { get; init; }

    public bool Equals(ListExpression? other) => other is not null && Braces == other.Braces && Items.SequenceEqual(other.Items) && Struct == other.Struct;
    public override int GetHashCode() => Items.Count;
    public override string ToString() => (Braces ? "{" : "[") + string.Join(", ", Items) + (Braces ? "}" : "]");
}

/// <summary><c>name=value</c> inside a struct; <c>msg_iov(1)=[...]</c> carries its <see cref="Argument"/>.</summary>
public sealed record AssignExpression(string Name, ScriptExpression Value) : ScriptExpression
{
    public ScriptExpression? Argument { get; init; }

    public override string ToString() => Argument is null ? $"{Name}={Value}" : $"{Name}({Argument})={Value}";
}

/// <summary><c>htons(8080)</c>, <c>inet_addr("192.0.2.1")</c>.</summary>
public sealed record CallExpression(string Name, IReadOnlyList<ScriptExpression> Arguments) : ScriptExpression
{
    public bool Equals(CallExpression? other) => other is not null && Name == other.Name && Arguments.SequenceEqual(other.Arguments);
    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => $"{Name}({string.Join(", ", Arguments)})";
}

/// <summary>
/// A system call line: <c>0.1...0.3 read(4, ..., 1000) = -1 ECONNRESET (Connection reset by peer)</c>.
/// <see cref="EndTime"/> is set for a call that blocks (<c>start...end</c>): later lines run while it waits.
/// </summary>
public sealed record SyscallSpec(string Name, IReadOnlyList<ScriptExpression> Arguments, ScriptExpression Result, string? Errno, long? EndTime)
{
    public string Call => $"{Name}({string.Join(", ", Arguments)})";

    public override string ToString() => $"{(EndTime is long end ? "..." + EventTime.Seconds(end) + " " : "")}{Call} = {Result}{(Errno is null ? "" : " " + Errno)}";
}

/// <summary>Base of everything that happens at a time in a script.</summary>
public abstract record ScriptEvent(int Line, EventTime Time);

public sealed record PacketEvent(int Line, EventTime Time, PacketSpec Packet) : ScriptEvent(Line, Time)
{
    public override string ToString() => $"{Time} {Packet}";
}

public sealed record SyscallEvent(int Line, EventTime Time, SyscallSpec Call) : ScriptEvent(Line, Time)
{
    public override string ToString() => $"{Time} {Call}";
}

/// <summary>A back-quoted shell command: UserTcp has no shell to run it in, so it is skipped with a notice.</summary>
public sealed record CommandEvent(int Line, EventTime? CommandTime, string Command) : ScriptEvent(Line, CommandTime ?? new EventTime(TimeKind.Relative, 0))
{
    public override string ToString() => $"`{Command}`";
}

/// <summary>
/// A <c>%{ ... }%</c> block: assertions about the connection under test (with the assignments and prints around
/// them), run at its time.
/// </summary>
public sealed record AssertEvent(int Line, EventTime Time, IReadOnlyList<CodeStatement> Statements) : ScriptEvent(Line, Time)
{
    /// <summary>The assert statements of the block.</summary>
    public IEnumerable<Assertion> Assertions => Statements.OfType<Assertion>();

    public bool Equals(AssertEvent? other) => other is not null && Line == other.Line && Time == other.Time && Statements.SequenceEqual(other.Statements);
    public override int GetHashCode() => HashCode.Combine(Line, Time);
    public override string ToString() => $"{Time} %{{ {string.Join("; ", Statements)} }}%";
}

/// <summary>An option line such as <c>--tolerance_usecs=10000</c>.</summary>
public sealed record ScriptOption(int Line, string Name, string? Value)
{
    public override string ToString() => Value is null ? $"--{Name}" : $"--{Name}={Value}";
}

/// <summary>A parsed script: its options and its events in order.</summary>
public sealed record PacketScript(string Name, IReadOnlyList<ScriptOption> Options, IReadOnlyList<ScriptEvent> Events);

/// <summary>Spelling shared by the parser, the matcher and the messages.</summary>
public static class ScriptFormat
{
    /// <summary>Flags as a script writes them: <c>S.</c>, <c>F.</c>, <c>FP.</c>, <c>R</c>, or <c>-</c> for none.</summary>
    public static string Flags(TcpFlags flags) => flags == TcpFlags.None ? "-" : PacketFormatter.FlagLetters(flags);
}

/// <summary>A script line that cannot be parsed or is not supported.</summary>
public sealed class ScriptParseException : Exception
{
    public ScriptParseException(int line, string message) : base(message) => Line = line;

    public ScriptParseException() { }

    public ScriptParseException(string message) : base(message) { }

    public ScriptParseException(string message, Exception innerException) : base(message, innerException) { }

    public int Line { get; }
}
