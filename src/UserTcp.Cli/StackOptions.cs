using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Cli;

/// <summary>What `serve`, `connect` and `get` need to bring up a stack: the live stack to build (interface, addresses, capture, faults) and logging.</summary>
internal sealed record StackSettings(LiveStackBuilder Builder, LogLevel LogLevel, CongestionControlAlgorithm CongestionControl = CongestionControlAlgorithm.Cubic,
    RtoFormula RtoFormula = RtoFormula.Rfc6298, EcnMode Ecn = EcnMode.Accept, CubicArithmetic CubicArithmetic = CubicArithmetic.Rfc9438,
    RackRules RackRules = RackRules.Rfc8985, bool LinuxRules = false, bool MtuBlackHoleDetection = false, bool MtuProbingAlways = false)
{
    public string Iface => Builder.InterfaceName;
    public string? Netns => Builder.Namespace;

    /// <summary>
    /// The command's own TcpConfig with --cc, --rto-formula, --cubic-arithmetic, --ecn, --rack-rules,
    /// --mtu-black-hole-detection and --mtu-probing applied, then
    /// --linux-rules (TcpConfig.WithLinuxRules): what every connection of its stack, accepted ones too, runs with.
    /// </summary>
    public TcpConfig Tcp(TcpConfig command)
    {
        TcpConfig tcp = command with
        {
            CongestionControl = CongestionControl, RtoFormula = RtoFormula, CubicArithmetic = CubicArithmetic, Ecn = Ecn, RackRules = RackRules,
            MtuBlackHoleDetection = MtuBlackHoleDetection || command.MtuBlackHoleDetection,
        };
        if (MtuProbingAlways) tcp = tcp with { MtuProbing = MtuProbing.Always };
        return LinuxRules ? tcp.WithLinuxRules() : tcp;
    }
}

/// <summary>A user mistake found after parsing (exit 2) or a refusal from the system (exit 1), reported in one line.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// The options every command that runs a stack shares (--iface, --address, --kernel-address, --mtu, --device-mode, --queues, --txqueuelen, --netns, --pcap,
/// --fault, --fault-seed, --log-level, --cc, --rto-formula, --cubic-arithmetic, --ecn, --rack-rules, --linux-rules,
/// --mtu-black-hole-detection), with their defaults (<see cref="LiveDefaults"/>), parsers and the checks that span
/// several of them.
/// </summary>
internal sealed class StackOptionSet
{
    public const string DefaultIface = LiveDefaults.InterfaceName;
    public const string DefaultAddress = LiveDefaults.StackAddressText;
    public const string DefaultKernelAddress = LiveDefaults.KernelAddressText;
    // The shortest prefix --kernel-address may have: a shorter one routes much of the address space through the interface.
    private const int ShortestKernelPrefix = 8;

    public Option<string> Iface { get; } = new("--iface", "-i")
    {
        Description = "Name of the TUN interface to create (at most 15 characters)",
        DefaultValueFactory = _ => DefaultIface,
        CustomParser = OptionParsers.Text<string>(ParseIface),
    };

    public Option<Ipv4Address> Address { get; } = new("--address", "-a")
    {
        Description = "UserTcp's own IPv4 address, inside the kernel side's prefix",
        DefaultValueFactory = _ => Ipv4Address.Parse(DefaultAddress),
        CustomParser = OptionParsers.Text<Ipv4Address>(ParseAddress),
    };

    public Option<InterfaceAddress> KernelAddress { get; } = new("--kernel-address", "-k")
    {
        Description = "Address of the kernel's side of the interface, with the prefix the kernel routes through it",
        DefaultValueFactory = _ => InterfaceAddress.Parse(DefaultKernelAddress),
        CustomParser = OptionParsers.Text<InterfaceAddress>(ParseKernelAddress),
    };

