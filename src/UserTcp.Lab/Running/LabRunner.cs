using System.Diagnostics;
using System.Globalization;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>How to run: real timers or short ones, where the capture goes, the faults' seed, UserTcp's RTO formula and CUBIC arithmetic.</summary>
public sealed record LabOptions
{
    /// <summary>
    /// How UserTcp's retransmission timeout follows from its RTT samples in every scenario: RFC 6298's (the default) or
    /// Linux's, to compare UserTcp's retransmissions with the kernel's like with like (<c>--rto-formula</c>).
    /// </summary>
    public RtoFormula RtoFormula { get; init; } = RtoFormula.Rfc6298;
    /// <summary>
    /// How CUBIC computes its congestion avoidance in every scenario: RFC 9438's floating point (the default) or Linux's
    /// integer tcp_cubic.c, to compare UserTcp's cwnd with the kernel's like with like (<c>--cubic-arithmetic</c>).
    /// </summary>
    public CubicArithmetic CubicArithmetic { get; init; } = CubicArithmetic.Rfc9438;
    /// <summary>
    /// The congestion control of both sides in every scenario (<c>--cc</c>): the kernel's sockets run it (TCP_CONGESTION,
    /// set on each and read back) and UserTcp's connections too. CUBIC, Linux's default and UserTcp's, unless told otherwise.
    /// </summary>
    public CongestionControlAlgorithm CongestionControl { get; init; } = CongestionControlAlgorithm.Cubic;
    /// <summary>RACK's rules in every scenario: RFC 8985's (the default) or Linux's, as the kernel runs them (<c>--rack-rules</c>).</summary>
    public RackRules RackRules { get; init; } = RackRules.Rfc8985;
    /// <summary>
    /// UserTcp's side of every scenario follows Linux 6.18 wherever its default follows an RFC (<c>--linux-rules</c>,
    /// <see cref="TcpConfig.WithLinuxRules"/>), over <see cref="RtoFormula"/>, <see cref="CubicArithmetic"/> and <see cref="RackRules"/>.
    /// </summary>
    public bool LinuxRules { get; init; }
    /// <summary>Wait out the real timers (60 s TIME-WAIT, Linux's retry counts) instead of the short ones.</summary>
    public bool Full { get; init; }
    /// <summary>Where the run's pcapng capture is written (a file per run); the system's temporary folder by default.</summary>
    public string? CaptureDirectory { get; init; }
    public int FaultSeed { get; init; } = 1;
    /// <summary>Told the name of each namespace a run makes, as soon as it exists (tests check that it is gone afterwards).</summary>
    public Action<string>? NamespaceCreated { get; init; }
}

/// <summary>One run of a scenario in one role: the record, the verdict, how long it took and where its capture is.</summary>
public sealed record LabResult(LabScenario Scenario, LabRole Role, LabRecord Record, LabVerdict Verdict, TimeSpan Duration, string CapturePath)
{
    /// <summary>The network namespace the run made (and removed), e.g. usertcp-lab-4242-3.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>"last-ack-lost.active", for file names.</summary>
    public string Key => $"{Scenario.Name}.{Role.Key()}";
}

/// <summary>
/// Runs a scenario for real: a namespace of its own (usertcp-lab-PID-N, loopback up, IPv6 off), the kernel's knobs set
/// inside it, UserTcp on utcp0 with the scenario's faults and a pcapng capture, the kernel's socket table sampled about
/// every millisecond; then the scenario drives both sides within its time bound, and everything is torn down in order
/// (stack, kernel sockets, namespace), also on failure.
/// </summary>
public static class LabRunner
{
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(1);

    private static readonly SemaphoreSlim s_warmUp = new(1, 1);
    private static bool s_warm;

