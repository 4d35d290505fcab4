using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using UserTcp.Cli.Demo;
using UserTcp.Lab;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp bench`: end-to-end throughput of UserTcp beside the kernel's, in the same run. The same kernel clients
/// (curl for a download, nc for an upload) talk once to UserTcp over a TUN device and once to a kernel server over a
/// veth pair of the same MTU, each in namespaces made for the run and removed afterwards (also on Ctrl-C or failure).
/// Reports the median of each side's client wall time as Mbit/s and the ratio UserTcp/kernel.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--size")
        {
            Description = "Bytes each transfer moves, at most 1 GiB",
            DefaultValueFactory = _ => 100 * 1024 * 1024,
            CustomParser = OptionParsers.Int("--size", 1, 1024 * 1024 * 1024),
        };
        var runs = new Option<int>("--runs")
        {
            Description = "Transfers per workload and side; the median is reported",
            DefaultValueFactory = _ => 3,
            CustomParser = OptionParsers.Int("--runs", 1, 20),
        };
        var mtu = new Option<int>("--mtu")
        {
            Description = "MTU of both the TUN device and the veth pair",
            DefaultValueFactory = _ => TunOptions.DefaultMtu,
            CustomParser = OptionParsers.Int("--mtu", 576, 9000),
        };
        var loss = new Option<double[]>("--loss")
        {
            Description = "Random loss in percent, each way, e.g. 1,5,10: runs the loss experiment (docs/goodput.md) at each rate",
            CustomParser = OptionParsers.Percentages("--loss", 50),
        };
        var parallel = new Option<int>("--parallel")
        {
            Description = "Clients at once per transfer; the transfer's time is the slowest one's",
            DefaultValueFactory = _ => 1,
            CustomParser = OptionParsers.Int("--parallel", 1, 16),
        };
        var kernelCc = new Option<string>("--kernel-cc")
        {
            Description = "Congestion control of the kernel's senders with --loss (TCP_CONGESTION): cubic, reno or bbr",
            DefaultValueFactory = _ => LossBench.DefaultKernelCongestionControl,
        };
        kernelCc.AcceptOnlyFromAmong("cubic", "reno", "bbr");
        var command = new Command("bench",
            "Measure UserTcp's end-to-end throughput beside the kernel's in the same run: kernel curl downloads N bytes "
            + "and kernel nc uploads N bytes, once against UserTcp over a TUN device (HTTP GET /bytes/N, discard 9) and once "
            + "against a kernel server over a veth pair with the same MTU, all in namespaces made for the run and removed "
            + "afterwards. Prints the median throughput of each side and the ratio UserTcp/kernel. Needs root, curl, "
            + "nc (netcat-openbsd), python3 and ip (iproute2). With --loss, each rate drops packets at random both ways on "
            + "both paths, and the workloads become byte-checked HTTP transfers with the retransmissions and RTOs of each side "
            + "(needs iptables too).")
        {
            size,
            runs,
            mtu,
            loss,
            parallel,
            kernelCc,
        };
        command.SetAction(parsed => CliErrors.Run("bench", async () =>
        {
            using var stop = new StopSignal();
            double[]? lossRates = parsed.GetValue(loss) is { Length: > 0 } rates ? rates : null;
            // The loss experiment's default is the issue's 20 MiB; its uploads go to POST /sha256, which Kestrel caps at 30 MB.
            int bytes = lossRates is null || parsed.GetResult(size) is { Implicit: false } ? parsed.GetValue(size) : LossBench.DefaultSize;
            if (lossRates is not null && bytes > LossBench.MaxSize)
            {
                throw new CliException(2, $"--size {bytes} is too large with --loss: uploads go to POST /sha256, which takes at most {LossBench.MaxSize} bytes");
            }
            return await new BenchRun(bytes, parsed.GetValue(runs), parsed.GetValue(mtu), parsed.GetValue(parallel), lossRates, parsed.GetValue(kernelCc)!, Console.Out)
                .RunAsync(stop.Token).ConfigureAwait(false);
        }));
        return command;
    }
}

/// <summary>One `usertcp bench`: two namespaces, a TUN device and a veth pair, two workloads, both sides, N runs each.</summary>
internal sealed class BenchRun(int size, int runs, int mtu, int parallel, double[]? lossRates, string kernelCc, TextWriter output)
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

    // The kernel's server in the peer namespace: HTTP/1.1 on 80 answering GET /bytes/N with N zero bytes and POST /sha256
    // with the body's length and SHA-256 as UserTcp's HTTP service does (both Connection: close), and a discard sink on 9
    // that reads to the peer's FIN and closes, as UserTcp's services do. A third argument names the congestion control
    // its connections use (TCP_CONGESTION; root may pick one the namespace could not make its default).
    private const string KernelServer = """
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
        def serve(s, handler):
            while True:
                c, _ = s.accept()
                threading.Thread(target=handler, args=(c,), daemon=True).start()
        web, sink = listener(80), listener(9)
        threading.Thread(target=serve, args=(sink, discard), daemon=True).start()
        print("ready", flush=True)
        serve(web, http)
        """;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Prerequisites.Require(lossRates is null ? Tools : [.. Tools, .. LossTools], "bench");

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
        Ip("-n", local.Name, "link", "add", VethLocal, "mtu", Num(mtu), "type", "veth", "peer", "name", VethPeer, "netns", peer.Name, "mtu", Num(mtu));
        Ip("-n", local.Name, "addr", "add", VethLocalCidr, "dev", VethLocal);
        Ip("-n", peer.Name, "addr", "add", VethPeerCidr, "dev", VethPeer);
        Ip("-n", local.Name, "link", "set", VethLocal, "up");
        Ip("-n", peer.Name, "link", "set", VethPeer, "up");

        string[] serverCommand = lossRates is null
            ? ["python3", "-c", KernelServer, KernelServerAddress]
            : ["python3", "-c", KernelServer, KernelServerAddress, kernelCc];
        using PeerProgram server = PeerProgram.Start(serverCommand, peer.Start);
        if (!await server.WaitForOutputAsync("ready", ReadyTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new CliException(1, $"the kernel server (python3) did not start: {server.Failure()}");
        }
        if (lossRates is not null)
        {
            await new LossBench(size, runs, mtu, parallel, lossRates, kernelCc, output).RunAsync(local, peer, cancellationToken).ConfigureAwait(false);
            return;
        }

        LiveStack live = new LiveStackBuilder { Namespace = local.Name, Mtu = mtu }.Start();
        NetStack stack = live.Stack;
        ServiceHost? host = null;
        try
        {
            host = ServiceHost.Start(stack);
            string mib = (size / 1048576.0).ToString("0.##", CultureInfo.InvariantCulture);
            string bytes = size.ToString(CultureInfo.InvariantCulture);
            Say($"usertcp bench: {bytes} bytes ({mib} MiB) per transfer, {Num(runs)} run(s) per workload and side, mtu {Num(mtu)}; "
                + "median of each side's client wall time (process start to exit, Stopwatch), 1 Mbit/s = 10^6 bit/s");
            Say($"  UserTcp: kernel {TunKernelCidr} ── TUN {Iface} ── UserTcp {UserTcpAddress} (ServiceHost: HTTP 80 GET /bytes/N, discard 9), namespace {local.Name}");
            Say($"  kernel:  kernel {VethLocalCidr} ── veth {VethLocal}/{VethPeer} ── kernel {VethPeerCidr} (python3: HTTP 80 GET /bytes/N of zeros, discard 9), namespaces {local.Name} and {peer.Name}");

            string Download(string address) => $"curl -sS --fail --noproxy '*' --max-time {(int)TransferTimeout.TotalSeconds} -o /dev/null "
                + $"-w '%{{http_code}} %{{size_download}}' http://{address}/bytes/{bytes}";
            string Upload(string address) => $"head -c {bytes} /dev/zero | nc -N -w 30 {address} 9";
            var workloads = new (string Name, Func<string, string> Client, bool Download)[]
            {
                ("download", Download, true),
                ("upload", Upload, false),
            };
            var results = new List<(string Name, string Client, double UserTcp, double Kernel)>();
            foreach ((string name, Func<string, string> client, bool download) in workloads)
            {
                var userTcp = new List<TimeSpan>();
                var kernel = new List<TimeSpan>();
                // Alternate the sides run by run, so drift on the machine affects both alike.
                for (int run = 0; run < runs; run++)
                {
                    userTcp.Add(await TimeAsync(local, client(UserTcpAddress), download, $"{name} from UserTcp", cancellationToken).ConfigureAwait(false));
                    kernel.Add(await TimeAsync(local, client(KernelServerAddress), download, $"{name} from the kernel", cancellationToken).ConfigureAwait(false));
                }
                results.Add((name, client("HOST"), Mbits(Median(userTcp)), Mbits(Median(kernel))));
            }

            Say("");
            Say($"  {"workload",-9} {"UserTcp",16} {"kernel",16} {"ratio",7}   client (HOST = {UserTcpAddress} or {KernelServerAddress})");
            foreach ((string name, string client, double u, double k) in results)
            {
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-9} {u,9:F1} Mbit/s {k,9:F1} Mbit/s {u / k,7:F3}   {client}"));
            }
            Say("");
            foreach ((string name, _, double u, double k) in results)
            {
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"usertcp bench: {name}: UserTcp {u:F1} Mbit/s, kernel {k:F1} Mbit/s, ratio UserTcp/kernel {u / k:F3}"));
            }
        }
        finally
        {
            if (host is not null)
            {
                try
                {
                    await host.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // The stack's dispose resets what is still open.
                }
                await host.DisposeAsync().ConfigureAwait(false);
            }
            await live.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Runs one client in the local namespace and returns its wall time; a failed or unfinished transfer ends the bench.
    private static async Task<TimeSpan> TimeAsync(ScratchNamespace ns, string script, bool download, string what, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        using PeerProgram client = PeerProgram.Start(["bash", "-o", "pipefail", "-c", script], ns.Start);
        await client.WaitAsync(TransferTimeout, cancellationToken).ConfigureAwait(false);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        if (client.TimedOut || client.ExitCode != 0)
        {
            throw new CliException(1, $"{what}: {script.Split(' ')[0]} {client.Failure()}");
        }
        if (download)
        {
            string report = client.OutputText.Trim();
            string expected = $"200 {ScriptSize(script)}";
            if (report != expected)
            {
                throw new CliException(1, $"{what}: curl reported '{report}', expected HTTP 200 and all the bytes ('{expected}')");
            }
        }
        return elapsed;
    }

    private static string ScriptSize(string script) => script[(script.LastIndexOf('/') + 1)..];

    internal static TimeSpan Median(List<TimeSpan> times)
    {
        times.Sort();
        return times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
    }

    private double Mbits(TimeSpan time) => size * 8.0 / time.TotalSeconds / 1e6;

    internal static void Ip(params string[] arguments)
    {
        ToolOutcome outcome = ExternalProgram.Run(ExternalProgram.Find("ip")!, ToolTimeout, arguments);
        if (!outcome.Succeeded)
        {
            throw new CliException(1, $"ip {string.Join(' ', arguments)} failed: {outcome.Describe()}");
        }
    }

    private void Say(string line) => output.WriteLine(line);

    internal static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
