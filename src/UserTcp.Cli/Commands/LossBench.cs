using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using UserTcp.Cli.Bench;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Sockets;

namespace UserTcp.Cli.Commands;

/// <summary>
/// `usertcp bench --loss 1,5,10`: the goodput-under-loss experiment of docs/goodput.md. At each loss rate, the same
/// kernel clients download (curl ← GET /bytes/N) and upload (python → POST /sha256) N bytes, once against UserTcp over
/// TUN and once against a kernel server over veth, with every packet lost at random with the same probability after its
/// sender handed it on, in both directions and on both paths. Every transfer is checked byte for byte (SHA-256); the
/// report gives the median times, the ratio, and each side's retransmissions and RTOs.
/// </summary>
internal sealed class LossBench(int size, int runs, int mtu, int parallel, double[] lossRates, string kernelCc, TextWriter output)
{
    public const int DefaultSize = 20 * 1024 * 1024;
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

    private enum Workload { Download, Upload }

    /// <summary>One side's TCP retransmissions and RTOs during a transfer.</summary>
    private readonly record struct SideCounts(long Retransmissions, long Timeouts)
    {
        public static SideCounts operator -(SideCounts a, SideCounts b) => new(a.Retransmissions - b.Retransmissions, a.Timeouts - b.Timeouts);
    }

    /// <summary>A transfer's time and both ends' counts (sender first).</summary>
    private readonly record struct Transfer(TimeSpan Time, SideCounts Sender, SideCounts Receiver);

    private sealed record Row(double Loss, Workload Workload, List<Transfer> UserTcp, List<Transfer> Kernel);

