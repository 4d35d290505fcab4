using System.Globalization;
using UserTcp.Engine;

namespace UserTcp.Script;

/// <summary>What a setting from a back-quoted block did.</summary>
public enum SetupEffect : byte
{
    /// <summary>It changed UserTcp's configuration.</summary>
    Applied,
    /// <summary>UserTcp already behaves that way (e.g. <c>tcp_fack=0</c>): nothing to change.</summary>
    AlreadySo,
    /// <summary>UserTcp has no equivalent: the script runs without it (an error unless <c>--relaxed</c>).</summary>
    NotApplied,
    /// <summary>
    /// Applied as the nearest setting UserTcp has, which differs from Linux's: reported like
    /// <see cref="NotApplied"/>, since the script then runs against other behaviour than it asked for.
    /// </summary>
    Approximated,
}

/// <summary>The effect of one setting, with what it is in UserTcp's terms.</summary>
public sealed record SetupOutcome(SetupEffect Effect, string Setting, string Explanation)
{
    /// <summary>
    /// The setting of UserTcp that several sysctls decide together (a <see cref="CombinedSysctl"/>): only the last outcome of a block
    /// counts, so a pair set one after the other is judged as the pair.
    /// </summary>
    public string? Combined { get; init; }

    public override string ToString() => Effect switch
    {
        SetupEffect.Applied => $"{Setting}: {Explanation}",
        SetupEffect.AlreadySo => $"{Setting}: already so ({Explanation})",
        SetupEffect.Approximated => $"{Setting}: approximated ({Explanation})",
        _ => $"{Setting}: not applied ({Explanation})",
    };
}

/// <summary>The sysctl values a script has set so far, for settings whose meaning depends on another.</summary>
internal interface ISysctlValues
{
    string? this[string name] { get; }
}

/// <summary>
/// One Linux sysctl and what it means for UserTcp. <see cref="ConfigSysctl"/> maps it onto <see cref="TcpConfig"/>;
/// <see cref="BehaviourSysctl"/> is a knob where UserTcp has one fixed behaviour, so a value is either already so or
/// not applied. When the engine grows a switch for a behaviour, its entry moves from the second kind to the first.
/// </summary>
internal abstract record SysctlKnob(string Name)
{
    public abstract SetupOutcome Apply(string value, ref TcpConfig config, ISysctlValues values);

    protected SetupOutcome Outcome(SetupEffect effect, string value, string explanation) => new(effect, $"{Name}={value}", explanation);

    protected SetupOutcome Invalid(string value, string expected) => Outcome(SetupEffect.NotApplied, value, $"expected {expected}");

    /// <summary>A sysctl integer: decimal or 0x hex, as the kernel's proc_dointvec reads it.</summary>
    public static bool TryInteger(string text, out long value)
    {
        text = text.Trim();
        return text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Whitespace-separated integers (<c>tcp_rmem</c>'s "min default max").</summary>
    public static long[]? Integers(string text, int count)
    {
        string[] parts = text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != count) return null;
        var values = new long[count];
        for (int i = 0; i < count; i++)
        {
            if (!TryInteger(parts[i], out values[i])) return null;
        }
        return values;
    }
}

/// <summary>A sysctl with an equivalent in <see cref="TcpConfig"/>: the value is read and the config changed.</summary>
internal sealed record ConfigSysctl(string Name, string Expected, Func<string, TcpConfig, (TcpConfig Config, string What)?> Map) : SysctlKnob(Name)
{
    public override SetupOutcome Apply(string value, ref TcpConfig config, ISysctlValues values)
    {
        if (Map(value, config) is not { } mapped) return Invalid(value, Expected);
        config = mapped.Config;
        return Outcome(SetupEffect.Applied, value, mapped.What);
    }
}

/// <summary>
/// A sysctl that, with others, decides one setting of UserTcp: <see cref="Combine"/> reads the values set so far (the
/// one being set included) and gives the new configuration with its effect and explanation, so the order in which a
/// script sets them does not matter.
/// </summary>
internal sealed record CombinedSysctl(string Name, string Setting, Func<ISysctlValues, TcpConfig, (TcpConfig Config, SetupEffect Effect, string What)?> Combine) : SysctlKnob(Name)
{
    public override SetupOutcome Apply(string value, ref TcpConfig config, ISysctlValues values)
    {
        if (Combine(new With(values, Name, value), config) is not { } combined) return Invalid(value, "a number");
        config = combined.Config;
        return Outcome(combined.Effect, value, combined.What) with { Combined = Setting };
    }