    public static async Task<LabResult> RunAsync(LabScenario scenario, LabRole role, LabOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        await WarmUpAsync(cancellationToken).ConfigureAwait(false);
        if (!scenario.Roles.Contains(role)) throw new ArgumentException($"{scenario.Name} has no {role.Key()} role", nameof(role));
        long started = Stopwatch.GetTimestamp();
        string directory = options.CaptureDirectory ?? Path.GetTempPath();
        Directory.CreateDirectory(directory);
        string capture = Path.Combine(directory, $"{scenario.Name}.{role.Key()}.pcapng");
        IReadOnlyList<string> faultTexts = scenario.Faults(role);
        FaultRule[] faults = [.. faultTexts.Select(FaultRule.Parse)];
        IReadOnlyDictionary<string, string> wanted = scenario.KernelSettings(role, options.Full);

        using ScratchNamespace ns = ScratchNamespace.Create("lab");
        options.NamespaceCreated?.Invoke(ns.Name);
        IReadOnlyDictionary<string, string> settings = ApplyKernelSettings(ns, wanted);
        IReadOnlyDictionary<string, long> countersBefore = KernelCounters.Read(ns);
        IReadOnlyDictionary<string, long> userTcpBefore = new Dictionary<string, long>();
        var wire = new WireRecorder();
        var engine = new EngineRecorder(segments: true, allKinds: true);
        LiveStack live = new LiveStackBuilder
        {
            Namespace = ns.Name,
            Faults = faults,
            FaultSeed = options.FaultSeed,
            Tap = wire, // the capture is written after the run, with the kernel's instants (below)
            Events = engine,
            Tcp = UserTcpConfig(scenario, role, options),
            CloseOnDispose = CloseMode.Reset,
            // The kernel's TCP runs in softirq context, ahead of every process: UserTcp reads and answers at nice -20 too.
            HighPriorityReaders = true,
        }.Start();
        KernelSocketSampler? sampler = null;
        KernelTransmitTimes? transmitTimes = null;
        string? timingFailure = null;
        LabSession? session = null;
        string? failure = null;
        TimeSpan end;
        IReadOnlyList<WirePacket> packets;
        IReadOnlyList<UserTcp.Engine.TcpEvent> events;
        IReadOnlyList<KernelTransmission> sent;
        DateTimeOffset epoch;
        IReadOnlyDictionary<string, long> counters, userTcpCounters;
        try
        {
            userTcpBefore = TcpCounters(live.Stack.Counters);
            sampler = KernelSocketSampler.Start(ns, () => live.Now, SampleInterval);
            transmitTimes = KernelTransmitTimes.Start(ns, live.Settings.InterfaceName, live.Settings.Address, () => live.Now, out timingFailure);
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            TimeSpan limit = scenario.Bound(options.Full);
            bound.CancelAfter(limit);
            session = new LabSession(scenario, role, options.Full, options.CongestionControl, ns, live, engine, wire, sampler, bound.Token);
            try
            {
                await scenario.RunAsync(session).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                failure = string.Create(CultureInfo.InvariantCulture, $"the run reached its bound of {limit.TotalSeconds:0} s");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Only the caller's cancellation ends the run without a record: a cancellation of the scenario's own making
                // is its failure, as any other exception is.
                failure = $"{e.GetType().Name}: {e.Message}";
            }
            end = live.Now;
            sampler.Settle();
            counters = KernelCounters.Change(countersBefore, KernelCounters.Read(ns));
            userTcpCounters = KernelCounters.Change(userTcpBefore, TcpCounters(live.Stack.Counters));
            transmitTimes?.Settle();
            // What the run showed, before tearing down adds resets of its own.
            packets = wire.Packets;
            events = engine.Events;
            sent = transmitTimes?.Sent ?? [];
            epoch = DateTimeOffset.UtcNow - live.Now;
        }
        finally
        {
            // Each step runs even when one before it throws: the kernel's sockets are closed whatever the stack's disposal did.
            try
            {
                try
                {
                    sampler?.Dispose();
                    transmitTimes?.Dispose();
                }
                finally
                {
                    await live.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                foreach (KernelSocket socket in session?.KernelSockets ?? []) socket.Dispose();
            }
        }

        IReadOnlyList<WirePacket> timed = KernelTransmitTimes.Apply(packets, sent);
        wire.WriteCapture(capture, timed, epoch, live.Settings.InterfaceName, live.Settings.LinkDescription);
        var record = new LabRecord
        {
            Scenario = scenario.Name,
            Role = role,
            // Events follow the packets UserTcp read, at the instants it read them; the record shows when the kernel sent them.
            Packets = timed,
            Events = EventAlignment.AlignToLink(events, packets),
            KernelSockets = sampler.All,
            Marks = session.Marks,
            Readings = session.Readings,
            KernelSettings = settings,
            KernelCongestionControl = options.CongestionControl,
            Faults = faultTexts,
            UserTcpConfig = live.Stack.TcpConfig,
            End = end,
            KernelSamples = sampler.Samples,
            KernelLongestGap = sampler.LongestGap,
            PacketTiming = PacketTiming(timed, timingFailure ?? transmitTimes?.Failure),
            KernelCounters = counters,
            UserTcpCounters = userTcpCounters,
            Failure = failure ?? sampler.Failure,
        };
        LabVerdict verdict = scenario.Judge(record);
        return new LabResult(scenario, role, record, verdict, Stopwatch.GetElapsedTime(started), capture) { Namespace = ns.Name };
    }

    /// <summary>The TcpConfig UserTcp runs a scenario with: the scenario's timers and limits, the options' congestion control, RTO formula, CUBIC arithmetic and RACK rules, then every Linux rule under <see cref="LabOptions.LinuxRules"/>.</summary>
    public static TcpConfig UserTcpConfig(LabScenario scenario, LabRole role, LabOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        TcpConfig tcp = scenario.UserTcpConfig(role, options.Full) with
        {
            CongestionControl = options.CongestionControl,
            RtoFormula = options.RtoFormula,
            CubicArithmetic = options.CubicArithmetic,
            RackRules = options.RackRules,
        };
        return options.LinuxRules ? tcp.WithLinuxRules() : tcp;
    }

    /// <summary>
    /// Runs a connection each way through a faulty, tapped live stack once per process, unrecorded, so the first
    /// scenario's handshake is not slowed by the runtime compiling its code: a handshake that takes half a second teaches
    /// the kernel an RTT, and so an RTO, that has nothing to do with the link. UserTcp's active open is compiled here too
    /// (its connect, SYN-SENT, the SYN-ACK's arrival), so that the first scenario where UserTcp connects does not teach
    /// UserTcp such an RTT either (its RTO starts at 3 × the handshake's sample, RFC 6298 §2.2).
    /// </summary>
    public static async Task WarmUpAsync(CancellationToken cancellationToken = default)
    {
        await s_warmUp.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (s_warm) return;
            using ScratchNamespace ns = ScratchNamespace.Create("lab");
            LiveStack live = new LiveStackBuilder
            {
                Namespace = ns.Name,
                Faults = [FaultRule.Parse("delay=1ms port=9")],
                Tap = new WireRecorder(), // as a run's: its capture is written after the run, not on the packet path
                Events = new EngineRecorder(allKinds: true),
                CloseOnDispose = CloseMode.Reset,
            }.Start();
            try
            {
                using UserTcpListener listener = live.Stack.Listen(7);
                using KernelSocket client = KernelSocket.Create(ns, CongestionControlAlgorithm.Cubic);
                Task connecting = client.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(LiveDefaults.StackAddressText), 7), TimeSpan.FromSeconds(10));
                UserTcpConnection accepted = await listener.AcceptAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                await connecting.ConfigureAwait(false);
                client.Send(new byte[1000]);
                byte[] buffer = new byte[2000];
                int read = await accepted.ReadAsync(buffer, cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                await accepted.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                client.Read(TimeSpan.FromSeconds(10));
                await accepted.CloseAsync(cancellationToken).ConfigureAwait(false);
                client.ReadToEnd(TimeSpan.FromSeconds(5));
                await ActiveOpenAsync(ns, live, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await live.DisposeAsync().ConfigureAwait(false);
            }
            s_warm = true;
        }
        finally
        {
            s_warmUp.Release();
        }
    }

