using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>
/// Runs the back-quoted blocks of a script against UserTcp's configuration: sysctl writes through
/// <see cref="LinuxSysctls"/>, <c>defaults.sh</c>-style files read from the script's directory tree, route metrics,
/// and the queue and offload settings of the test device. What has no equivalent is "not applied": a notice, reported
/// once, under <c>--relaxed</c>; an error naming it otherwise.
/// </summary>
internal sealed class ScriptSetup(string? directory, Ipv4Address remoteIp, bool relaxed, Action<string> notice, Action<string>? trace)
{
    private const int MaxFileDepth = 8;

    private readonly SysctlValues _values = new();
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    // The configuration before the last set_sysctls.py, which the restore script puts back.
    private (TcpConfig Config, Dictionary<string, string> Values)? _restore;
    // The configuration before the first ip-route command, which route metrics bound.
    private TcpConfig? _beforeRoutes;
    // Outcomes for settings several sysctls decide together: the last of a block is reported when the block ends.
    private readonly Dictionary<string, (int Line, string From, SetupOutcome Outcome)> _combined = new(StringComparer.Ordinal);

    /// <summary>
    /// The test device's queue refuses every segment (<c>tc qdisc add|replace dev tun0 root pfifo limit 0</c>, until the
    /// qdisc is deleted or replaced by one with room): the stack hears of each refusal as Linux's TCP hears NET_XMIT_DROP.
    /// </summary>
    public bool LocalQueueRefuses { get; private set; }

    /// <summary>
    /// The route's MTU the last <c>ip route</c> command set, once (null when none has since the last call): existing
    /// connections take it as their <see cref="TcpConnection.RouteMtu"/>, as Linux's sockets follow their route's MTU.
    /// </summary>
    public int? TakeRouteMtu()
    {
        int? mtu = _routeMtu;
        _routeMtu = null;
        return mtu;
    }

    private int? _routeMtu;

    /// <summary><c>ip tcp_metrics flush</c>: forgets the stack's per-destination state (its Fast Open cookies); null before the stack exists.</summary>
    public Action? FlushMetrics { get; set; }

    /// <summary>Runs one block; returns the configuration for sockets made from now on.</summary>
    public TcpConfig Run(int line, string block, TcpConfig config, bool connectionsExist)
    {
        TcpConfig before = config;
        config = RunText(line, block, "", config, depth: 0);
        foreach ((int at, string from, SetupOutcome outcome) in _combined.Values) Report(at, from, outcome with { Combined = null });
        _combined.Clear();
        if (connectionsExist && config != before)
        {
            trace?.Invoke($"line {line}: the new settings apply to sockets made from now on; existing connections keep theirs");
        }
        return config;
    }

    private TcpConfig RunText(int line, string text, string from, TcpConfig config, int depth)
    {
        foreach (ShellCommand command in ShellReader.Read(text))
        {
            config = RunCommand(line, command, from, config, depth);
        }
        return config;
    }

