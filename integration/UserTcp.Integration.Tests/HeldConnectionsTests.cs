using System.Diagnostics;
using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Live;
using UserTcp.Sockets;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Issue 10, memory on demand: many concurrent connections from the kernel, held by UserTcp over TUN in a namespace of
/// the test's own, at a bounded managed-memory cost per idle connection, and every one of them still echoes afterwards.
/// The kernel's side is spread over several python3 processes (open files are capped at 20,000 per process), each on a
/// source address of its own. CI holds 6,000 (USERTCP_HELD_CONNECTIONS sets another count). Known open bug (issue 10): from about 12,000 on, some
/// echo round trips do not come back within 30 s even with 400 in flight, so larger counts fail today.
/// </summary>
public sealed class HeldConnectionsTests(ITestOutputHelper output)
{
    private const ushort Port = 7007;
    private const int PerProcess = 16_000;
    /// <summary>Issue 10's bound: GC heap after a full collection, per idle connection, runtime included.</summary>
    private const int IdleBudget = 2048;
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(8);

    // One kernel client process: opens its share (at most 400 handshakes at a time), reports, then on "echo" sends 8
    // bytes on every connection (at most 400 round trips at a time) and checks they come back, then on "close" closes them all.
    private const string Client = """
        import errno, resource, select, socket, struct, sys
        src, dst, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        ep = select.epoll()
        socks, pending, opened, failed = {}, set(), 0, 0
        while opened < count or pending:
            while opened < count and len(pending) < 400:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.bind((src, 0))
                s.connect_ex((dst, port))
                socks[s.fileno()] = s
                pending.add(s.fileno())
                ep.register(s.fileno(), select.EPOLLOUT)
                opened += 1
            for fd, _ in ep.poll(30):
                ep.unregister(fd)
                pending.discard(fd)
                if socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    failed += 1
        print(f"connected {len(socks) - failed} failed {failed}", flush=True)
        for line in sys.stdin:
            if line.strip() == "echo":
                # At most 400 round trips in flight, as for the handshakes, so the burst stays under the TUN device's
                # transmit queue (500 packets). (From ~12,000 connections some still stall past 30 s: open, issue 10.)
                items, missing, bad, done = list(socks.items()), 0, 0, 0
                for start in range(0, len(items), 400):
                    want = {}
                    for i, (fd, s) in enumerate(items[start:start + 400], start):
                        s.send(struct.pack("!Q", i))
                        want[fd] = struct.pack("!Q", i)
                        ep.register(fd, select.EPOLLIN)
                    got = {}
                    while want:
                        events = ep.poll(30)
                        if not events:
                            break
                        for fd, _ in events:
                            data = got.get(fd, b"") + socks[fd].recv(8 - len(got.get(fd, b"")))
                            got[fd] = data
                            if len(data) == 8:
                                bad += data != want.pop(fd)
                                ep.unregister(fd)
                                done += 1
                    missing += len(want)
                    for fd in want:
                        ep.unregister(fd)
                print(f"echoed {done - bad} missing {missing} wrong {bad}", flush=True)
            elif line.strip() == "close":
                for s in socks.values():
                    s.close()
                print("closed", flush=True)
                break
        """;

