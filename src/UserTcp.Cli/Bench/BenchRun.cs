using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using UserTcp.Engine;
using UserTcp.Cli.Commands;
using UserTcp.Lab;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Tun;

namespace UserTcp.Cli.Bench;

/// <summary>What one `usertcp bench` measures and how; with <see cref="LossRates"/>, the loss experiment (<see cref="LossBench"/>) instead of the figures.</summary>
internal sealed record BenchSettings(int Size, int Runs, int Mtu, TunDeviceMode Mode, IReadOnlyList<string> Figures, double Seconds, int Connections, bool Json,
    int Parallel = 1, double[]? LossRates = null, string KernelCongestionControl = LossBench.DefaultKernelCongestionControl, int Queues = 1,
    int EchoSize = LossBench.DefaultEchoSize, IReadOnlyList<LossWorkload>? LossWorkloads = null,
    CongestionControlAlgorithm CongestionControl = CongestionControlAlgorithm.Cubic, RtoFormula RtoFormula = RtoFormula.Rfc6298)
{
    /// <summary>The TcpConfig of UserTcp's stack in the bench (the figures' and --loss's): --cc and --rto-formula.</summary>
    public TcpConfig Tcp => new() { CongestionControl = CongestionControl, RtoFormula = RtoFormula };
}

/// <summary>
/// One `usertcp bench`: two namespaces (the kernel clients and UserTcp's TUN device in one, the kernel's servers in the
/// other, joined by a veth pair), each figure run N times per side, the sides alternating run by run so drift on the
/// machine affects both alike.
/// </summary>
internal sealed class BenchRun(BenchSettings settings, TextWriter output)
{
    internal const string Iface = LiveDefaults.InterfaceName;
    internal const string TunKernelCidr = LiveDefaults.KernelAddressText;
    internal const string UserTcpAddress = LiveDefaults.StackAddressText;
    internal const string VethLocal = "vbench0";
    internal const string VethPeer = "vbench1";
    internal const string VethLocalCidr = "10.78.0.1/24";
    internal const string VethPeerCidr = "10.78.0.2/24";
    internal const string KernelServerAddress = "10.78.0.2";
    internal static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(10);
    internal static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(120);
    private static readonly (string Tool, string Package)[] Tools =
        [("curl", "curl"), ("nc", "netcat-openbsd"), ("python3", "python3"), ("bash", "bash"), ("head", "coreutils"), ("ip", "iproute2")];
    private static readonly (string Tool, string Package)[] LossTools = [("iptables", "iptables"), ("ethtool", "ethtool"), ("sha256sum", "coreutils")];

    // The kernel's bulk server in the peer namespace: HTTP/1.1 on 80 answering GET /bytes/N with N zero bytes and POST /sha256
    // with the body's length and SHA-256 as UserTcp's HTTP service does (both Connection: close), a discard sink on 9 and,
    // for the loss experiment, an echo on 7 (the figures' echo server is usertcp bench-client); both read to the peer's
    // FIN and close, as UserTcp's services do. A third argument names the congestion control
    // its connections use (TCP_CONGESTION; root may pick one the namespace could not make its default).
    private const string KernelBulkServer = """
        import hashlib, re, socket, sys, threading
        cc = sys.argv[2].encode() if len(sys.argv) > 2 else None
        def listener(port):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((sys.argv[1], port))
            s.listen(16)
            return s
        def http(c):
            with c:
                if cc:
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                head, _, body = request.partition(b"\r\n\r\n")
                if head.startswith(b"POST "):
                    n = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
                    digest, got = hashlib.sha256(body), len(body)
                    while got < n:
                        chunk = c.recv(min(1 << 20, n - got))
                        if not chunk:
                            return
                        digest.update(chunk)
                        got += len(chunk)
                    answer = b"%d %s\n" % (n, digest.hexdigest().encode())
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(answer), answer))
                    return
                n = int(request.split(b" ")[1].split(b"/")[2])
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
                block = memoryview(bytes(1 << 20))
                while n > 0:
                    sent = c.send(block[:min(n, len(block))])
                    n -= sent
        def discard(c):
            with c:
                buffer = bytearray(1 << 20)
                while c.recv_into(buffer) > 0:
                    pass
        def echo(c):
            with c:
                if cc:
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
                buffer = bytearray(1 << 16)
                while (n := c.recv_into(buffer)) > 0:
                    c.sendall(memoryview(buffer)[:n])
        def serve(s, handler):
            while True:
                c, _ = s.accept()
                threading.Thread(target=handler, args=(c,), daemon=True).start()
        web, sink = listener(80), listener(9)
        threading.Thread(target=serve, args=(sink, discard), daemon=True).start()
        if cc:
            threading.Thread(target=serve, args=(listener(7), echo), daemon=True).start()
        print("ready", flush=True)
        serve(web, http)
        """;