    private TcpConfig RunCommand(int line, ShellCommand command, string from, TcpConfig config, int depth)
    {
        switch (command)
        {
            case SysctlCommand sysctl:
                if (sysctl.SavesForRestore) _restore = (config, new Dictionary<string, string>(_values.All, StringComparer.Ordinal));
                foreach (SysctlAssignment setting in sysctl.Settings)
                {
                    SetupOutcome outcome = LinuxSysctls.Apply(setting, ref config, _values);
                    _values.Set(setting.Name, setting.Value);
                    Report(line, from, outcome);
                }
                return config;
            case RestoreSysctlsCommand restore:
                if (_restore is not { } saved)
                {
                    Report(line, from, new SetupOutcome(SetupEffect.AlreadySo, restore.Text, "no set_sysctls.py ran before it"));
                    return config;
                }
                _values.Replace(saved.Values);
                _restore = null;
                Report(line, from, new SetupOutcome(SetupEffect.Applied, restore.Text, "the settings before the last set_sysctls.py are back"));
                return saved.Config;
            case RunFileCommand file:
                return RunFile(line, file, from, config, depth);
            case RouteCommand route:
                return Route(line, from, route, config);
            case QdiscCommand qdisc:
                Report(line, from, Qdisc(qdisc));
                return config;
            case OffloadCommand offload:
                Report(line, from, offload.Features.All(f => !f.On)
                    ? new SetupOutcome(SetupEffect.AlreadySo, offload.Text, "UserTcp sends no segment larger than the MSS")
                    : new SetupOutcome(SetupEffect.NotApplied, offload.Text, "UserTcp has no segmentation offload"));
                return config;
            case FlushMetricsCommand flush:
                // The stack does not exist before the first packet or call: nothing is cached yet then.
                FlushMetrics?.Invoke();
                Report(line, from, new SetupOutcome(SetupEffect.Applied, flush.Text, "the Fast Open cookie cache is empty (UserTcp caches no other metrics per destination)"));
                return config;
            case ModuleParameterCommand { Module: "tcp_cubic", Parameter: "hystart_detect", Value: "3" } hyStart:
                // Linux's default: HyStart's ACK-train and delay detection both, which UserTcp's CUBIC always runs.
                Report(line, from, new SetupOutcome(SetupEffect.AlreadySo, hyStart.Text, "CUBIC's HyStart detects by ACK train and by delay"));
                return config;
            case ModuleParameterCommand module:
                Report(line, from, new SetupOutcome(SetupEffect.NotApplied, module.Text, $"no equivalent in UserTcp for {module.Module}'s {module.Parameter}"));
                return config;
            default:
                Report(line, from, new SetupOutcome(SetupEffect.NotApplied, command.Text, "no equivalent in UserTcp"));
                return config;
        }
    }