    [RequiresNetAdminFact("python3")]
    public async Task Thousands_of_kernel_connections_are_held_at_under_2_KB_each_and_all_still_echo()
    {
        int total = int.TryParse(Environment.GetEnvironmentVariable("USERTCP_HELD_CONNECTIONS"), out int n) ? n : 6_000;
        int processes = (total + PerProcess - 1) / PerProcess;
        using var bound = new CancellationTokenSource(Bound);
        Stopwatch clock = Stopwatch.StartNew();
        using NetNamespace ns = NetNamespace.Create();
        await using UserTcp.Live.LiveStack live = new LiveStackBuilder
        {
            Namespace = ns.Name,
            Tcp = new TcpConfig { TimeWait = TimeSpan.FromMilliseconds(300) },
            CloseOnDispose = CloseMode.Reset,
        }.Start();
        // The kernel's side: a source address per process, and ports for all of them.
        for (int p = 0; p < processes; p++) Assert.Equal(0, ns.Ip("addr", "add", $"10.77.0.{11 + p}/32", "dev", Addresses.Interface).ExitCode);
        Assert.Equal(0, ns.Run(TimeSpan.FromSeconds(10), "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000").ExitCode);

        var held = new List<UserTcpConnection>(total);
        long heapBefore = HeapAfterFullCollection();
        long rssBefore = Environment.WorkingSet;
        using UserTcpListener listener = live.Stack.Listen(Port, backlog: 4096);
        Task accepting = Task.Run(async () =>
        {
            while (held.Count < total) held.Add(await listener.AcceptAsync(bound.Token));
        });
        var clients = new List<PeerProgram>();
        try
        {
            for (int p = 0; p < processes; p++)
            {
                int share = Math.Min(PerProcess, total - p * PerProcess);
                clients.Add(ns.StartInteractive("python3", "-c", Client, $"10.77.0.{11 + p}", Addresses.Stack,
                    Port.ToString(CultureInfo.InvariantCulture), share.ToString(CultureInfo.InvariantCulture)));
            }
            foreach (PeerProgram c in clients)
            {
                Assert.True(await Task.Run(() => c.WaitForOutputLine(l => l.StartsWith("connected", StringComparison.Ordinal), Bound), bound.Token), c.Transcript);
                Assert.Contains(c.OutputLines, l => l.EndsWith(" failed 0", StringComparison.Ordinal));
            }
            await accepting.WaitAsync(bound.Token);
            TimeSpan connected = clock.Elapsed;

            // Idle: every connection established on both sides, nothing to send or read.
            double heapPerConnection = (HeapAfterFullCollection() - heapBefore) / (double)total;
            double rssPerConnection = (Environment.WorkingSet - rssBefore) / (double)total;
            Assert.All(held, c => Assert.Equal(TcpState.Established, c.State));

            // A server's way to wait on each: a zero-byte read, then the bytes, echoed back.
            Task[] echoes = [.. held.Select(c => Echo(c, bound.Token))];
            await Task.Delay(500, bound.Token);
            double heapWaiting = (HeapAfterFullCollection() - heapBefore) / (double)total;
            foreach (PeerProgram c in clients) c.WriteInput("echo");
            foreach (PeerProgram c in clients)
            {
                Assert.True(await Task.Run(() => c.WaitForOutputLine(l => l.StartsWith("echoed", StringComparison.Ordinal), Bound), bound.Token), c.Transcript);
                Assert.Contains(c.OutputLines, l => l.StartsWith("echoed", StringComparison.Ordinal) && l.EndsWith(" missing 0 wrong 0", StringComparison.Ordinal));
            }
            TimeSpan echoed = clock.Elapsed;
            foreach (PeerProgram c in clients) c.WriteInput("close");
            await Task.WhenAll(echoes).WaitAsync(bound.Token);

            string report = $"{total} connections from {processes} kernel processes: established in {connected.TotalSeconds:F1} s, "
                + $"all echoed by {echoed.TotalSeconds:F1} s; idle {heapPerConnection:F0} B of GC heap and {rssPerConnection:F0} B of RSS per connection; "
                + $"{heapWaiting:F0} B of GC heap each with a zero-byte read pending";
            output.WriteLine(report);
            Console.WriteLine(report); // also on the runner's console, for the record
            Assert.True(heapPerConnection <= IdleBudget, report);
        }
        finally
        {
            foreach (PeerProgram c in clients) c.Dispose();
        }
    }

    // Echoes until the peer closes, holding no buffer while idle.
    private static async Task Echo(UserTcpConnection connection, CancellationToken token)
    {
        while (true)
        {
            await connection.ReadAsync(Memory<byte>.Empty, token);
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64);
            try
            {
                int n = await connection.ReadAsync(buffer, token);
                if (n == 0) break;
                await connection.WriteAsync(buffer.AsMemory(0, n), token);
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        await connection.CloseAsync(token);
    }

    private static long HeapAfterFullCollection()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