    public async Task RunAsync(ScratchNamespace local, ScratchNamespace peer, CancellationToken cancellationToken)
    {
        string mib = (size / 1048576.0).ToString("0.##", CultureInfo.InvariantCulture);
        Say($"usertcp bench --loss: {size} bytes ({mib} MiB) per client, {parallel} client(s) at once, {runs} run(s) per workload, "
            + $"side and loss rate, mtu {mtu}; every transfer checked with SHA-256; medians");
        Say($"  UserTcp: kernel {BenchRun.TunKernelCidr} ── TUN {BenchRun.Iface} ── UserTcp {BenchRun.UserTcpAddress} (CUBIC, SACK, RACK-TLP), namespace {local.Name}");
        Say($"  kernel:  kernel {BenchRun.VethLocalCidr} ── veth {BenchRun.VethLocal}/{BenchRun.VethPeer} ── kernel {BenchRun.VethPeerCidr} "
            + $"(python3 server), namespaces {local.Name} and {peer.Name}; every kernel sender uses {kernelCc} (TCP_CONGESTION)");
        Say("  loss: each packet is dropped with probability P after its sender handed it on, each way: kernel → UserTcp by UserTcp's "
            + "fault injector as it reads the TUN device; UserTcp → kernel, and both ways on the veth pair, by iptables "
            + "(-m statistic --mode random) in the receiving namespace's INPUT chain");
        Say("  download: curl GET /bytes/N | sha256sum (curl's time_total); upload: python3 POST /sha256 of a seeded random body "
            + "(connect to the answer); with several clients, the slowest one's time");
        var rows = new List<Row>();
        foreach (double loss in lossRates)
        {
            SetKernelLoss(local, peer, loss);
            LiveStack live = new LiveStackBuilder
            {
                Namespace = local.Name,
                Mtu = mtu,
                Faults = loss > 0 ? [FaultRule.Parse(string.Create(CultureInfo.InvariantCulture, $"drop from-kernel p={loss / 100:0.######}"))] : [],
                FaultSeed = 1 + (int)(loss * 100),
            }.Start();
            ServiceHost? host = null;
            try
            {
                host = ServiceHost.Start(live.Stack);
                // Unrecorded warm-up, so neither side's first transfer pays for start-up (JIT, Kestrel's first request).
                foreach (Workload workload in Enum.GetValues<Workload>())
                {
                    await TransferAsync(workload, BenchRun.UserTcpAddress, local, peer: null, live.Stack, run: 99, cancellationToken).ConfigureAwait(false);
                    await TransferAsync(workload, BenchRun.KernelServerAddress, local, peer, stack: null, run: 99, cancellationToken).ConfigureAwait(false);
                }
                foreach (Workload workload in Enum.GetValues<Workload>())
                {
                    var row = new Row(loss, workload, [], []);
                    for (int run = 0; run < runs; run++)
                    {
                        // Alternate the sides run by run, so drift on the machine affects both alike.
                        row.UserTcp.Add(await TransferAsync(workload, BenchRun.UserTcpAddress, local, peer: null, live.Stack, run, cancellationToken).ConfigureAwait(false));
                        row.Kernel.Add(await TransferAsync(workload, BenchRun.KernelServerAddress, local, peer, stack: null, run, cancellationToken).ConfigureAwait(false));
                    }
                    rows.Add(row);
                    Say(Line(row));
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
        Say("");
        Say("| loss | workload | UserTcp | kernel | ratio | UserTcp path: sender retx · RTOs | receiver retx · RTOs | kernel path: sender retx · RTOs | receiver retx · RTOs |");
        Say("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row row in rows) Say(TableRow(row));
    }

    // Runs `parallel` clients at once against one server; the transfer's time is the slowest client's own.
    private async Task<Transfer> TransferAsync(Workload workload, string address, ScratchNamespace local, ScratchNamespace? peer, NetStack? stack,
        int run, CancellationToken cancellationToken)
    {
        SideCounts localBefore = KernelCounts(local), remoteBefore = peer is not null ? KernelCounts(peer) : StackCounts(stack!);
        var clients = new List<PeerProgram>();
        try
        {
            for (int i = 0; i < parallel; i++)
            {
                string[] command = workload == Workload.Download
                    ? ["bash", "-o", "pipefail", "-c", $"curl -sS --fail --noproxy '*' --max-time {(int)BenchRun.TransferTimeout.TotalSeconds} -o - "
                        + $"-w '%{{stderr}}%{{http_code}} %{{size_download}} %{{time_total}}\\n' http://{address}/bytes/{size} | sha256sum"]
                    : ["python3", "-c", UploadClient, address, BenchRun.Num(size), BenchRun.Num(run * 100 + i + 1), kernelCc];
                clients.Add(PeerProgram.Start(command, local.Start));
            }
            TimeSpan slowest = TimeSpan.Zero;
            foreach (PeerProgram client in clients)
            {
                await client.WaitAsync(BenchRun.TransferTimeout + TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                slowest = TimeSpan.FromTicks(Math.Max(slowest.Ticks, ClientTime(workload, address, client).Ticks));
            }
            SideCounts localCounts = KernelCounts(local) - localBefore;
            SideCounts remoteCounts = (peer is not null ? KernelCounts(peer) : StackCounts(stack!)) - remoteBefore;
            // The server (UserTcp or the peer kernel) sends the download; the local kernel's client sends the upload.
            return workload == Workload.Download ? new Transfer(slowest, remoteCounts, localCounts) : new Transfer(slowest, localCounts, remoteCounts);
        }
        finally
        {
            foreach (PeerProgram client in clients) client.Dispose();
        }
    }

    // The client's own transfer time, after checking that every byte arrived as sent.
    private TimeSpan ClientTime(Workload workload, string address, PeerProgram client)
    {
        string what = $"{workload.ToString().ToLowerInvariant()} {(address == BenchRun.UserTcpAddress ? "UserTcp" : "the kernel")}";
        if (client.TimedOut || client.ExitCode != 0)
        {
            throw new CliException(1, $"{what}: {client.Failure()}");
        }
        string seconds;
        if (workload == Workload.Download)
        {
            string[] report = client.ErrorLines is [.., string last] ? last.Split(' ') : [];
            string expectedHash = address == BenchRun.UserTcpAddress ? GeneratedBody.Sha256Hex(size) : ZerosSha256Hex(size);
            string hash = client.OutputText.Split(' ')[0];
            if (report.Length != 3 || report[0] != "200" || report[1] != BenchRun.Num(size) || hash != expectedHash)
            {
                throw new CliException(1, $"{what}: curl reported '{string.Join(' ', report)}' and SHA-256 {hash}; expected 200, {size} bytes and {expectedHash}");
            }
            seconds = report[2];
        }
        else
        {
            seconds = client.OutputText.Trim();
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
            $"  loss {row.Loss,4:0.##} %  {row.Workload.ToString().ToLowerInvariant(),-8}  UserTcp {u,7:F2} s  kernel {k,7:F2} s  ratio {u / k,6:F2}  "
            + $"(UserTcp path sender {Counts(row.UserTcp, t => t.Sender)}, receiver {Counts(row.UserTcp, t => t.Receiver)}; "
            + $"kernel path sender {Counts(row.Kernel, t => t.Sender)}, receiver {Counts(row.Kernel, t => t.Receiver)}; retransmissions · RTOs)");
    }

    private static string TableRow(Row row)
    {
        (double u, double k) = (Median(row.UserTcp, t => t.Time.TotalSeconds), Median(row.Kernel, t => t.Time.TotalSeconds));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {row.Loss:0.##} % | {row.Workload.ToString().ToLowerInvariant()} | {u:F2} s | {k:F2} s | {u / k:F2} | "
            + $"{Counts(row.UserTcp, t => t.Sender)} | {Counts(row.UserTcp, t => t.Receiver)} | {Counts(row.Kernel, t => t.Sender)} | {Counts(row.Kernel, t => t.Receiver)} |");
    }

    private static string Counts(List<Transfer> transfers, Func<Transfer, SideCounts> side) => string.Create(CultureInfo.InvariantCulture,
        $"{Median(transfers, t => side(t).Retransmissions):0} · {Median(transfers, t => side(t).Timeouts):0}");

    private static double Median(List<Transfer> transfers, Func<Transfer, double> pick)
    {
        double[] values = [.. transfers.Select(pick).Order()];
        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }

    private void Say(string line) => output.WriteLine(line);
}
