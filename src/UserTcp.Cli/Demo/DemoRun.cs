using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.RegularExpressions;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Cli.Demo;

/// <summary>What `usertcp demo` runs: the download size, the echo size, the TIME-WAIT and RTO formula to use, an optional capture.</summary>
internal sealed record DemoSettings(long HttpBytes, int EchoBytes, TimeSpan TimeWait, string? Pcap, RtoFormula RtoFormula = RtoFormula.Rfc6298)
{
    /// <summary>The TcpConfig of the demo's stack, so of every connection its services accept.</summary>
    public TcpConfig Tcp => new() { TimeWait = TimeWait, RtoFormula = RtoFormula };
}

/// <summary>
/// The demo: in a namespace made for it, UserTcp serves the classic services on a TUN device and the kernel's own
/// clients talk to it — curl downloads over HTTP, nc half-closes against echo, a bash client watches daytime close
/// first. Each exchange is checked, and each connection is shown with its state sequence on both sides and a ladder.
/// </summary>
internal sealed partial class DemoRun(DemoSettings settings, TextWriter output)
{
    private const string Iface = LiveDefaults.InterfaceName;
    private const string KernelCidr = LiveDefaults.KernelAddressText;
    private const string Stack = LiveDefaults.StackAddressText;
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan ProgramTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(3);
    private static readonly (string Tool, string Package)[] Tools =
        [("curl", "curl"), ("nc", "netcat-openbsd"), ("bash", "bash"), ("ss", "iproute2"), ("ip", "iproute2"), ("ping", "iputils-ping")];

    private int _checks;
    private int _failures;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Prerequisites.Require(Tools, "demo");
        // A refusal (no root) is reported by the caller in one line, before anything is printed.
        ScratchNamespace ns = ScratchNamespace.Create("demo");
        output.WriteLine("usertcp demo: UserTcp serves echo, discard, daytime, chargen and HTTP on a TUN device, and the");
        output.WriteLine("kernel's own curl, nc and bash are its clients. Everything happens in a network namespace made");
        output.WriteLine("for the demo and removed at its end; the host's interfaces and routes are not touched.");
        output.WriteLine();
        string name = ns.Name;
        IReadOnlyList<int> started = [];
        bool interrupted = false;
        ExceptionDispatchInfo? failure = null;
        try
        {
            Line("setup");
            Note($"namespace  {name}: loopback up, IPv6 off"
                + (ns.RemovedStale.Count > 0 ? $"; removed {ns.RemovedStale.Count} left by crashed runs ({string.Join(", ", ns.RemovedStale)})" : ""));
            await RunInNamespaceAsync(ns, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            interrupted = true;
        }
        catch (Exception e)
        {
            // Caught so that every finally on the way runs (an unhandled exception skips them) and the namespace goes.
            failure = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            started = ns.StartedProcessIds;
            ns.Dispose();
        }
        failure?.Throw();

        output.WriteLine();
        Line("cleanup");
        int running = started.Count(pid => Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}"));
        Check(!ScratchNamespace.Exists(name) && running == 0,
            $"namespace {name} removed, and {Iface} with it; {Plural(started.Count, "program")} run in it, {running} still running");
        if (interrupted)
        {
            output.WriteLine();
            output.WriteLine("usertcp demo: interrupted; cleaned up");
            return 130;
        }
        output.WriteLine();
        output.WriteLine(_failures == 0
            ? $"usertcp demo: all {_checks} checks passed"
            : $"usertcp demo: {_failures} of {_checks} checks failed");
        return _failures == 0 ? 0 : 1;
    }