    /// <summary>The values set so far, with this one's new value.</summary>
    private sealed class With(ISysctlValues values, string name, string value) : ISysctlValues
    {
        public string? this[string key] => key == name ? value : values[key];
    }
}

/// <summary>A sysctl for a behaviour UserTcp has one way: values that describe it are already so, others are not applied.</summary>
internal sealed record BehaviourSysctl(string Name, Func<long, ISysctlValues, bool> Matches, string UserTcp) : SysctlKnob(Name)
{
    public override SetupOutcome Apply(string value, ref TcpConfig config, ISysctlValues values) =>
        !TryInteger(value, out long number) ? Invalid(value, "a number")
        : Matches(number, values) ? Outcome(SetupEffect.AlreadySo, value, UserTcp)
        : Outcome(SetupEffect.NotApplied, value, UserTcp);
}

/// <summary>
/// The table of Linux sysctls that upstream scripts set, and their meaning for UserTcp (docs/scripts.md, "Set-up
/// commands"). Names not in the table have no equivalent and are not applied.
/// </summary>
internal static class LinuxSysctls
{
    private static readonly Dictionary<string, SysctlKnob> Table = Build().ToDictionary(k => k.Name, StringComparer.Ordinal);

    /// <summary>Every sysctl the table knows, for the documentation test.</summary>
    public static IEnumerable<string> Names => Table.Keys.Order(StringComparer.Ordinal);

    public static SetupOutcome Apply(SysctlAssignment setting, ref TcpConfig config, ISysctlValues values) =>
        Table.TryGetValue(setting.Name, out SysctlKnob? knob)
            ? knob.Apply(setting.Value, ref config, values)
            : new SetupOutcome(SetupEffect.NotApplied, setting.ToString(), "no equivalent in UserTcp");

