using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>
/// The world a script runs in, from its <c>--option</c> lines (packetdrill's command-line options, config.c): the
/// addresses and ports the runner plays, timing tolerance, and the options that change TCP behaviour.
/// </summary>
public sealed record ScriptSettings
{
    public long ToleranceMicros { get; init; } = 4000;
    public double TolerancePercent { get; init; }
    public Ipv4Address LocalIp { get; init; } = new(192, 168, 0, 1);
    public Ipv4Address RemoteIp { get; init; } = new(192, 0, 2, 1);
    public ushort BindPort { get; init; } = 8080;
    public ushort ConnectPort { get; init; } = 8080;
    /// <summary>The script's port for passive opens.</summary>
    public ushort RemotePort { get; init; } = 40000;
    /// <summary>UserTcp's ISN: 2^32 - 1000, so every connection crosses the wrap after 1000 bytes.</summary>
    public uint LocalIsn { get; init; } = unchecked((uint)-1000);
    /// <summary>The script side's ISN base: inbound <c>seq 0</c> is this number on the wire.</summary>
    public uint RemoteIsn { get; init; } = unchecked((uint)-2000);
    public bool Relaxed { get; init; }
    /// <summary>UserTcp's MSS (<c>--mss</c>, or <c>--mtu</c> less 40).</summary>
    public ushort Mss { get; init; } = 1460;
    public TimeWaitRstPolicy TimeWaitRst { get; init; } = TimeWaitRstPolicy.Accept;
    /// <summary>
    /// The engine's RTO formula: Linux's under <c>--relaxed</c> (scripts written against Linux time its RTO), RFC 6298's
    /// otherwise; <c>--rto_formula=linux|rfc6298</c> chooses either way.
    /// </summary>
    public RtoFormula RtoFormula { get; init; }
    /// <summary>
    /// What SO_SNDBUF counts: Linux's skb memory under <c>--relaxed</c> (scripts written against Linux count on its
    /// overshoot and wake-up), data bytes otherwise; <c>--send_buffer_accounting=linux|data</c> chooses either way.
    /// </summary>
    public SendBufferAccounting SendBufferAccounting { get; init; }
    /// <summary>
    /// CUBIC's arithmetic: Linux's under <c>--relaxed</c> (scripts written against Linux assert its cwnd values), RFC
    /// 9438's otherwise; <c>--cubic_arithmetic=linux|rfc9438</c> chooses either way.
    /// </summary>
    public CubicArithmetic CubicArithmetic { get; init; }
    /// <summary>
    /// RACK's rules: Linux's under <c>--relaxed</c> (scripts written against Linux see its reordering window, RACK.rtt
    /// and SACK blocks of ACKs below SND.UNA), RFC 8985's otherwise; <c>--rack_rules=linux|rfc8985</c> chooses either way.
    /// </summary>
    public RackRules RackRules { get; init; }
    /// <summary>
    /// The receive window: Linux's memory-scaled one grown through rcv_ssthresh under <c>--relaxed</c> (scripts written
    /// against Linux see its windows), data bytes otherwise; <c>--receive_window=linux|bytes</c> chooses either way.
    /// </summary>
    public ReceiveWindowModel ReceiveWindowModel { get; init; }
    /// <summary>
    /// Data past the window while data waits to be read: dropped whole as Linux 6.17 does under <c>--relaxed</c>, its ACK
    /// taken as RFC 9293 §3.10.7.4 says otherwise; <c>--beyond_window=linux|rfc9293</c> chooses either way.
    /// </summary>
    public bool DropBeyondWindow { get; init; }
    /// <summary>
    /// <c>--tcp_ts_tick_usecs</c>: microseconds per TS val tick, for checking outbound TS val against the script's
    /// within the time tolerance (packetdrill's verify_outbound_tcp_option). 0 leaves TS val unchecked.
    /// </summary>
    public int TimestampTickMicros { get; init; }
    /// <summary><c>--tcp_ts_ecr_scaled</c>: an inbound TS ecr that matches no outbound TS val is interpolated from the first one.</summary>
    public bool TimestampEcrScaled { get; init; }
    /// <summary><c>--strict_segments</c>: an expected segment must be met by one segment, never by several joined.</summary>
    public bool StrictSegments { get; init; }
}

