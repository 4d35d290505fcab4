using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Cli.Bench;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Sockets;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp bench --loss 1,5,10`: the goodput-under-loss experiment of docs/goodput.md. At each loss rate, the same
/// kernel clients download (curl ← GET /bytes/N), upload (python → POST /sha256) and, in the issue's mixed workload,
/// download while echoing (nc -N's pattern against echo 7), once against UserTcp over TUN and once against a kernel
/// server over veth, with every packet lost at random with the same probability after its sender handed it on, in both
/// directions and on both paths. Every transfer is checked byte for byte (SHA-256); the report gives the median times,
/// the ratio, and each side's retransmissions and RTOs.
/// </summary>
internal sealed class LossBench(LossBenchSettings settings, TextWriter output)
{
    public const int DefaultSize = 20 * 1024 * 1024;
    /// <summary>The issue's echo round trip: 2 MB each way.</summary>
    public const int DefaultEchoSize = 2_000_000;
    /// <summary>How long one client may take: the kernel's cubic needs minutes for 20 MiB at 10 % loss (RTO-bound).</summary>
    public static readonly TimeSpan TransferTimeout = TimeSpan.FromSeconds(600);
    /// <summary>Kestrel's default MaxRequestBodySize, which UserTcp's POST /sha256 keeps.</summary>
    public const int MaxSize = 30_000_000;
    /// <summary>What every kernel sender runs unless told (TCP_CONGESTION): Linux's default, and UserTcp's.</summary>
    public const string DefaultKernelCongestionControl = "cubic";

    // The upload client: POST /sha256 with N bytes of a seeded random body on a CUBIC socket; checks the answer against
    // its own SHA-256 and prints the transfer's time (connect to the answer's end) in seconds.
    private const string UploadClient = """
        import hashlib, random, socket, sys, time
        host, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        body = random.Random(seed).randbytes(n)
        expected = b"%d %s" % (n, hashlib.sha256(body).hexdigest().encode())
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[4].encode())
        s.settimeout(120)
        start = time.monotonic()
        s.connect((host, 80))
        s.sendall(b"POST /sha256 HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (host.encode(), n))
        s.sendall(body)
        response = b""
        while b"\r\n\r\n" not in response or not response.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            response += chunk
        elapsed = time.monotonic() - start
        if not response.startswith(b"HTTP/1.1 200") or expected not in response:
            sys.exit("upload answered %r, expected %r" % (response[-200:], expected))
        print("%.6f" % elapsed)
        """;

    // The echo client, nc -N's pattern against echo 7 on a socket with TCP_CONGESTION set: writes a seeded random body
    // while reading, half-closes after the last byte, reads to the server's FIN, and checks every echoed byte; prints
    // the round trip's time (connect to end of stream) in seconds.
    private const string EchoClient = """
        import hashlib, random, socket, sys, threading, time
        host, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        body = random.Random(seed).randbytes(n)
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[4].encode())
        s.settimeout(600)
        start = time.monotonic()
        s.connect((host, 7))
        def send():
            s.sendall(body)
            s.shutdown(socket.SHUT_WR)
        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        digest, got = hashlib.sha256(), 0
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
        elapsed = time.monotonic() - start
        writer.join()
        if got != n or digest.digest() != hashlib.sha256(body).digest():
            sys.exit("echo returned %d bytes, SHA-256 %s; expected %d bytes" % (got, digest.hexdigest(), n))
        print("%.6f" % elapsed)
        """;

    /// <summary>One side's TCP retransmissions and RTOs during a transfer.</summary>
    private readonly record struct SideCounts(long Retransmissions, long Timeouts)
    {
        public static SideCounts operator -(SideCounts a, SideCounts b) => new(a.Retransmissions - b.Retransmissions, a.Timeouts - b.Timeouts);
    }

    /// <summary>A transfer's time and both ends' counts: the server's (UserTcp or the peer kernel) and its kernel clients'.</summary>
    private readonly record struct Transfer(TimeSpan Time, SideCounts Server, SideCounts Clients);

    private sealed record Row(double Loss, LossWorkload Workload, List<Transfer> UserTcp, List<Transfer> Kernel);

    /// <summary>One client program and its kind (download, upload or echo), which says how its output is checked.</summary>
    private sealed record Client(string Kind, PeerProgram Program);

    public async Task RunAsync(ScratchNamespace local, ScratchNamespace peer, CancellationToken cancellationToken)
    {
        string mib = (settings.Size / 1048576.0).ToString("0.##", CultureInfo.InvariantCulture);
        Say($"usertcp bench --loss: {string.Join(", ", settings.Workloads.Select(Name))}; {settings.Size} bytes ({mib} MiB) per download and upload, "
            + $"{settings.EchoSize} bytes per echo, {settings.Parallel} client(s) of each kind at once, {settings.Runs} run(s) per workload, "
            + $"side and loss rate, mtu {settings.Mtu}; every transfer checked with SHA-256; medians");
        Say($"  UserTcp: kernel {BenchRun.TunKernelCidr} ── TUN {BenchRun.Iface} ── UserTcp {BenchRun.UserTcpAddress} ({settings.CongestionControl.LinuxName()}, SACK, RACK-TLP; --cc; RTO formula {settings.Tcp.RtoFormula.Name()}, --rto-formula), namespace {local.Name}");
        Say($"  kernel:  kernel {BenchRun.VethLocalCidr} ── veth {BenchRun.VethLocal}/{BenchRun.VethPeer} ── kernel {BenchRun.VethPeerCidr} "
            + $"(python3 server), namespaces {local.Name} and {peer.Name}; every kernel sender uses {settings.KernelCongestionControl} (TCP_CONGESTION; --kernel-cc)");
        Say("  loss: each packet is dropped with probability P after its sender handed it on, each way: kernel → UserTcp by UserTcp's "
            + "fault injector as it reads the TUN device; UserTcp → kernel, and both ways on the veth pair, by iptables "
            + "(-m statistic --mode random) in the receiving namespace's INPUT chain");
        Say("  download: curl GET /bytes/N | sha256sum (curl's time_total); upload: python3 POST /sha256 of a seeded random body "
            + "(connect to the answer); mixed (the issue's): the downloads and as many echo round trips at once (python3, nc -N's "
            + "pattern against echo 7: write while reading, half-close, read to the FIN); a transfer's time is its slowest client's");
        // The TUN queue is UserTcp's receive queue; the veth path's is the kernel's backlog, net.core.netdev_max_backlog
        // packets on each CPU. TUN's default of 500 overflowed under 8 bbr uploads (thousands of drops with no loss
        // injected): UserTcp gets as deep a queue as the kernel path has in all.
        int tunQueue = KernelBacklog() * Environment.ProcessorCount;
        Say($"  receive queues: UserTcp's TUN txqueuelen {tunQueue} on each of its {settings.Queues} queue(s) (--queues, a reader thread each); "
            + $"the kernel's netdev_max_backlog on each of {Environment.ProcessorCount} CPUs (the veth path's)");
        var rows = new List<Row>();
        foreach (double loss in settings.LossRates)
        {
            SetKernelLoss(local, peer, loss);
            LiveStack live = new LiveStackBuilder
            {
                Namespace = local.Name,
                Mtu = settings.Mtu,
                Faults = loss > 0 ? [FaultRule.Parse(string.Create(CultureInfo.InvariantCulture, $"drop from-kernel p={loss / 100:0.######}"))] : [],
                FaultSeed = 1 + (int)(loss * 100),
                Tcp = settings.Tcp,
                TunQueueLength = tunQueue,
                Queues = settings.Queues, // the injector runs on every queue, so loss keeps every reader thread
            }.Start();
            ServiceHost? host = null;
            try
            {
                host = ServiceHost.Start(live.Stack);
                // Unrecorded warm-up, so neither side's first transfer pays for start-up (JIT, Kestrel's first request).
                await WarmUpAsync(local, peer, live.Stack, cancellationToken).ConfigureAwait(false);
                foreach (LossWorkload workload in settings.Workloads)
                {
                    var row = new Row(loss, workload, [], []);
                    for (int run = 0; run < settings.Runs; run++)
                    {
                        // Alternate the sides run by run, so drift on the machine affects both alike.
                        row.UserTcp.Add(await TransferAsync(workload, BenchRun.UserTcpAddress, local, peer: null, live.Stack, run, warmUp: false, cancellationToken).ConfigureAwait(false));
                        row.Kernel.Add(await TransferAsync(workload, BenchRun.KernelServerAddress, local, peer, stack: null, run, warmUp: false, cancellationToken).ConfigureAwait(false));
                    }
                    rows.Add(row);
                    Say(Line(row));
                }
            }
            finally
            {
                await LiveShutdown.StopAsync(host, live).ConfigureAwait(false);
            }
        }
        Say("");
        Say($"Congestion control: UserTcp {settings.CongestionControl.LinuxName()}, kernel {settings.KernelCongestionControl}.");
        Say($"RTO formula: UserTcp {settings.Tcp.RtoFormula.Name()} (--rto-formula), kernel linux.");
        Say("| loss | workload | UserTcp | kernel | ratio | UserTcp retx · RTOs | its clients' | kernel server retx · RTOs | its clients' |");
        Say("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row row in rows) Say(TableRow(row));
    }

    /// <summary>
    /// Warms both sides up with every workload, unrecorded: the kernel side with one client of each kind (its programs'
    /// start-up), UserTcp with <see cref="WarmUpRounds"/> rounds of the measured number of clients, each followed by a pause.
    /// One small transfer left the first measured round on unoptimized code (docs/goodput.md "Session 6"): .NET recompiles
    /// a hot method only after 30 calls and a quiet 100 ms, and the paths of many concurrent clients are hot only then.
    /// </summary>
    private async Task WarmUpAsync(ScratchNamespace local, ScratchNamespace peer, NetStack stack, CancellationToken cancellationToken)
    {
        foreach (LossWorkload workload in settings.Workloads)
        {
            await TransferAsync(workload, BenchRun.KernelServerAddress, local, peer, stack: null, run: 99, warmUp: true, cancellationToken).ConfigureAwait(false);
        }
        for (int round = 1; round <= WarmUpRounds; round++)
        {
            foreach (LossWorkload workload in settings.Workloads)
            {
                await TransferAsync(workload, BenchRun.UserTcpAddress, local, peer: null, stack, run: 99 - round, warmUp: true, cancellationToken).ConfigureAwait(false);
            }
            await Task.Delay(TieringPause, cancellationToken).ConfigureAwait(false);
        }
    }

    private const int WarmUpRounds = 2;
    // Longer than .NET's 100 ms tiering delay, so what a round made hot is recompiled before the next one.
    private static readonly TimeSpan TieringPause = TimeSpan.FromMilliseconds(500);

    // Runs the workload's clients at once against one server; the transfer's time is the slowest client's own. A warm-up
    // moves at most 2 MiB per client.
    private async Task<Transfer> TransferAsync(LossWorkload workload, string address, ScratchNamespace local, ScratchNamespace? peer, NetStack? stack,
        int run, bool warmUp, CancellationToken cancellationToken)
    {
        SideCounts clientsBefore = KernelCounts(local), serverBefore = peer is not null ? KernelCounts(peer) : StackCounts(stack!);
        int count = warmUp && stack is null ? 1 : settings.Parallel; // the kernel side warms no JIT: one client of each kind
        int size = warmUp ? Math.Min(settings.Size, 2 << 20) : settings.Size, echoSize = warmUp ? Math.Min(settings.EchoSize, 2 << 20) : settings.EchoSize;
        var clients = new List<Client>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                string seed = BenchRun.Num(run * 100 + i + 1);
                switch (workload)
                {
                    case LossWorkload.Download:
                        clients.Add(StartDownload(address, size, local));
                        break;
                    case LossWorkload.Upload:
                        clients.Add(new Client("upload", PeerProgram.Start(["python3", "-c", UploadClient, address, BenchRun.Num(size), seed, settings.KernelCongestionControl], local.Start)));
                        break;
                    case LossWorkload.Mixed:
                        clients.Add(StartDownload(address, size, local));
                        clients.Add(new Client("echo", PeerProgram.Start(["python3", "-c", EchoClient, address, BenchRun.Num(echoSize), seed, settings.KernelCongestionControl], local.Start)));
                        break;
                }
            }
            TimeSpan slowest = TimeSpan.Zero;
            foreach (Client client in clients)
            {
                await client.Program.WaitAsync(TransferTimeout + TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, ClientTime(client, address, size).Ticks));
            }
            SideCounts clientCounts = KernelCounts(local) - clientsBefore;
            SideCounts serverCounts = (peer is not null ? KernelCounts(peer) : StackCounts(stack!)) - serverBefore;
            return new Transfer(slowest, serverCounts, clientCounts);
        }
        finally
        {
            foreach (Client client in clients) client.Program.Dispose();
        }
    }

    private static Client StartDownload(string address, int size, ScratchNamespace local) => new("download", PeerProgram.Start(
        ["bash", "-o", "pipefail", "-c", $"curl -sS --fail --noproxy '*' --max-time {(int)TransferTimeout.TotalSeconds} -o - "
            + $"-w '%{{stderr}}%{{http_code}} %{{size_download}} %{{time_total}}\\n' http://{address}/bytes/{size} | sha256sum"], local.Start));

    // The client's own transfer time, after checking that every byte arrived as sent.
    private static TimeSpan ClientTime(Client client, string address, int size)
    {
        string what = $"{client.Kind} {(address == BenchRun.UserTcpAddress ? "UserTcp" : "the kernel")}";
        if (client.Program.TimedOut || client.Program.ExitCode != 0)
        {
            throw new CliException(1, $"{what}: {client.Program.Failure()}");
        }
        string seconds;
        if (client.Kind == "download")
        {
            string[] report = client.Program.ErrorLines is [.., string last] ? last.Split(' ') : [];
            string expectedHash = address == BenchRun.UserTcpAddress ? GeneratedBody.Sha256Hex(size) : ZerosSha256Hex(size);
            string hash = client.Program.OutputText.Split(' ')[0];
            if (report.Length != 3 || report[0] != "200" || report[1] != BenchRun.Num(size) || hash != expectedHash)
            {
                throw new CliException(1, $"{what}: curl reported '{string.Join(' ', report)}' and SHA-256 {hash}; expected 200, {size} bytes and {expectedHash}");
            }
            seconds = report[2];
        }
        else
        {
            seconds = client.Program.OutputText.Trim();
        }
        return TimeSpan.FromSeconds(double.Parse(seconds, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture));
    }

    private static string ZerosSha256Hex(int length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] zeros = new byte[1 << 20];
        for (int left = length; left > 0; left -= zeros.Length) hash.AppendData(zeros, 0, Math.Min(left, zeros.Length));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // Drops on the kernel's side of both paths: what reaches the local namespace from UserTcp or from the peer, and what
    // reaches the peer namespace from the local one. INPUT, so the sender's stack has really sent the packet (a drop in
    // OUTPUT returns an error to the sending socket, which then sends again at once: not a loss on the wire).
    private static void SetKernelLoss(ScratchNamespace local, ScratchNamespace peer, double loss)
    {
        // Offloads off on the veth pair, as on the TUN device: a 64 KB TSO super-packet passes veth whole, and dropping it
        // would lose some 45 segments at once, a burst no wire produces.
        BenchRun.Ip(["netns", "exec", local.Name, "ethtool", "-K", BenchRun.VethLocal, "tso", "off", "gso", "off", "gro", "off"]);
        BenchRun.Ip(["netns", "exec", peer.Name, "ethtool", "-K", BenchRun.VethPeer, "tso", "off", "gso", "off", "gro", "off"]);
        Iptables(local, "-F", "INPUT");
        Iptables(peer, "-F", "INPUT");
        if (loss == 0) return;
        foreach ((ScratchNamespace ns, string device) in new[] { (local, BenchRun.Iface), (local, BenchRun.VethLocal), (peer, BenchRun.VethPeer) })
        {
            Iptables(ns, "-A", "INPUT", "-i", device, "-m", "statistic", "--mode", "random", "--probability",
                (loss / 100).ToString("0.######", CultureInfo.InvariantCulture), "-j", "DROP");
        }
    }

    private static void Iptables(ScratchNamespace ns, params string[] arguments)
    {
        BenchRun.Ip(["netns", "exec", ns.Name, "iptables", "-w", .. arguments]);
    }

    // RetransSegs (RFC 4022) and TCPTimeouts of the namespace's kernel TCP, read from a thread inside it.
    private static SideCounts KernelCounts(ScratchNamespace ns) => ns.Invoke(() =>
        new SideCounts(NetstatValue("/proc/thread-self/net/snmp", "Tcp:", "RetransSegs"), NetstatValue("/proc/thread-self/net/netstat", "TcpExt:", "TCPTimeouts")));

    private static SideCounts StackCounts(NetStack stack) => new(stack.Counters.Retransmissions, stack.Counters.RetransmissionTimeouts);

    // /proc/net/snmp and /proc/net/netstat hold pairs of lines: "Prefix: names..." then "Prefix: values...".
    private static long NetstatValue(string path, string prefix, string name)
    {
        string[] lines = File.ReadAllLines(path);
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith(prefix, StringComparison.Ordinal) || !lines[i + 1].StartsWith(prefix, StringComparison.Ordinal)) continue;
            int column = Array.IndexOf(lines[i].Split(' '), name);
            if (column > 0) return long.Parse(lines[i + 1].Split(' ')[column], CultureInfo.InvariantCulture);
        }
        throw new InvalidOperationException($"no {prefix} {name} in {path}");
    }

    private static string Line(Row row)
    {
        (double u, double k) = (Median(row.UserTcp, t => t.Time.TotalSeconds), Median(row.Kernel, t => t.Time.TotalSeconds));
        return string.Create(CultureInfo.InvariantCulture,
            $"  loss {row.Loss,4:0.##} %  {Name(row.Workload),-8}  UserTcp {u,7:F2} s  kernel {k,7:F2} s  ratio {u / k,6:F2}  "
            + $"(UserTcp {Counts(row.UserTcp, t => t.Server)}, its clients {Counts(row.UserTcp, t => t.Clients)}; "
            + $"kernel server {Counts(row.Kernel, t => t.Server)}, its clients {Counts(row.Kernel, t => t.Clients)}; retransmissions · RTOs)");
    }

    private static string TableRow(Row row)
    {
        (double u, double k) = (Median(row.UserTcp, t => t.Time.TotalSeconds), Median(row.Kernel, t => t.Time.TotalSeconds));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {row.Loss:0.##} % | {Name(row.Workload)} | {u:F2} s | {k:F2} s | {u / k:F2} | "
            + $"{Counts(row.UserTcp, t => t.Server)} | {Counts(row.UserTcp, t => t.Clients)} | {Counts(row.Kernel, t => t.Server)} | {Counts(row.Kernel, t => t.Clients)} |");
    }

    private static string Counts(List<Transfer> transfers, Func<Transfer, SideCounts> side) => string.Create(CultureInfo.InvariantCulture,
        $"{Median(transfers, t => side(t).Retransmissions):0} · {Median(transfers, t => side(t).Timeouts):0}");

    private static double Median(List<Transfer> transfers, Func<Transfer, double> pick)
    {
        double[] values = [.. transfers.Select(pick).Order()];
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }

    internal static string Name(LossWorkload workload) => workload.ToString().ToLowerInvariant();

    private void Say(string line) => output.WriteLine(line);

    /// <summary>net.core.netdev_max_backlog: packets the kernel queues per CPU for its own receive path (1000 by default).</summary>
    private static int KernelBacklog() =>
        int.TryParse(File.Exists(BacklogPath) ? File.ReadAllText(BacklogPath).Trim() : null, out int backlog) && backlog > 0 ? backlog : 1000;

    private const string BacklogPath = "/proc/sys/net/core/netdev_max_backlog";
}

/// <summary>The loss experiment's workloads: download and upload measure each direction alone; mixed is issue 15's
/// (downloads and echo round trips at once).</summary>
internal enum LossWorkload { Download, Upload, Mixed }

/// <summary>What one `usertcp bench --loss` runs.</summary>
internal sealed record LossBenchSettings(int Size, int EchoSize, int Runs, int Mtu, int Parallel, double[] LossRates,
    IReadOnlyList<LossWorkload> Workloads, string KernelCongestionControl, TcpConfig Tcp, int Queues)
{
    public CongestionControlAlgorithm CongestionControl => Tcp.CongestionControl;
}