    public Option<int> Mtu { get; } = new("--mtu")
    {
        Description = $"Interface MTU, 576 to {TunOptions.MaxMtu}; UserTcp's MSS is the MTU less 40",
        DefaultValueFactory = _ => LiveDefaults.Mtu,
        CustomParser = OptionParsers.Int("--mtu", 576, TunOptions.MaxMtu),
    };

    public Option<TunDeviceMode> DeviceMode { get; } = new("--device-mode")
    {
        Description = "How the TUN device carries packets: offload (the kernel's TSO super-segments of up to 64 KiB both ways and "
            + "partial checksums, whatever the kernel grants of it; the default) or plain (one packet of at most the MTU per read "
            + "and write). --fault always runs plain",
        HelpName = "offload|plain",
        DefaultValueFactory = _ => TunDeviceMode.Offload,
        CustomParser = OptionParsers.Text<TunDeviceMode>(ParseDeviceMode),
    };

    public Option<int> Queues { get; } = QueuesOption();

    /// <summary>
    /// --queues: TUN queues (IFF_MULTI_QUEUE), one engine shard and reader thread each; by default one per processor. The
    /// kernel spreads flows over the queues by hash (docs/design.md "Several cores").
    /// </summary>
    public static Option<int> QueuesOption() => new("--queues")
    {
        Description = "TUN queues, one engine shard and reader thread each; the kernel spreads connections over them by flow hash. "
            + $"Default: one per processor ({DefaultQueues} here); one queue when the kernel refuses several, and with --pcap (--fault runs on every queue)",
        DefaultValueFactory = _ => DefaultQueues,
        CustomParser = OptionParsers.Int("--queues", 1, TunOptions.MaxQueues),
    };

    // The kernel's ring in front of the TUN device drops past txqueuelen packets (500 by default): many connections
    // opening or sending at once want it deeper (docs/design.md, issue 10).
    public Option<int?> TxQueueLength { get; } = new("--txqueuelen")
    {
        Description = "Packets the kernel may queue for UserTcp on the TUN interface before it drops (ip link's txqueuelen); "
            + "default: the kernel's 500. Raise it when thousands of connections open or send at once",
        CustomParser = result => OptionParsers.Int("--txqueuelen", 1, MaxTxQueueLength)(result),
    };

    /// <summary>The deepest --txqueuelen accepted: a million packets, far past what any test here needs.</summary>
    public const int MaxTxQueueLength = 1_000_000;

    /// <summary>One queue per processor, as many as an interface may have at most.</summary>
    public static int DefaultQueues => Math.Clamp(Environment.ProcessorCount, 1, TunOptions.MaxQueues);

    public Option<string?> Netns { get; } = new("--netns")
    {
        Description = "Create the TUN interface inside this existing network namespace (made with ip netns add NAME), so nothing "
            + "touches the host's interfaces; the alternative is to run the whole command under ip netns exec NAME",
        CustomParser = OptionParsers.Text<string?>(ParseNetns),
    };

    public Option<string?> Pcap { get; } = new("--pcap")
    {
        Description = "Write every packet in and out to this pcapng file (tcpdump -r and Wireshark read it); packets a --fault "
            + "touched carry a comment saying what happened, dropped ones included",
    };

    public Option<FaultRule[]> Faults { get; } = new("--fault")
    {
        Description = "Apply a fault on the TUN link (repeatable), e.g. 'drop from-kernel flags=FIN nth=1', 'drop to-kernel after=FIN', "
            + "'delay=200ms to-kernel', 'drop p=5%', 'mark from-kernel data nth=20..22' (ECN: CE on ECN-capable packets), "
            + "'refuse data time=2s..4s' (UserTcp's own device queue full: TCP hears of each refusal and retries); the rule language is in README \"Faults on the live path\"",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseFaults,
    };

    public Option<int> FaultSeed { get; } = new("--fault-seed")
    {
        Description = "Seed for the faults' random choices (p=, corrupt): the same seed and traffic give the same fates",
        DefaultValueFactory = _ => 1,
        CustomParser = OptionParsers.Int("--fault-seed", 0, int.MaxValue),
    };