/// <summary>Reads <c>--option</c> lines into <see cref="ScriptSettings"/> (the typed table of what each one means).</summary>
internal static class ScriptOptionTable
{
    /// <summary>Options that steer packetdrill's own machinery (its wire protocol, output, Python) and mean nothing in process.</summary>
    private static readonly HashSet<string> PacketdrillOnly =
    [
        "wire_client", "wire_server", "wire_server_ip", "wire_server_at", "wire_server_port", "wire_client_dev", "wire_server_dev",
        "so_filename", "so_flags", "dry_run", "verbose", "debug", "code_command", "code_format", "code_sockopt", "init_scripts",
        "gateway_ip", "netmask_ip", "speed", "is_anyip", "send_omit_free", "psp_udp_port",
    ];

    private const string Supported = "--tolerance_usecs, --tolerance_percent, --mss, --mtu, --bind_port, --connect_port, --remote_port, "
        + "--local_ip, --remote_ip, --ip_version=ipv4, --local_isn, --remote_isn, --tcp_ts_tick_usecs, --tcp_ts_ecr_scaled, --strict_segments, "
        + "--define, --relaxed, --rfc1337, --rto_formula=linux|rfc6298, --send_buffer_accounting=linux|data, --cubic_arithmetic=linux|rfc9438, --rack_rules=linux|rfc8985, --receive_window=linux|bytes, --beyond_window=linux|rfc9293";