    private static IEnumerable<SysctlKnob> Build()
    {
        const string V4 = "net.ipv4.";

        // ── Mapped onto TcpConfig ──
        yield return Count(V4 + "tcp_syn_retries", 1, 127, (c, n) => c with { SynRetries = n }, "SYN retransmissions");
        yield return Count(V4 + "tcp_synack_retries", 1, 255, (c, n) => c with { SynAckRetries = n }, "SYN-ACK retransmissions");
        yield return Count(V4 + "tcp_retries2", 1, 255, (c, n) => c with { DataRetries = n }, "data retransmissions before giving up");
        yield return Count(V4 + "tcp_orphan_retries", 0, 255, (c, n) => c with { OrphanRetries = n == 0 ? 8 : n }, "retransmissions of a closed socket's data (0 means 8, as Linux)");
        yield return Seconds(V4 + "tcp_fin_timeout", (c, t) => c with { FinWait2Timeout = t }, "orphaned FIN-WAIT-2 timeout");
        yield return Seconds(V4 + "tcp_keepalive_time", (c, t) => c with { KeepAliveIdle = t }, "keepalive idle time");
        yield return Seconds(V4 + "tcp_keepalive_intvl", (c, t) => c with { KeepAliveInterval = t }, "keepalive probe interval");
        yield return Count(V4 + "tcp_keepalive_probes", 1, 127, (c, n) => c with { KeepAliveCount = n }, "keepalive probes");
        yield return new ConfigSysctl(V4 + "tcp_rfc1337", "0 or 1", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is 0 or 1
            ? (c with { TimeWaitRst = v == 1 ? TimeWaitRstPolicy.Ignore : TimeWaitRstPolicy.Accept }, v == 1 ? "a RST in TIME-WAIT is ignored" : "a RST ends TIME-WAIT")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_rmem", "three numbers (min default max)", (text, c) => BufferSizes(text) is (int initial, int max)
            ? (c with { ReceiveBufferSize = initial / 2, MaxReceiveBufferSize = Math.Max(1, max / 2) },
                $"receive buffers hold {initial / 2} bytes at first (getsockopt reports {initial}), auto-tuning grows them to {Math.Max(1, max / 2)}; min: UserTcp does not shrink buffers")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_moderate_rcvbuf", "0 or 1", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is 0 or 1
            ? (c with { ReceiveBufferAutoTuning = v == 1 }, v == 1 ? "receive-buffer auto-tuning on" : "receive-buffer auto-tuning off")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_wmem", "three numbers (min default max)", (text, c) => BufferSizes(text) is (int initial, _)
            ? (c with { SendBufferSize = initial }, $"send buffers hold {initial} bytes (as getsockopt reports); min and max: UserTcp does not resize send buffers")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_rto_min_us", "microseconds", (text, c) => SysctlKnob.TryInteger(text, out long us) && us is >= 1 and <= 120_000_000
            ? (c with { MinRto = TimeSpan.FromMicroseconds(us) }, $"minimum RTO {us / 1000.0:0.###} ms")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_rto_max_ms", "milliseconds", (text, c) => SysctlKnob.TryInteger(text, out long ms) && ms is >= 1000 and <= 120_000
            ? (c with { MaxRto = TimeSpan.FromMilliseconds(ms) }, $"maximum RTO {ms / 1000.0:0.###} s")
            : null);
        // 1: timestamps with a random offset per connection (RFC 7323 §5.4); 2: without one, the clock as it is.
        yield return new ConfigSysctl(V4 + "tcp_timestamps", "0, 1 or 2", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= 2
            ? v switch
            {
                0 => (c with { Timestamps = false }, "timestamps (RFC 7323) off"),
                1 => (c with { Timestamps = true, TimestampOffset = null }, "timestamps (RFC 7323) on, a random offset per connection"),
                _ => (c with { Timestamps = true, TimestampOffset = _ => 0 }, "timestamps (RFC 7323) on, no offset"),
            }
            : null);
        yield return Switch(V4 + "tcp_sack", (c, on) => c with { Sack = on }, "SACK (RFC 2018) and the scoreboard");
        yield return Switch(V4 + "tcp_dsack", (c, on) => c with { DuplicateSack = on }, "D-SACK (RFC 2883)");
        yield return Switch(V4 + "tcp_window_scaling", (c, on) => c with { WindowScaling = on }, "window scaling (RFC 7323 §2)");
        // RACK loss detection is bit 1 of tcp_recovery; tail loss probes are tcp_early_retrans 3 or 4 (RFC 8985 §6, §7).
        yield return new ConfigSysctl(V4 + "tcp_recovery", "a number", (text, c) => SysctlKnob.TryInteger(text, out long v)
            ? (c with { Rack = (v & 1) != 0 }, (v & 1) != 0 ? "RACK loss detection (RFC 8985)" : "no RACK: RFC 6675's DupThresh and IsLost")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_early_retrans", "a number", (text, c) => SysctlKnob.TryInteger(text, out long v)
            ? (c with { TailLossProbe = v is 3 or 4 }, v is 3 or 4 ? "tail loss probes (RFC 8985 §7)" : "no tail loss probe")
            : null);
        // Linux runs F-RTO for any value but 0: SACK-enhanced with SACK, basic without, whether 1 or 2 (since 3.10).
        yield return new ConfigSysctl(V4 + "tcp_frto", "0, 1 or 2", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= 2
            ? (c with { Frto = v != 0 }, v != 0 ? "F-RTO (RFC 5682) and undo of spurious timeouts" : "no F-RTO and no undo of a spurious timeout (Linux still undoes by timestamps)")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_congestion_control", "reno, cubic or bbr", (text, c) =>
            CongestionControlAlgorithms.TryParse(text, out CongestionControlAlgorithm algorithm)
                ? (c with { CongestionControl = algorithm }, $"congestion control {algorithm.LinuxName()}")
                : null);
        yield return new ConfigSysctl(V4 + "ip_local_port_range", "two port numbers", (text, c) => SysctlKnob.Integers(text, 2) is [var first and >= 1 and <= 65535, var last and >= 1 and <= 65535] && first <= last
            ? (c with { EphemeralPortFirst = (ushort)first, EphemeralPortLast = (ushort)last }, $"ephemeral ports {first}-{last}")
            : null);

        yield return new ConfigSysctl(V4 + "tcp_notsent_lowat", "bytes", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= uint.MaxValue
            ? (c with { NotSentLowWatermark = (uint)v }, v == uint.MaxValue ? "no limit on unsent data" : $"writes stop at {v} unsent bytes (TCP_NOTSENT_LOWAT's default)")
            : null);
        yield return Count(V4 + "tcp_tso_win_divisor", 0, 255, (c, n) => c with { TsoWindowDivisor = n }, "a small TSO packet waits for the ACK due unless it is this fraction of the window (0: never)");
        yield return Count(V4 + "tcp_min_tso_segs", 1, 127, (c, n) => c with { MinTsoSegments = n }, "the fewest segments per TSO packet");
        yield return Count(V4 + "tcp_pacing_ss_ratio", 0, 1000, (c, n) => c with { PacingSlowStartRatio = n }, "pacing rate in slow start, % of cwnd per RTT");
        yield return Count(V4 + "tcp_pacing_ca_ratio", 0, 1000, (c, n) => c with { PacingCongestionAvoidanceRatio = n }, "pacing rate in congestion avoidance, % of cwnd per RTT");
        yield return Switch(V4 + "tcp_slow_start_after_idle", (c, on) => c with { SlowStartAfterIdle = on }, "restart window after idle (RFC 5681 §4.1)");
        yield return new ConfigSysctl(V4 + "tcp_syncookies", "0, 1 or 2", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= 2
            ? (c with { SynCookies = (SynCookieMode)v }, v switch { 0 => "no SYN cookies", 1 => "SYN cookies once the SYN queue is full", _ => "SYN cookies for every SYN" })
            : null);
        yield return new ConfigSysctl(V4 + "tcp_invalid_ratelimit", "milliseconds", (text, c) => SysctlKnob.TryInteger(text, out long ms) && ms is >= 0 and <= int.MaxValue
            ? (c with { InvalidAckInterval = TimeSpan.FromMilliseconds(ms) }, $"one challenge or duplicate ACK per {ms} ms per connection")
            : null);
        yield return new ConfigSysctl(V4 + "tcp_challenge_ack_limit", "a count per second", (text, c) => SysctlKnob.TryInteger(text, out long n) && n is >= 0 and <= int.MaxValue
            ? (c with { ChallengeAckLimit = (int)n }, n == int.MaxValue ? "no stack-wide challenge-ACK limit" : $"about {n} challenge ACKs per second for the stack")
            : null);
        // tcp_ecn 3 to 5 are AccECN's modes, which UserTcp does not negotiate.
        yield return new ConfigSysctl(V4 + "tcp_ecn", "0, 1 or 2", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= 2
            ? (c with { Ecn = (EcnMode)v }, v switch { 0 => "no ECN", 1 => "ECN requested and accepted (RFC 3168)", _ => "ECN accepted when the peer requests it" })
            : null);
        yield return Switch(V4 + "tcp_ecn_fallback", (c, on) => c with { EcnFallback = on }, "ECN fallback: a retransmitted SYN drops its ECN request (RFC 3168 §6.1.1.1),");
        yield return new ConfigSysctl(V4 + "tcp_fastopen", "a bit mask", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= int.MaxValue
            ? (c with { FastOpen = (FastOpenFlags)v & KnownFastOpenFlags }, $"TCP Fast Open (RFC 7413): {FastOpenText((FastOpenFlags)v & KnownFastOpenFlags)}")
            : null);

        yield return new ConfigSysctl(V4 + "tcp_fastopen_key", "xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx[,backup]", (text, c) => FastOpenKey.TryParse(text, out FastOpenKey? key)
            ? (c with { FastOpenKey = key }, key.HasBackup ? "the Fast Open cookie key and a backup key" : "the Fast Open cookie key")
            : null);

        // 1: black-hole detection (RFC 2923 §2.1), probing up once it fired; 2: probing up from the start (RFC 4821).
        yield return new ConfigSysctl(V4 + "tcp_mtu_probing", "0, 1 or 2", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is >= 0 and <= 2
            ? (c with { MtuProbing = (MtuProbing)v }, v switch
            {
                0 => "no path MTU black-hole detection or probing",
                1 => "path MTU black-hole detection: timeouts lower the segment size (RFC 2923 §2.1), then probing searches up (RFC 4821)",
                _ => "path MTU probing from the start (RFC 4821), and black-hole detection",
            })
            : null);
        yield return Count(V4 + "tcp_probe_threshold", 0, int.MaxValue, (c, n) => c with { MtuProbeThreshold = n }, "bytes at which the path MTU search stops");
        yield return Seconds(V4 + "tcp_probe_interval", (c, t) => c with { MtuProbeInterval = t }, "the path MTU search starts over after");
        yield return Count(V4 + "tcp_base_mss", 48, ushort.MaxValue, // 48: tcp_min_snd_mss, the floor TcpConfig.BaseMss takes
            (c, n) => c with { BaseMss = n }, "the segment size black-hole detection lowers to first, and the bottom of the path MTU search");

        // ── Behaviours UserTcp has one way (today) ──
        yield return Fixed(V4 + "tcp_fack", v => v == 0, "UserTcp has no forward acknowledgement");
        yield return new BehaviourSysctl(V4 + "tcp_ecn_option", (v, set) => v == 0 || (set[V4 + "tcp_ecn"] is null or "0" or "1" or "2"),
            "AccECN options are sent only on AccECN connections, which UserTcp never negotiates");
        yield return Fixed(V4 + "tcp_reordering", v => v == 3, "UserTcp's duplicate-ACK threshold is 3 (RFC 5681 §3.2)");
        yield return Fixed(V4 + "tcp_autocorking", v => v == 0, "UserTcp does not cork small writes");
        yield return Fixed(V4 + "tcp_thin_linear_timeouts", v => v == 0, "UserTcp always backs off exponentially");
        yield return Fixed(V4 + "tcp_no_metrics_save", v => v == 1, "UserTcp keeps no metrics per destination");

        yield return Fixed(V4 + "tcp_comp_sack_nr", v => v == 0, "UserTcp sends each SACK block with its ACK; it never delays them to compress");
    }