    private TcpConfig RunFile(int line, RunFileCommand file, string from, TcpConfig config, int depth)
    {
        string? path = directory is null ? null : Path.GetFullPath(Path.Combine(directory, file.Path));
        if (path is null || !File.Exists(path))
        {
            Report(line, from, new SetupOutcome(SetupEffect.NotApplied, file.Text,
                directory is null ? "the script has no directory to find it in" : $"no file at {path}"));
            return config;
        }
        if (depth >= MaxFileDepth)
        {
            Report(line, from, new SetupOutcome(SetupEffect.NotApplied, file.Text, $"shell files nest deeper than {MaxFileDepth}"));
            return config;
        }
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // File.Exists is true for a symlink whose target is gone (upstream's common/ files are often links): say so, not crash.
            Report(line, from, new SetupOutcome(SetupEffect.NotApplied, file.Text, $"cannot read {path}: {e.Message}"));
            return config;
        }
        trace?.Invoke($"line {line}: reading {file.Path}");
        return RunText(line, text, file.Path + ": ", config, depth + 1);
    }

    /// <summary>
    /// Route metrics towards the script's address: <c>advmss</c> and <c>mtu</c> bound UserTcp's MSS (an MTU less the 40
    /// bytes of IPv4 and TCP headers), <c>initcwnd</c> is the initial window, <c>rto_min</c> the minimum RTO. The
    /// <c>mtu</c> also reaches existing connections (<see cref="TakeRouteMtu"/>); the others are for sockets made later.
    /// </summary>
    private TcpConfig Route(int line, string from, RouteCommand route, TcpConfig config)
    {
        if (route.Ipv6 || (route.Destination != "default" && (!Ipv4Address.TryParse(route.Destination.Split('/')[0], out Ipv4Address to) || to != remoteIp)))
        {
            Report(line, from, new SetupOutcome(SetupEffect.NotApplied, route.Text, $"UserTcp talks only to {remoteIp}, over IPv4"));
            return config;
        }
        // A route change replaces the route's metrics: each one counts from the settings before the first route.
        TcpConfig unrouted = _beforeRoutes ??= config;
        config = config with { Mss = unrouted.Mss, InitialWindowSegments = unrouted.InitialWindowSegments, MinRto = unrouted.MinRto };
        _routeMtu = unrouted.Mss + 40; // the device's, unless the route says otherwise
        foreach (RouteMetric metric in route.Metrics)
        {
            string setting = $"route {metric}";
            bool number = SysctlKnob.TryInteger(metric.Value, out long value);
            SetupOutcome outcome;
            switch (metric.Name)
            {
                case "advmss" when number && value is >= 88 and <= ushort.MaxValue - 40:
                    config = config with { Mss = (ushort)Math.Min(config.Mss, value) };
                    outcome = new SetupOutcome(SetupEffect.Applied, setting, $"MSS {config.Mss}");
                    break;
                case "mtu" when number && value is >= 128 and <= ushort.MaxValue:
                    config = config with { Mss = (ushort)Math.Min(config.Mss, value - 40) };
                    _routeMtu = (int)value;
                    outcome = new SetupOutcome(SetupEffect.Applied, setting, $"MSS {config.Mss} (the MTU less 40 bytes of headers)");
                    break;
                case "initcwnd" when number && value is >= 1 and <= 1000:
                    config = config with { InitialWindowSegments = (int)value };
                    outcome = new SetupOutcome(SetupEffect.Applied, setting, $"initial window {value} segments");
                    break;
                case "rto_min" when RouteTime(metric.Value) is TimeSpan minimum:
                    config = config with { MinRto = minimum };
                    outcome = new SetupOutcome(SetupEffect.Applied, setting, $"minimum RTO {minimum.TotalMilliseconds} ms");
                    break;
                default:
                    outcome = new SetupOutcome(SetupEffect.NotApplied, setting, "no equivalent in UserTcp");
                    break;
            }
            Report(line, from, outcome);
        }
        return config;
    }

    /// <summary>ip-route's times: <c>200ms</c>, <c>1s</c>, or plain milliseconds.</summary>
    private static TimeSpan? RouteTime(string text)
    {
        (string digits, double scale) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 1.0)
            : text.EndsWith("us", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1000.0)
            : (text, 1.0);
        return double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value) && value > 0
            ? TimeSpan.FromMilliseconds(value * scale)
            : null;
    }

    /// <summary>
    /// The test device's queue: UserTcp's segments reach the script at once and in order, which is what a FIFO
    /// queue with room gives; a FIFO of no room (<c>limit 0</c>) makes the device refuse every segment until it is
    /// deleted or replaced (<see cref="LocalQueueRefuses"/>); fq's pacing has no equivalent.
    /// </summary>
    private SetupOutcome Qdisc(QdiscCommand qdisc)
    {
        const string AtOnce = "UserTcp's segments reach the script at once, in order";
        bool refused = LocalQueueRefuses;
        // Any root qdisc the command installs replaces the one before it, a refusing one included.
        LocalQueueRefuses = qdisc is { Action: not "delete", Kind: "pfifo" or "bfifo", Limit: 0 };
        return qdisc switch
        {
            { Action: "delete" } => new(refused ? SetupEffect.Applied : SetupEffect.AlreadySo, qdisc.Text, AtOnce),
            { Kind: "pfifo" or "pfifo_fast" or "bfifo", Limit: null or > 0 } => new(SetupEffect.AlreadySo, qdisc.Text, AtOnce),
            { Kind: "pfifo" or "bfifo", Limit: 0 } => new(SetupEffect.Applied, qdisc.Text,
                "the device refuses every segment: the stack hears of each refusal at once, as Linux's TCP hears NET_XMIT_DROP"),
            _ => new(SetupEffect.NotApplied, qdisc.Text, $"UserTcp's segments are not queued or paced ({qdisc.Kind ?? "no"} qdisc)"),
        };
    }

    private void Report(int line, string from, SetupOutcome outcome)
    {
        if (outcome.Combined is string setting)
        {
            _combined[setting] = (line, from, outcome);
            return;
        }
        if (outcome.Effect is SetupEffect.Applied or SetupEffect.AlreadySo)
        {
            trace?.Invoke($"line {line}: {from}{outcome}");
            return;
        }
        if (!relaxed)
        {
            throw new ScriptFailureException(line, outcome.Effect == SetupEffect.Approximated
                ? $"{from}`{outcome.Setting}` has only an approximation in UserTcp ({outcome.Explanation}); run with --relaxed to go on with it"
                : $"{from}`{outcome.Setting}` has no equivalent in UserTcp ({outcome.Explanation}); run with --relaxed to go on without it");
        }
        if (_reported.Add(outcome.Setting)) notice($"line {line}: {from}{outcome}");
    }

    private sealed class SysctlValues : ISysctlValues
    {
        private Dictionary<string, string> _values = new(StringComparer.Ordinal);

        public string? this[string name] => _values.GetValueOrDefault(name);

        public IReadOnlyDictionary<string, string> All => _values;

        public void Set(string name, string value) => _values[name] = value.Trim();

        public void Replace(Dictionary<string, string> values) => _values = values;
    }
}