    private async Task RunInNamespaceAsync(ScratchNamespace ns, CancellationToken cancellationToken)
    {
        var trace = new EngineRecorder();
        LiveStack live;
        try
        {
            live = new LiveStackBuilder
            {
                Namespace = ns.Name,
                CapturePath = settings.Pcap,
                Tcp = settings.Tcp,
                Events = trace,
            }.Start();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(1, $"cannot write --pcap {settings.Pcap}: {e.Message}");
        }
        NetStack stack = live.Stack;
        ServiceHost? host = null;
        KernelSocketSampler? sampler = null;
        try
        {
            host = ServiceHost.Start(stack);
            Note($"tun        {Iface} in the namespace: kernel {KernelCidr} ─── UserTcp {Stack}, mtu {live.Settings.Mtu}");
            Note($"services   {host.Describe()} on {Stack}");
            Note($"timers     TIME-WAIT shortened to {Seconds(settings.TimeWait)} for the demo (UserTcp's default and Linux's: 60 s); "
                + $"RTO formula {stack.TcpConfig.RtoFormula.Name()} (--rto-formula)");
            Note("states     UserTcp's from its engine's events; the kernel's from the namespace's socket table (the sock_diag");
            Note($"           dump ss -tan prints), sampled every {SampleInterval.TotalMilliseconds:F0} ms: a state shorter than that may not show");
            if (settings.Pcap is not null) Note($"capture    every packet in and out goes to {settings.Pcap}");
            sampler = KernelSocketSampler.Start(ns, () => stack.Now, SampleInterval);

            await HttpAsync(ns, trace, sampler, cancellationToken).ConfigureAwait(false);
            await EchoAsync(ns, trace, sampler, cancellationToken).ConfigureAwait(false);
            await DaytimeAsync(ns, trace, sampler, cancellationToken).ConfigureAwait(false);
            await PingAsync(ns, stack, cancellationToken).ConfigureAwait(false);
            output.WriteLine();
            Line("sampling");
            Note(sampler.Failure is string failure
                ? $"the kernel's socket table could not be read: {failure}"
                : string.Create(CultureInfo.InvariantCulture,
                    $"the kernel's socket table was read {sampler.Samples} times, every {stack.Now.TotalMilliseconds / Math.Max(1, sampler.Samples):F1} ms on average (longest gap {sampler.LongestGap.TotalMilliseconds:F1} ms)"));
        }
        finally
        {
            sampler?.Dispose();
            await LiveShutdown.StopAsync(host, live).ConfigureAwait(false);
        }
    }