    /// <summary>The bits of tcp_fastopen Linux 6.x reads; the others (0x70000 in packetdrill's defaults) mean nothing there either.</summary>
    private const FastOpenFlags KnownFastOpenFlags = FastOpenFlags.Client | FastOpenFlags.Server | FastOpenFlags.ClientNoCookie
        | FastOpenFlags.ServerCookieNotRequired | FastOpenFlags.ServerWithoutSocketOption;

    private static string FastOpenText(FastOpenFlags flags) => flags == FastOpenFlags.None ? "off" : flags.ToString();

    /// <summary>A 0/1 switch of a feature the engine can turn off (per stack and per connection).</summary>
    private static ConfigSysctl Switch(string name, Func<TcpConfig, bool, TcpConfig> set, string what) =>
        new(name, "0 or 1", (text, c) => SysctlKnob.TryInteger(text, out long v) && v is 0 or 1
            ? (set(c, v == 1), $"{what} {(v == 1 ? "on" : "off")}")
            : null);

    private static BehaviourSysctl Fixed(string name, Func<long, bool> matches, string userTcp) => new(name, (v, _) => matches(v), userTcp);

    private static ConfigSysctl Count(string name, int min, int max, Func<TcpConfig, int, TcpConfig> set, string what) =>
        new(name, $"a number from {min} to {max}", (text, c) => SysctlKnob.TryInteger(text, out long n) && n >= min && n <= max
            ? (set(c, (int)n), $"{what}: {n}")
            : null);

    private static ConfigSysctl Seconds(string name, Func<TcpConfig, TimeSpan, TcpConfig> set, string what) =>
        new(name, "seconds", (text, c) => SysctlKnob.TryInteger(text, out long s) && s is >= 1 and <= int.MaxValue
            ? (set(c, TimeSpan.FromSeconds(s)), $"{what} {s} s")
            : null);

    /// <summary>
    /// <c>tcp_rmem</c>/<c>tcp_wmem</c> "min default max", in Linux's units (the socket's buffer as SO_RCVBUF/SO_SNDBUF
    /// report it): the engine's buffers hold half of that in data, as after setsockopt (docs/scripts.md). The default
    /// is the initial size; tcp_rmem's max is where receive-buffer auto-tuning stops. Null when the text is not three
    /// numbers with a default of 2 bytes to 128 MiB (a max below the default counts as the default).
    /// </summary>
    private static (int Initial, int Max)? BufferSizes(string text) =>
        SysctlKnob.Integers(text, 3) is [_, var initial and >= 2 and <= 128 * 1024 * 1024, var max] && max >= 0
            ? ((int)initial, (int)Math.Clamp(max, initial, int.MaxValue))
            : null;
}