    /// <summary>The warm-up's other way: UserTcp connects to a kernel listener, sends, reads the echo and closes.</summary>
    private static async Task ActiveOpenAsync(ScratchNamespace ns, LiveStack live, CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromSeconds(10);
        using KernelSocket server = KernelSocket.Listen(ns, CongestionControlAlgorithm.Cubic, new System.Net.IPEndPoint(LiveDefaults.KernelAddress.Address, 7));
        Task<KernelSocket> accepting = server.AcceptAsync(timeout);
        UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(LiveDefaults.KernelHost, 7), cancellationToken)
            .WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        using KernelSocket kernel = await accepting.ConfigureAwait(false);
        await connection.WriteAsync(new byte[1000], cancellationToken).ConfigureAwait(false);
        byte[] data = kernel.Read(timeout) ?? [];
        kernel.Send(data);
        byte[] buffer = new byte[2000];
        await connection.ReadAsync(buffer, cancellationToken).AsTask().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
        kernel.ReadToEnd(TimeSpan.FromSeconds(5));
    }

    /// <summary>"the kernel's 12 packets are timed by the kernel's clock", or how many were not and why.</summary>
    // UserTcp's Tcp and TcpExt counters by nstat's names, as KernelCounters.Read gives the kernel's (its own UserTcp* ones left out).
    private static Dictionary<string, long> TcpCounters(UserTcp.Engine.EngineCounters counters) =>
        counters.Snapshot().Where(c => c.Key.StartsWith("Tcp", StringComparison.Ordinal)).ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);

    internal static string PacketTiming(IReadOnlyList<WirePacket> packets, string? failure)
    {
        int fromKernel = packets.Count(p => !p.ToKernel);
        int timed = packets.Count(p => p.ReadAt is not null);
        if (timed == fromKernel && failure is null) return $"the kernel's {fromKernel} packets are timed by the kernel's clock, when it sent them";
        return $"{timed} of the kernel's {fromKernel} packets are timed by the kernel's clock; the others when UserTcp read them"
            + (failure is null ? "" : $" ({failure})");
    }

    /// <summary>
    /// Writes one knob under /proc/sys/net/ipv4 and returns what is in force after; call it on a thread inside the run's
    /// namespace (<see cref="ScratchNamespace.Invoke{T}"/>), whose /proc/sys it then is.
    /// </summary>
    internal static string WriteKernelSetting(string name, string value)
    {
        string path = Path.Combine("/proc/sys/net/ipv4", name);
        File.WriteAllText(path, value);
        return File.ReadAllText(path).Trim();
    }

    // Writes each knob under /proc/sys/net/ipv4 from a thread inside the namespace, and reads back what is in force.
    private static Dictionary<string, string> ApplyKernelSettings(ScratchNamespace ns, IReadOnlyDictionary<string, string> wanted) => ns.Invoke(() =>
    {
        var applied = new Dictionary<string, string>();
        foreach ((string name, string value) in wanted) applied[name] = WriteKernelSetting(name, value);
        foreach (string name in (string[])["tcp_syn_linear_timeouts", "tcp_early_retrans", "tcp_recovery", "tcp_sack"])
        {
            string path = Path.Combine("/proc/sys/net/ipv4", name);
            if (!applied.ContainsKey(name) && File.Exists(path)) applied[name] = File.ReadAllText(path).Trim();
        }
        return applied;
    });
}