    public Option<LogLevel> LogLevel { get; }

    public Option<CongestionControlAlgorithm> CongestionControl { get; } = CongestionControlOption();

    /// <summary>--cc: UserTcp's congestion control (Linux's TCP_CONGESTION names).</summary>
    public static Option<CongestionControlAlgorithm> CongestionControlOption(string description =
        "UserTcp's congestion control for its connections: cubic (the default, as Linux's), reno or bbr (BBR v1, rate-based)") => new("--cc")
    {
        Description = description,
        HelpName = "cubic|reno|bbr",
        DefaultValueFactory = _ => CongestionControlAlgorithm.Cubic,
        CustomParser = OptionParsers.Text<CongestionControlAlgorithm>(ParseCongestionControl),
    };

    private static string? ParseCongestionControl(string text, out CongestionControlAlgorithm value) =>
        CongestionControlAlgorithms.TryParse(text, out value) ? null : $"--cc '{text}' is no congestion control UserTcp has: use cubic, reno or bbr";

    public Option<RtoFormula> RtoFormula { get; } = RtoFormulaOption();

    /// <summary>
    /// --rto-formula: how UserTcp's retransmission timeout follows from its RTT samples (TcpConfig.RtoFormula), so a
    /// retransmission study against the kernel can run UserTcp on Linux's formula (docs/design.md "The engine", its Retransmission item).
    /// </summary>
    public static Option<RtoFormula> RtoFormulaOption() => new("--rto-formula")
    {
        Description = "UserTcp's retransmission timeout: rfc6298 (the default; max(SRTT + 4·RTTVAR, 200 ms)) or linux "
            + "(the kernel's tcp_set_rto: SRTT + max(4·mdev, 200 ms), so about SRTT + 200 ms on a LAN)",
        HelpName = "rfc6298|linux",
        DefaultValueFactory = _ => Engine.RtoFormula.Rfc6298,
        CustomParser = OptionParsers.Text<RtoFormula>(ParseRtoFormula),
    };

    private static string? ParseRtoFormula(string text, out RtoFormula value) =>
        RtoFormulas.TryParse(text, out value) ? null : $"--rto-formula '{text}' is not an RTO formula: use rfc6298 or linux";

    public Option<CubicArithmetic> CubicArithmetic { get; } = CubicArithmeticOption();

    /// <summary>
    /// --cubic-arithmetic: how CUBIC computes its congestion avoidance (TcpConfig.CubicArithmetic), so a congestion study
    /// against the kernel can run UserTcp's cwnd segment for segment as Linux's (docs/design.md "Where the upstream packetdrill corpus still sees another behaviour").
    /// </summary>
    public static Option<CubicArithmetic> CubicArithmeticOption() => new("--cubic-arithmetic")
    {
        Description = "CUBIC's congestion avoidance: rfc9438 (the default; RFC 9438's equations in floating point) or linux "
            + "(the kernel's tcp_cubic.c in its integer arithmetic: at most one segment per two ACKed, 5 % per RTT before the first loss)",
        HelpName = "rfc9438|linux",
        DefaultValueFactory = _ => Engine.CubicArithmetic.Rfc9438,
        CustomParser = OptionParsers.Text<CubicArithmetic>(ParseCubicArithmetic),
    };

    private static string? ParseCubicArithmetic(string text, out CubicArithmetic value) =>
        CubicArithmetics.TryParse(text, out value) ? null : $"--cubic-arithmetic '{text}' is not a CUBIC arithmetic: use rfc9438 or linux";

    public Option<RackRules> RackRules { get; } = RackRulesOption();

    /// <summary>--rack-rules: RFC 8985's rules for RACK or Linux's (TcpConfig.RackRules, docs/design.md "RACK's rules, RFC 8985's or Linux's").</summary>
    public static Option<RackRules> RackRulesOption() => new("--rack-rules")
    {
        Description = "UserTcp's RACK loss detection: rfc8985 (the default) or linux (reordering as tp->reord_seen counts it, "
            + "RACK.rtt from the last delivery taken, and the SACK blocks of an ACK below SND.UNA used)",
        HelpName = "rfc8985|linux",
        DefaultValueFactory = _ => Engine.RackRules.Rfc8985,
        CustomParser = OptionParsers.Text<RackRules>(ParseRackRules),
    };