    private double? _bytesPerHeldConnection;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Prerequisites.Require(settings.LossRates is null ? Tools : [.. Tools, .. LossTools], "bench");

        ScratchNamespace local = ScratchNamespace.Create("bench");
        ScratchNamespace? peer = null;
        bool interrupted = false;
        ExceptionDispatchInfo? failure = null;
        try
        {
            peer = ScratchNamespace.Create("bench-peer");
            await RunInNamespacesAsync(local, peer, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            interrupted = true;
        }
        catch (Exception e)
        {
            // Caught so that the namespaces go (with the veth pair, the TUN device and every program run in them).
            failure = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            try
            {
                peer?.Dispose();
            }
            finally
            {
                local.Dispose();
            }
        }
        if (failure?.SourceException is CliException)
        {
            failure.Throw();
        }
        if (failure is not null)
        {
            throw new CliException(1, $"{failure.SourceException.GetType().Name}: {failure.SourceException.Message.ReplaceLineEndings(" ")}");
        }
        if (interrupted)
        {
            output.WriteLine("usertcp bench: interrupted; cleaned up");
            return 130;
        }
        return 0;
    }

    private async Task RunInNamespacesAsync(ScratchNamespace local, ScratchNamespace peer, CancellationToken cancellationToken)
    {
        // The kernel-to-kernel path: a veth pair between the two namespaces, the same MTU as the TUN device.
        string mtu = Num(settings.Mtu);
        Ip("-n", local.Name, "link", "add", VethLocal, "mtu", mtu, "type", "veth", "peer", "name", VethPeer, "netns", peer.Name, "mtu", mtu);
        Ip("-n", local.Name, "addr", "add", VethLocalCidr, "dev", VethLocal);
        Ip("-n", peer.Name, "addr", "add", VethPeerCidr, "dev", VethPeer);
        Ip("-n", local.Name, "link", "set", VethLocal, "up");
        Ip("-n", peer.Name, "link", "set", VethPeer, "up");

        string[] serverCommand = settings.LossRates is null
            ? ["python3", "-c", KernelBulkServer, KernelServerAddress]
            : ["python3", "-c", KernelBulkServer, KernelServerAddress, settings.KernelCongestionControl];
        using PeerProgram bulkServer = PeerProgram.Start(serverCommand, peer.Start);
        if (!await bulkServer.WaitForOutputAsync("ready", ReadyTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new CliException(1, $"the kernel server (python3) did not start: {bulkServer.Failure()}");
        }
        if (settings.LossRates is double[] lossRates)
        {
            var lossSettings = new LossBenchSettings(settings.Size, settings.EchoSize, settings.Runs, settings.Mtu, settings.Parallel, lossRates,
                settings.LossWorkloads ?? Enum.GetValues<LossWorkload>(), settings.KernelCongestionControl, settings.Tcp, settings.Queues);
            await new LossBench(lossSettings, output)
                .RunAsync(local, peer, cancellationToken).ConfigureAwait(false);
            return;
        }
        // The kernel's echo server in a process of its own, its socket completions inline on the epoll thread (an event loop).
        using PeerProgram echoServer = PeerProgram.Start(
            ["env", "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", .. Self("bench-client", "echo-server", KernelServerAddress, "0")], peer.Start, keepInputOpen: true);
        if (!await echoServer.WaitForOutputAsync("ready", ReadyTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new CliException(1, $"the kernel echo server (usertcp bench-client) did not start: {echoServer.Failure()}");
        }

        UserTcp.Live.LiveStack live = new LiveStackBuilder
        {
            Namespace = local.Name,
            Mtu = settings.Mtu,
            Mode = settings.Mode,
            Queues = settings.Queues,
            Tcp = settings.Tcp,
        }.Start();
        ServiceHost? host = null;
        try
        {
            host = ServiceHost.Start(live.Stack);
            var context = new BenchContext(Environment.ProcessorCount, ReadProc("/proc/sys/kernel/osrelease"),
                local.Invoke(() => ReadProc("/proc/sys/net/ipv4/tcp_congestion_control")),
                live.Stack.TcpConfig.CongestionControl.LinuxName(), live.Stack.TcpConfig.RtoFormula.Name(), settings.Mode.ToString().ToLowerInvariant(),
                DescribeOffloads(live.Device), live.Stack.Queues, settings.Mtu, settings.Runs, settings.Size, settings.Seconds, settings.Connections);
            if (!settings.Json) Introduce(local, peer);

            var figures = new List<BenchFigure>();
            foreach (string name in settings.Figures)
            {
                figures.Add(await MeasureAsync(name, local, cancellationToken).ConfigureAwait(false));
            }
            if (settings.Json) BenchReport.WriteJson(output, context, figures, _bytesPerHeldConnection);
            else BenchReport.WriteText(output, context, figures, _bytesPerHeldConnection);
        }
        finally
        {
            await LiveShutdown.StopAsync(host, live).ConfigureAwait(false);
        }
    }

    private void Introduce(ScratchNamespace local, ScratchNamespace peer)
    {
        Say(Header(settings));
        Say($"  UserTcp: kernel {TunKernelCidr} ── TUN {Iface} ── UserTcp {UserTcpAddress} (ServiceHost: HTTP 80, echo 7, discard 9), namespace {local.Name}");
        Say($"  kernel:  kernel {VethLocalCidr} ── veth {VethLocal}/{VethPeer} ── kernel {VethPeerCidr} (python3: HTTP 80 of zeros, discard 9; "
            + $"usertcp bench-client: echo 7), namespaces {local.Name} and {peer.Name}");
    }

    /// <summary>The bench's first line: the figures, then the size, duration or count of only those that run.</summary>
    internal static string Header(BenchSettings settings)
    {
        var parts = new List<string> { $"usertcp bench: {string.Join(", ", settings.Figures)}", $"{Num(settings.Runs)} run(s) per figure and side" };
        if (settings.Figures.Contains("download") || settings.Figures.Contains("upload"))
        {
            string mib = (settings.Size / 1048576.0).ToString("0.##", CultureInfo.InvariantCulture);
            parts.Add($"bulk {Num(settings.Size)} bytes ({mib} MiB) per transfer (client wall time, process start to exit; 1 Mbit/s = 10^6 bit/s)");
        }
        string[] timed = [.. settings.Figures.Where(f => f is "rr" or "cc")];
        if (timed.Length > 0) parts.Add($"{string.Join(" and ", timed)} {settings.Seconds.ToString(CultureInfo.InvariantCulture)} s per run");
        if (settings.Figures.Contains("held")) parts.Add($"held {Num(settings.Connections)} connections");
        parts.Add($"mtu {Num(settings.Mtu)}");
        return string.Join("; ", parts);
    }

    private async Task<BenchFigure> MeasureAsync(string name, ScratchNamespace local, CancellationToken cancellationToken)
    {
        string bytes = Num(settings.Size);
        string seconds = settings.Seconds.ToString(CultureInfo.InvariantCulture);
        (string unit, string client, Func<string, bool, Task<double>> once) = name switch
        {
            "download" => ("Mbit/s", $"curl -o /dev/null http://HOST/bytes/{bytes}", (Func<string, bool, Task<double>>)((address, _) =>
                TimeBulkAsync(local, $"curl -sS --fail --noproxy '*' --max-time {(int)TransferTimeout.TotalSeconds} -o /dev/null "
                    + $"-w '%{{http_code}} %{{size_download}}' http://{address}/bytes/{bytes}", expected: $"200 {bytes}", cancellationToken))),
            "upload" => ("Mbit/s", $"head -c {bytes} /dev/zero | nc -N HOST 9", (address, _) =>
                TimeBulkAsync(local, $"head -c {bytes} /dev/zero | nc -N -w 30 {address} 9", expected: null, cancellationToken)),
            "rr" => ("requests/s", $"usertcp bench-client rr HOST {seconds}", (address, _) => RateAsync(local, "rr", address, cancellationToken)),
            "cc" => ("connections/s", $"usertcp bench-client cc HOST {seconds}", (address, _) => RateAsync(local, "cc", address, cancellationToken)),
            "held" => ("connections/s", $"usertcp bench-client held HOST {Num(settings.Connections)}",
                (address, userTcp) => HeldAsync(local, address, userTcp, cancellationToken)),
            _ => throw new InvalidOperationException($"{name} is not a bench figure"),
        };
        var userTcp = new List<double>();
        var kernel = new List<double>();
        for (int run = 0; run < settings.Runs; run++)
        {
            userTcp.Add(await once(UserTcpAddress, true).ConfigureAwait(false));
            kernel.Add(await once(KernelServerAddress, false).ConfigureAwait(false));
        }
        return new BenchFigure(name, unit, client, userTcp, kernel);
    }

    // A bulk transfer's client wall time as Mbit/s; a failed or unfinished transfer ends the bench.
    private async Task<double> TimeBulkAsync(ScratchNamespace ns, string script, string? expected, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        using PeerProgram client = PeerProgram.Start(["bash", "-o", "pipefail", "-c", script], ns.Start);
        await client.WaitAsync(TransferTimeout, cancellationToken).ConfigureAwait(false);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        if (client.TimedOut || client.ExitCode != 0)
        {
            throw new CliException(1, $"{script.Split(' ')[0]} {client.Failure()}");
        }
        if (expected is not null && client.OutputText.Trim() != expected)
        {
            throw new CliException(1, $"curl reported '{client.OutputText.Trim()}', expected HTTP 200 and all the bytes ('{expected}')");
        }
        return settings.Size * 8.0 / elapsed.TotalSeconds / 1e6;
    }

    // rr or cc: the client's count over its own elapsed time.
    private async Task<double> RateAsync(ScratchNamespace ns, string workload, string address, CancellationToken cancellationToken)
    {
        using PeerProgram client = PeerProgram.Start(Self("bench-client", workload, address, settings.Seconds.ToString(CultureInfo.InvariantCulture)), ns.Start);
        await client.WaitAsync(TimeSpan.FromSeconds(settings.Seconds) + TransferTimeout, cancellationToken).ConfigureAwait(false);
        string[] result = client.OutputLines.FirstOrDefault(l => l.StartsWith("result ", StringComparison.Ordinal))?.Split(' ') ?? [];
        if (client.ExitCode != 0 || result.Length != 3)
        {
            throw new CliException(1, $"{workload} against {address}: bench-client {client.Failure()}");
        }
        return double.Parse(result[1], CultureInfo.InvariantCulture) / double.Parse(result[2], CultureInfo.InvariantCulture);
    }

    // held: connections opened (each with one echo) per second; against UserTcp also the managed heap each one costs
    // (after a full collection, before and while they are held; the last run's figure is kept).
    private async Task<double> HeldAsync(ScratchNamespace ns, string address, bool userTcp, CancellationToken cancellationToken)
    {
        int connections = settings.Connections;
        long before = userTcp ? GC.GetTotalMemory(forceFullCollection: true) : 0;
        using PeerProgram client = PeerProgram.Start(Self("bench-client", "held", address, Num(connections)), ns.Start, keepInputOpen: true);
        if (!await client.WaitForOutputAsync("opened ", TransferTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new CliException(1, $"held against {address}: bench-client {client.Failure()}");
        }
        string[] opened = client.OutputLines.First(l => l.StartsWith("opened ", StringComparison.Ordinal)).Split(' ');
        if (userTcp) _bytesPerHeldConnection = (GC.GetTotalMemory(forceFullCollection: true) - before) / (double)connections;
        client.WriteInput("echo");
        await client.WaitAsync(TransferTimeout, cancellationToken).ConfigureAwait(false);
        if (client.ExitCode != 0 || !client.OutputLines.Contains($"echoed {Num(connections)}"))
        {
            throw new CliException(1, $"held against {address}: not every connection echoed again: bench-client {client.Failure()}");
        }
        return connections / double.Parse(opened[2], CultureInfo.InvariantCulture);
    }

    // This program again (the apphost, or dotnet with usertcp.dll), for the bench client.
    private static string[] Self(params string[] arguments)
    {
        string process = Environment.ProcessPath ?? throw new CliException(1, "cannot tell where the usertcp program is");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, Path.Combine(AppContext.BaseDirectory, "usertcp.dll"), .. arguments]
            : [process, .. arguments];
    }

    private static string DescribeOffloads(TunDevice device) => device.Offloads switch
    {
        { Any: false } => "none",
        var o => string.Join('+', new[] { o.ReceiveSegmentation ? "tso4" : null, o.ReceiveChecksum || o.TransmitChecksum ? "csum" : null }.OfType<string>()),
    };

    private static string ReadProc(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : "unknown";

    internal static void Ip(params string[] arguments)
    {
        ToolOutcome outcome = IpTool.Run(ToolTimeout, arguments); // without ip: a TunException saying what to install
        if (!outcome.Succeeded)
        {
            throw new CliException(1, $"ip {string.Join(' ', arguments)} failed: {outcome.Describe()}");
        }
    }

    private void Say(string line) => output.WriteLine(line);

    internal static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