    /// <summary>The settings for <paramref name="options"/>; <paramref name="notice"/> hears of options that mean nothing here.</summary>
    public static ScriptSettings Read(IReadOnlyList<ScriptOption> options, bool relaxed, Action<string> notice)
    {
        var settings = new ScriptSettings { Relaxed = relaxed };
        // --relaxed may come after options it softens.
        if (options.Any(o => o.Name == "relaxed" && o.Value is null)) settings = settings with { Relaxed = true };
        // An IPv6 script fails on its IP version, before its addresses do.
        if (options.FirstOrDefault(o => o.Name == "ip_version" && o.Value != "ipv4") is { } version)
        {
            throw Fail(version, $"--ip_version={version.Value} is not supported: UserTcp is IPv4 only");
        }
        int? mtu = null;
        bool mssGiven = false;
        settings = settings with
        {
            RtoFormula = settings.Relaxed ? RtoFormula.Linux : RtoFormula.Rfc6298,
            SendBufferAccounting = settings.Relaxed ? SendBufferAccounting.LinuxTruesize : SendBufferAccounting.DataBytes,
            CubicArithmetic = settings.Relaxed ? CubicArithmetic.Linux : CubicArithmetic.Rfc9438,
            RackRules = settings.Relaxed ? RackRules.Linux : RackRules.Rfc8985,
            ReceiveWindowModel = settings.Relaxed ? ReceiveWindowModel.Linux : ReceiveWindowModel.Bytes,
            DropBeyondWindow = settings.Relaxed,
        };
        foreach (ScriptOption option in options)
        {
            settings = option.Name switch
            {
                "tolerance_usecs" => settings with { ToleranceMicros = Number(option, 0, int.MaxValue) },
                "tolerance_percent" => settings with { TolerancePercent = Number(option, 0, 1000) },
                "mss" => settings with { Mss = (ushort)Number(option, 88, ushort.MaxValue - 40) },
                "mtu" => settings,
                "bind_port" => settings with { BindPort = (ushort)Number(option, 1, ushort.MaxValue) },
                "connect_port" => settings with { ConnectPort = (ushort)Number(option, 1, ushort.MaxValue) },
                "remote_port" => settings with { RemotePort = (ushort)Number(option, 1, ushort.MaxValue) },
                "local_ip" => settings with { LocalIp = Address(option) },
                "remote_ip" => settings with { RemoteIp = Address(option) },
                "local_isn" => settings with { LocalIsn = (uint)Number(option, 0, uint.MaxValue) },
                "remote_isn" => settings with { RemoteIsn = (uint)Number(option, 0, uint.MaxValue) },
                "ip_version" when option.Value == "ipv4" => settings,
                "ip_version" => throw Fail(option, $"--ip_version={option.Value} is not supported: UserTcp is IPv4 only"),
                "tcp_ts_tick_usecs" => settings with { TimestampTickMicros = (int)Number(option, 0, 1_000_000) },
                "tcp_ts_ecr_scaled" when option.Value is null => settings with { TimestampEcrScaled = true },
                "strict_segments" when option.Value is null => settings with { StrictSegments = true },
                "relaxed" when option.Value is null => settings,
                "define" => settings, // the parser has read the script with it

                "rfc1337" when option.Value is null => settings with { TimeWaitRst = TimeWaitRstPolicy.Ignore },
                "rto_formula" when RtoFormulas.TryParse(option.Value, out RtoFormula formula) => settings with { RtoFormula = formula },
                "rto_formula" => throw Fail(option, $"option --rto_formula needs linux or rfc6298, not '{option.Value}'"),
                "send_buffer_accounting" when option.Value is "linux" => settings with { SendBufferAccounting = SendBufferAccounting.LinuxTruesize },
                "send_buffer_accounting" when option.Value is "data" => settings with { SendBufferAccounting = SendBufferAccounting.DataBytes },
                "send_buffer_accounting" => throw Fail(option, $"option --send_buffer_accounting needs linux or data, not '{option.Value}'"),
                "cubic_arithmetic" when CubicArithmetics.TryParse(option.Value, out CubicArithmetic arithmetic) => settings with { CubicArithmetic = arithmetic },
                "cubic_arithmetic" => throw Fail(option, $"option --cubic_arithmetic needs linux or rfc9438, not '{option.Value}'"),
                "rack_rules" when RackRuleNames.TryParse(option.Value, out RackRules rules) => settings with { RackRules = rules },
                "rack_rules" => throw Fail(option, $"option --rack_rules needs linux or rfc8985, not '{option.Value}'"),
                "receive_window" when option.Value is "linux" => settings with { ReceiveWindowModel = ReceiveWindowModel.Linux },
                "receive_window" when option.Value is "bytes" => settings with { ReceiveWindowModel = ReceiveWindowModel.Bytes },
                "receive_window" => throw Fail(option, $"option --receive_window needs linux or bytes, not '{option.Value}'"),
                "beyond_window" when option.Value is "linux" or "rfc9293" => settings with { DropBeyondWindow = option.Value is "linux" },
                "beyond_window" => throw Fail(option, $"option --beyond_window needs linux or rfc9293, not '{option.Value}'"),
                string name when PacketdrillOnly.Contains(name) => NotApplied(option, settings),
                _ => throw Fail(option, $"option {option} is not supported (supported: {Supported})"),
            };
            if (option.Name == "mtu") mtu = (int)Number(option, 128, ushort.MaxValue);
            if (option.Name == "mss") mssGiven = true;
        }
        // packetdrill's --mtu is the test device's MTU; UserTcp's MSS follows from it unless --mss says otherwise.
        if (mtu is int m && !mssGiven) settings = settings with { Mss = (ushort)Math.Max(88, m - 40) };
        return settings;

        ScriptSettings NotApplied(ScriptOption option, ScriptSettings current)
        {
            if (!current.Relaxed)
            {
                throw Fail(option, $"option {option} concerns packetdrill's own machinery and has no equivalent in UserTcp; run with --relaxed to go on without it");
            }
            notice($"line {option.Line}: {option}: not applied (it concerns packetdrill's own machinery)");
            return current;
        }
    }

    private static long Number(ScriptOption option, long min, long max)
    {
        if (!long.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
        {
            throw Fail(option, $"option --{option.Name} needs a whole number from {min} to {max}, not '{option.Value}'");
        }
        return value;
    }

    private static Ipv4Address Address(ScriptOption option) =>
        Ipv4Address.TryParse(option.Value, out Ipv4Address address)
            ? address
            : throw Fail(option, $"option --{option.Name} needs an IPv4 address, not '{option.Value}'");

    private static ScriptFailureException Fail(ScriptOption option, string message) => new(option.Line, message);
}