    private static string? ParseRackRules(string text, out RackRules value) =>
        RackRuleNames.TryParse(text, out value) ? null : $"--rack-rules '{text}' is not a set of RACK rules: use rfc8985 or linux";

    public Option<bool> LinuxRules { get; } = LinuxRulesOption();

    /// <summary>--linux-rules: every switch that makes UserTcp follow Linux 6.18 rather than an RFC, at once (TcpConfig.WithLinuxRules).</summary>
    public static Option<bool> LinuxRulesOption() => new("--linux-rules")
    {
        Description = "Follow Linux 6.18 wherever UserTcp's default follows an RFC instead, to compare like with like: Linux's RTO formula, "
            + "CUBIC arithmetic and RACK rules, skb memory as the send buffer's measure, Linux's receive window (scaling_ratio, rcv_ssthresh), "
            + "TSO deferral (tcp_tso_win_divisor 3), the restart "
            + "window after idle, and one loss probe of one segment per stall (TcpConfig.LinuxRules); over --rto-formula, --cubic-arithmetic and --rack-rules",
    };

    /// <summary>--mtu-black-hole-detection: timeouts lower the segment size (TcpConfig.MtuBlackHoleDetection, Linux's tcp_mtu_probing=1).</summary>
    public Option<bool> MtuBlackHoleDetection { get; } = new("--mtu-black-hole-detection")
    {
        Description = "Path MTU black-hole detection (RFC 2923 §2.1, Linux's tcp_mtu_probing=1): once retransmission timeouts have stalled "
            + "a connection for 3 s, each further timeout lowers the segment size, to 1024 bytes first, then by half, in case full-sized "
            + "packets vanish on the path without an ICMP (try it with --fault 'drop to-kernel mtu=1200'); from then on, one larger "
            + "segment at a time probes back up (RFC 4821)",
    };

    /// <summary>--mtu-probing: path MTU probing from the start (TcpConfig.MtuProbing Always, Linux's tcp_mtu_probing=2).</summary>
    public Option<bool> MtuProbing { get; } = new("--mtu-probing")
    {
        Description = "Path MTU probing from the start (RFC 4821, Linux's tcp_mtu_probing=2): connections UserTcp opens start at 1024-byte "
            + "segments and one larger segment at a time searches up to the peer's MSS, its ACK raising the segment size; black-hole "
            + "detection as with --mtu-black-hole-detection",
    };

    /// <summary>--ecn: Explicit Congestion Notification (TcpConfig.Ecn), named as Linux's net.ipv4.tcp_ecn values.</summary>
    public Option<EcnMode> Ecn { get; } = new("--ecn")
    {
        Description = "Explicit Congestion Notification (RFC 3168): accept (the default, as Linux's tcp_ecn=2: agree when the peer's "
            + "SYN asks), request (also ask in UserTcp's own SYNs, as tcp_ecn=1) or off",
        HelpName = "off|request|accept",
        DefaultValueFactory = _ => EcnMode.Accept,
        CustomParser = OptionParsers.Text<EcnMode>(ParseEcn),
    };

    private static string? ParseEcn(string text, out EcnMode value)
    {
        value = text.Trim().ToUpperInvariant() switch
        {
            "OFF" or "0" => EcnMode.Off,
            "REQUEST" or "1" => EcnMode.Request,
            "ACCEPT" or "2" => EcnMode.Accept,
            _ => (EcnMode)byte.MaxValue,
        };
        return Enum.IsDefined(value) ? null : $"--ecn '{text}' is not an ECN mode: use off, request or accept";
    }