    private async Task HttpAsync(ScratchNamespace ns, EngineRecorder trace, KernelSocketSampler sampler, CancellationToken cancellationToken)
    {
        long size = settings.HttpBytes;
        string url = string.Create(CultureInfo.InvariantCulture, $"http://{Stack}/bytes/{size}");
        Section($"1. HTTP: the kernel's curl downloads {size.ToString("N0", CultureInfo.InvariantCulture)} bytes from UserTcp", $"curl {url}   (the body streams into a SHA-256)");
        // The body streams through curl's stdout into a SHA-256; curl reports on stderr.
        using PeerProgram curl = PeerProgram.Start(["curl", "-sS", "--fail", "--noproxy", "*",
            "--max-time", "60", "-w", "%{stderr}%{http_code} %{size_download} %{time_total} %{local_port}\n", url], ns.Start, hashOutput: true);
        await curl.WaitAsync(ProgramTimeout, cancellationToken).ConfigureAwait(false);

        string report = curl.ErrorText.Trim().Split('\n')[^1];
        string[] fields = report.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        bool parsed = fields.Length == 4
            & long.TryParse(fields.ElementAtOrDefault(1), NumberStyles.None, CultureInfo.InvariantCulture, out long received)
            & double.TryParse(fields.ElementAtOrDefault(2), NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
            & ushort.TryParse(fields.ElementAtOrDefault(3), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port);
        bool downloaded = curl.ExitCode == 0 && parsed && fields[0] == "200" && received == size && curl.OutputLength == size;
        Check(downloaded, downloaded
            ? $"curl: HTTP 200, {received.ToString(CultureInfo.InvariantCulture)} bytes in {seconds.ToString("F3", CultureInfo.InvariantCulture)} s ({Units.Rate(received, TimeSpan.FromSeconds(seconds))})"
            : $"curl: {curl.Failure()}; it reported '{report}' and wrote {curl.OutputLength} bytes, expected HTTP 200 and {size} bytes");
        if (!downloaded)
        {
            return;
        }
        string sha = curl.OutputSha256!;
        string expected = GeneratedBody.Sha256Hex(size);
        Check(sha == expected, sha == expected
            ? $"SHA-256 {sha[..16]}… is the documented body's (byte i = byte i % 8 of SplitMix64(i / 8))"
            : $"SHA-256 {sha} differs from the documented body's {expected}");

        FourTuple? connection = Latest(trace.Connections(HttpService.Port), c => c.Remote.Port == port);
        await ShowConnectionAsync(trace, sampler, connection, cancellationToken).ConfigureAwait(false);
    }

    private async Task EchoAsync(ScratchNamespace ns, EngineRecorder trace, KernelSocketSampler sampler, CancellationToken cancellationToken)
    {
        int size = settings.EchoBytes;
        Section($"2. echo with a half-close: nc sends {size.ToString("N0", CultureInfo.InvariantCulture)} bytes, then shuts down its sending side (nc -N)",
            $"nc -N {Stack} 7 < {size} bytes");
        byte[] input = new byte[size];
        GeneratedBody.Fill(0, input);
        using PeerProgram nc = PeerProgram.Start(["nc", "-N", "-w", "10", Stack, "7"], ns.Start, input);
        await nc.WaitAsync(ProgramTimeout, cancellationToken).ConfigureAwait(false);
        byte[] echoed = nc.Output;
        Check(nc.ExitCode == 0 && echoed.AsSpan().SequenceEqual(input), nc.ExitCode == 0
            ? $"nc got back {(echoed.AsSpan().SequenceEqual(input) ? "the same" : "different")} {echoed.Length.ToString(CultureInfo.InvariantCulture)} bytes"
            : $"nc {nc.Failure()}");

        FourTuple? connection = Latest(trace.Connections(EchoService.Port), _ => true);
        if (connection is FourTuple echo)
        {
            await trace.WaitForStateAsync(echo, TcpState.Closed, CloseTimeout, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<TcpEvent> events = trace.EventsOf(echo);
            int finIn = IndexOf(events, e => e.Kind == TcpEventKind.SegmentIn && e.Segment.Flags.HasFlag(TcpFlags.Fin));
            int finOut = IndexOf(events, e => e.Kind == TcpEventKind.SegmentOut && e.Segment.Flags.HasFlag(TcpFlags.Fin));
            int lastData = -1, segments = 0;
            long bytes = 0;
            for (int i = 0; i < events.Count; i++)
            {
                if (events[i].Kind == TcpEventKind.SegmentOut && events[i].Segment.PayloadLength > 0)
                {
                    lastData = i;
                    if (finIn < 0 || i < finIn) continue;
                    segments++;
                    bytes += events[i].Segment.PayloadLength;
                }
            }
            // The half-close: nc's FIN first, UserTcp's after its last data (it may ride on it). Whether echo still had data
            // to send when nc's FIN arrived is timing: the FIN may follow nc's last data by microseconds, or ride on it.
            bool halfClose = finIn >= 0 && finOut > finIn && finOut >= lastData;
            Check(halfClose, halfClose
                ? (segments > 0
                    ? $"half-close: after nc's FIN arrived, UserTcp still sent {Plural(segments, "data segment")} ({bytes.ToString(CultureInfo.InvariantCulture)} bytes), "
                    : "half-close: echo had sent everything back by the time nc's FIN arrived; ")
                  + $"then its own FIN {Milliseconds(events[finOut].Time - events[finIn].Time)} later"
                : finIn < 0 ? "half-close: nc's FIN never arrived"
                : finOut < 0 ? "half-close: UserTcp sent no FIN"
                : finOut < finIn ? "half-close: UserTcp's FIN went out before nc's"
                : "half-close: UserTcp's FIN went out before its last data");
        }
        await ShowConnectionAsync(trace, sampler, connection, cancellationToken).ConfigureAwait(false);
    }

    private async Task DaytimeAsync(ScratchNamespace ns, EngineRecorder trace, KernelSocketSampler sampler, CancellationToken cancellationToken)
    {
        // The client holds its socket until the demo closes its stdin (at most 10 s), so CLOSE-WAIT lasts until the demo has looked.
        const string Client = $"exec 3<>/dev/tcp/{Stack}/13 || exit 1; cat <&3; echo \"<eof>\"; read -r -t 10 _ || :";
        Section("3. daytime: UserTcp sends one line and closes first (the active close)",
            $"bash -c '{Client}'  (the client holds its socket after the end of stream until the demo has looked)");
        using PeerProgram client = PeerProgram.Start(["bash", "-c", Client], ns.Start, keepInputOpen: true);
        bool eof = await client.WaitForOutputAsync("<eof>", TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        if (eof)
        {
            // The kernel's delayed ACK of UserTcp's FIN must arrive before the client closes, or its FIN rides on it and FIN-WAIT-2 is skipped.
            if (Latest(trace.Connections(DaytimeService.Port), _ => true) is FourTuple held)
            {
                await trace.WaitForStateAsync(held, TcpState.FinWait2, CloseTimeout, cancellationToken).ConfigureAwait(false);
            }
            // While the client sits on its socket, the kernel holds it in CLOSE-WAIT: ask ss itself.
            using PeerProgram ss = PeerProgram.Start(["ss", "-tanH"], ns.Start);
            await ss.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            string? line = ss.OutputText.Split('\n').FirstOrDefault(l => l.StartsWith("CLOSE-WAIT", StringComparison.Ordinal)
                && l.Contains($"{Stack}:13", StringComparison.Ordinal));
            Check(line is not null, line is not null
                ? $"ss -tan, while the client holds its socket: {Spaces().Replace(line.Trim(), " ")}"
                : $"ss -tan shows no CLOSE-WAIT socket to {Stack}:13: {ss.OutputText.Trim()}");
        }
        client.CloseInput();
        await client.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        string text = client.OutputText.Split("<eof>")[0].Trim();
        bool ok = eof && client.ExitCode == 0 && Ctime().IsMatch(text);
        Check(ok, ok ? $"the line: \"{text}\"" : $"the client {client.Failure()}, having read '{text}'");

        FourTuple? connection = Latest(trace.Connections(DaytimeService.Port), _ => true);
        if (connection is FourTuple daytime)
        {
            await trace.WaitForStateAsync(daytime, TcpState.Closed, settings.TimeWait + CloseTimeout, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<TcpState> states = trace.States(daytime);
            TcpState[] close = [TcpState.FinWait1, TcpState.FinWait2, TcpState.TimeWait, TcpState.Closed];
            bool active = states.Count >= 4 && states.TakeLast(4).SequenceEqual(close);
            TcpEvent[] changes = [.. trace.EventsOf(daytime).Where(e => e.Kind == TcpEventKind.StateChanged)];
            TcpEvent? enter = changes.FirstOrDefault(e => e.NewState == TcpState.TimeWait);
            TcpEvent? leave = changes.FirstOrDefault(e => e.OldState == TcpState.TimeWait);
            Check(active, active
                ? $"UserTcp closed actively: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED, TIME-WAIT lasting {Seconds(leave!.Value.Time - enter!.Value.Time)}"
                : $"UserTcp's states were {Format(states)}, not ending FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED");
        }
        await ShowConnectionAsync(trace, sampler, connection, cancellationToken).ConfigureAwait(false);
    }

    private async Task PingAsync(ScratchNamespace ns, NetStack stack, CancellationToken cancellationToken)
    {
        Section("4. ping: UserTcp answers ICMP echo requests (RFC 1122 §3.2.2.6)", $"ping -c 3 -i 0.2 -W 2 {Stack}");
        long before = stack.Counters[MibCounter.IcmpOutEchoReps];
        using PeerProgram ping = PeerProgram.Start(["ping", "-c", "3", "-i", "0.2", "-W", "2", Stack], ns.Start);
        await ping.WaitAsync(TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
        string? summary = ping.OutputText.Split('\n').FirstOrDefault(l => l.Contains("packets transmitted", StringComparison.Ordinal))?.Trim();
        long replies = stack.Counters[MibCounter.IcmpOutEchoReps] - before;
        bool ok = ping.ExitCode == 0 && summary is not null && summary.Contains(" 3 received", StringComparison.Ordinal) && replies == 3;
        Check(ok, ok
            ? $"{summary}; UserTcp's IcmpOutEchoReps counter went up by 3"
            : $"ping {ping.Failure()}: {summary ?? ping.OutputText.Trim()}; UserTcp sent {Plural((int)replies, "echo reply", "echo replies")}");
    }

    private async Task ShowConnectionAsync(EngineRecorder trace, KernelSocketSampler sampler, FourTuple? connection, CancellationToken cancellationToken)
    {
        if (connection is not FourTuple c)
        {
            Note("(UserTcp saw no connection)");
            return;
        }
        await trace.WaitForStateAsync(c, TcpState.Closed, CloseTimeout, cancellationToken).ConfigureAwait(false);
        sampler.Settle();
        string kernelSide = c.Remote.ToString(), userTcpSide = c.Local.ToString();
        IReadOnlyList<string> kernel = sampler.States(kernelSide, userTcpSide);
        IReadOnlyList<TcpState> userTcp = trace.States(c);
        output.WriteLine();
        string kernelStates = kernel.Count == 0
            ? "(never sampled: the socket came and went within a sample)"
            : string.Join(" → ", kernel.Select(s => s == "gone" ? "(gone)" : s))
              + (kernel[^1] == "TIME-WAIT" ? "   (stays: Linux holds TIME-WAIT 60 s)" : "");
        Note($"kernel   {kernelSide,-21} {kernelStates}");
        Note($"UserTcp  {userTcpSide,-21} {Format(userTcp)}");
        Note(userTcp.Contains(TcpState.FinWait1)
            ? "UserTcp closed first: it waits in TIME-WAIT; the kernel passes CLOSE-WAIT and LAST-ACK"
            : userTcp.Contains(TcpState.CloseWait)
                ? "the kernel closed first: it waits in TIME-WAIT; UserTcp passes CLOSE-WAIT and LAST-ACK"
                : "");
        if (DelayedFinAck(trace.EventsOf(c)) is TimeSpan delay && delay > TimeSpan.FromMilliseconds(20))
        {
            Note($"the kernel acknowledged UserTcp's FIN only {Milliseconds(delay)} later: Linux delays that ACK (a socket entering");
            Note("CLOSE-WAIT goes into delayed-ACK mode) in the hope of sending it along with its own data or FIN");
        }
        output.WriteLine();
        Note("as UserTcp saw it (ms since the SYN, as its engine stamped them; seq and ack relative to each side's first");
        Note("sequence number, as tcpdump prints them):");
        foreach (string line in Ladder.Draw(trace.EventsOf(c)))
        {
            output.WriteLine("      " + line);
        }
    }

    private void Section(string title, string command)
    {
        output.WriteLine();
        output.WriteLine(title);
        output.WriteLine($"   $ {command}");
    }

    private void Check(bool passed, string text)
    {
        _checks++;
        if (!passed) _failures++;
        output.WriteLine($"  {(passed ? "ok  " : "FAIL")}  {text}");
    }

    private void Line(string text) => output.WriteLine(text);

    private void Note(string text)
    {
        if (text.Length > 0) output.WriteLine($"        {text}");
    }

    // How long after UserTcp's FIN went out the kernel's ACK of it arrived, if it did.
    private static TimeSpan? DelayedFinAck(IReadOnlyList<TcpEvent> events)
    {
        int fin = IndexOf(events, e => e.Kind == TcpEventKind.SegmentOut && e.Segment.Flags.HasFlag(TcpFlags.Fin));
        if (fin < 0) return null;
        SegmentSummary s = events[fin].Segment;
        SeqNumber acked = s.Seq + s.PayloadLength + 1;
        for (int i = fin + 1; i < events.Count; i++)
        {
            if (events[i].Kind == TcpEventKind.SegmentIn && events[i].Segment.Flags.HasFlag(TcpFlags.Ack) && events[i].Segment.Ack == acked)
            {
                return events[i].Time - events[fin].Time;
            }
        }
        return null;
    }

    private static FourTuple? Latest(IReadOnlyList<FourTuple> connections, Func<FourTuple, bool> match)
    {
        for (int i = connections.Count - 1; i >= 0; i--)
        {
            if (match(connections[i])) return connections[i];
        }
        return null;
    }

    private static int IndexOf(IReadOnlyList<TcpEvent> events, Func<TcpEvent, bool> match)
    {
        for (int i = 0; i < events.Count; i++)
        {
            if (match(events[i])) return i;
        }
        return -1;
    }

    private static string Format(IEnumerable<TcpState> states) => string.Join(" → ", states.Select(s => s.ToRfcName()));

    private static string Plural(int n, string noun, string? plural = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? noun : plural ?? noun + "s")}");

    private static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.###} s");

    private static string Milliseconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:F1} ms");

    // ctime(3) layout, as daytime sends it: "Tue Mar 10 12:34:56 2026".
    [GeneratedRegex(@"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")]
    private static partial Regex Ctime();

    [GeneratedRegex(" +")]
    private static partial Regex Spaces();
}