    public StackOptionSet(LogLevel defaultLevel)
    {
        LogLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Log to stderr from this level on: trace (every segment), debug (state changes, requests), information, warning, error, critical, none",
            HelpName = "trace|debug|information|warning|error|critical|none",
            DefaultValueFactory = _ => defaultLevel,
            CustomParser = OptionParsers.Text<LogLevel>(ParseLogLevel),
        };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Iface);
        command.Options.Add(Address);
        command.Options.Add(KernelAddress);
        command.Options.Add(Mtu);
        command.Options.Add(DeviceMode);
        command.Options.Add(Queues);
        command.Options.Add(TxQueueLength);
        command.Options.Add(Netns);
        command.Options.Add(Pcap);
        command.Options.Add(Faults);
        command.Options.Add(FaultSeed);
        command.Options.Add(LogLevel);
        command.Options.Add(CongestionControl);
        command.Options.Add(RtoFormula);
        command.Options.Add(CubicArithmetic);
        command.Options.Add(Ecn);
        command.Options.Add(RackRules);
        command.Options.Add(LinuxRules);
        command.Options.Add(MtuBlackHoleDetection);
        command.Options.Add(MtuProbing);
        command.Validators.Add(Validate);
    }

    public StackSettings Read(ParseResult parsed) => new(new LiveStackBuilder
    {
        InterfaceName = parsed.GetRequiredValue(Iface),
        Address = parsed.GetValue(Address),
        KernelAddress = parsed.GetValue(KernelAddress),
        Mtu = parsed.GetValue(Mtu),
        Mode = parsed.GetValue(DeviceMode),
        Queues = parsed.GetValue(Queues),
        TunQueueLength = parsed.GetValue(TxQueueLength),
        Namespace = parsed.GetValue(Netns),
        CapturePath = parsed.GetValue(Pcap),
        Faults = parsed.GetValue(Faults) ?? [],
        FaultSeed = parsed.GetValue(FaultSeed),
    }, parsed.GetValue(LogLevel), parsed.GetValue(CongestionControl), parsed.GetValue(RtoFormula), parsed.GetValue(Ecn), parsed.GetValue(CubicArithmetic), parsed.GetValue(RackRules),
        parsed.GetValue(LinuxRules), parsed.GetValue(MtuBlackHoleDetection), parsed.GetValue(MtuProbing));

    // Each --fault is one rule; a bad one is one error naming the word at fault.
    private static FaultRule[] ParseFaults(ArgumentResult result)
    {
        var rules = new List<FaultRule>();
        foreach (Token token in result.Tokens)
        {
            try
            {
                rules.Add(FaultRule.Parse(token.Value));
            }
            catch (FaultRuleException e)
            {
                result.AddError($"--fault '{token.Value}': {e.Message}");
                return [];
            }
        }
        return [.. rules];
    }

    // Checks across options; skipped when one of them already failed to parse (its error is reported already).
    private void Validate(CommandResult result)
    {
        Ipv4Address address;
        InterfaceAddress kernel;
        string? pcap;
        try
        {
            address = ValueOf(result, Address, Ipv4Address.Parse(DefaultAddress));
            kernel = ValueOf(result, KernelAddress, InterfaceAddress.Parse(DefaultKernelAddress));
            pcap = ValueOf(result, Pcap, null);
        }
        catch (InvalidOperationException)
        {
            return; // reading a value that failed to parse throws
        }
        var kernelAddress = Ipv4Address.Parse(kernel.Address.ToString());
        uint mask = kernel.PrefixLength == 0 ? 0 : uint.MaxValue << (32 - kernel.PrefixLength);
        if (kernel.PrefixLength < ShortestKernelPrefix)
        {
            // The interface's prefix becomes a route through it: /0 is a default route, anything shorter than /8 takes over
            // much of the address space, so the kernel would send traffic meant for elsewhere to UserTcp.
            result.AddError($"--kernel-address {kernel} would route {(kernel.PrefixLength == 0 ? "every address" : "a /" + kernel.PrefixLength + " of the address space")} "
                + $"through the interface: use a prefix from /{ShortestKernelPrefix} to /30, e.g. {DefaultKernelAddress}");
        }
        else if (address == kernelAddress)
        {
            result.AddError($"--address {address} is the kernel's own address: give UserTcp another one in {kernel}, e.g. {Neighbour(kernelAddress, mask)}");
        }
        else if (kernel.PrefixLength > 30 || (address.Value & mask) != (kernelAddress.Value & mask))
        {
            result.AddError($"--address {address} is outside --kernel-address {kernel}: the kernel routes only that prefix through the interface; "
                + $"use e.g. {Neighbour(kernelAddress, mask)}");
        }
        else if ((address.Value & ~mask) == 0 || (address.Value & ~mask) == ~mask)
        {
            result.AddError($"--address {address} is the network or broadcast address of {kernel}: use e.g. {Neighbour(kernelAddress, mask)}");
        }
        if (pcap is not null && OptionParsers.NewFileProblem("--pcap", pcap, "run.pcapng") is string problem) result.AddError(problem);
    }

    /// <summary>An option's value inside a command validator, which runs before defaults are filled in.</summary>
    internal static T ValueOf<T>(CommandResult result, Option<T> option, T fallback) =>
        result.GetResult(option) is null ? fallback : result.GetValue(option)!;

    private static Ipv4Address Neighbour(Ipv4Address kernel, uint mask)
    {
        uint host = (kernel.Value & ~mask) == 1 ? 2u : 1u;
        return new Ipv4Address((kernel.Value & mask) | host);
    }

    private static string? ParseIface(string text, out string value)
    {
        value = text;
        return TunOptions.TryValidateName(text, out string? problem) ? null : problem;
    }

    private static string? ParseAddress(string text, out Ipv4Address value) =>
        Ipv4Address.TryParse(text, out value) ? null : $"--address '{text}' is not an IPv4 address: write it as a.b.c.d, e.g. {DefaultAddress}";

    private static string? ParseKernelAddress(string text, out InterfaceAddress value) =>
        InterfaceAddress.TryParse(text, out value)
            ? null
            : $"--kernel-address '{text}' is not an IPv4 address with a prefix length: write it as a.b.c.d/n, e.g. {DefaultKernelAddress}";

    internal static string? ParseNetns(string text, out string? value)
    {
        value = text;
        return text.Length == 0 || text.Contains('/', StringComparison.Ordinal) || text is "." or ".."
            ? $"--netns '{text}' is not a namespace name: give the name ip netns list shows"
            : null;
    }

    internal static string? ParseDeviceMode(string text, out TunDeviceMode value)
    {
        value = text.ToUpperInvariant() switch
        {
            "OFFLOAD" => TunDeviceMode.Offload,
            "PLAIN" => TunDeviceMode.Plain,
            _ => (TunDeviceMode)(-1),
        };
        return (int)value >= 0 ? null : $"--device-mode '{text}' is not a mode: use offload or plain";
    }

    private static string? ParseLogLevel(string text, out LogLevel value)
    {
        value = text.ToUpperInvariant() switch
        {
            "TRACE" => Microsoft.Extensions.Logging.LogLevel.Trace,
            "DEBUG" => Microsoft.Extensions.Logging.LogLevel.Debug,
            "INFORMATION" or "INFO" => Microsoft.Extensions.Logging.LogLevel.Information,
            "WARNING" or "WARN" => Microsoft.Extensions.Logging.LogLevel.Warning,
            "ERROR" => Microsoft.Extensions.Logging.LogLevel.Error,
            "CRITICAL" => Microsoft.Extensions.Logging.LogLevel.Critical,
            "NONE" => Microsoft.Extensions.Logging.LogLevel.None,
            _ => (LogLevel)(-1),
        };
        return (int)value >= 0 ? null : $"--log-level '{text}' is not a level: use trace, debug, information, warning, error, critical or none";
    }
}
