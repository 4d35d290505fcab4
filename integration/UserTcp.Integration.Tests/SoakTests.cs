using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using UserTcp.Link;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets;
using UserTcp.Wire;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The soak (issue 11): 64 parallel 10 MB transfers between UserTcp and the kernel, half each way, through the live
/// fault injector dropping 5 %, holding back (reordering) 2 % and duplicating 1 % of the packets in both directions.
/// Every transfer's SHA-256 must match on both ends, and every one must finish within the test's bound. Sizes can be
/// raised for a manual run: USERTCP_SOAK_CONNECTIONS and USERTCP_SOAK_MB.
/// </summary>
public sealed class SoakTests(ITestOutputHelper output)
{
    private const ushort StackPort = 9100;
    private const ushort KernelPort = 9101;
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    /// <summary>
    /// python3 -c Peer STACK STACK_PORT LISTEN_PORT CLIENTS SIZE: accepts CLIENTS connections on LISTEN_PORT and reads
    /// each to its end, printing "received PEER_PORT N SHA256"; meanwhile CLIENTS threads connect to STACK:STACK_PORT,
    /// send SIZE seeded random bytes and shut down, printing "sent LOCAL_PORT N SHA256". Failures print "error ...".
    /// </summary>
    private const string Peer = """
        import hashlib, random, socket, sys, threading
        host, stack_port, listen_port, clients, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        lock = threading.Lock()
        def say(*words):
            with lock:
                print(*words, flush=True)
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", listen_port))
        server.listen(128)
        server.settimeout(200)
        def receive(conn, peer):
            try:
                conn.settimeout(200)
                digest, n = hashlib.sha256(), 0
                while True:
                    data = conn.recv(262144)
                    if not data:
                        break
                    digest.update(data)
                    n += len(data)
                conn.close()
                say("received", peer[1], n, digest.hexdigest())
            except Exception as e:
                say("error receive", peer[1], repr(e))
        def serve():
            threads = []
            try:
                for _ in range(clients):
                    conn, peer = server.accept()
                    t = threading.Thread(target=receive, args=(conn, peer))
                    t.start()
                    threads.append(t)
            except Exception as e:
                say("error accept", repr(e))
            for t in threads:
                t.join()
        def send(i):
            try:
                s = socket.create_connection((host, stack_port), timeout=200)
                port = s.getsockname()[1]
                rng, digest, left = random.Random(i), hashlib.sha256(), size
                while left:
                    chunk = rng.randbytes(min(262144, left))
                    digest.update(chunk)
                    s.sendall(chunk)
                    left -= len(chunk)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
                s.close()
                say("sent", port, size, digest.hexdigest())
            except Exception as e:
                say("error send", i, repr(e))
        print("listening", flush=True)
        threads = [threading.Thread(target=serve)] + [threading.Thread(target=send, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("done", flush=True)
        """;

    [RequiresNetAdminFact("python3")]
    public async Task Sixty_four_transfers_through_loss_reordering_and_duplication_all_arrive_intact()
    {
        int connections = Setting("USERTCP_SOAK_CONNECTIONS", 64);
        int size = Setting("USERTCP_SOAK_MB", 10) << 20;
        int half = connections / 2;
        FaultRule[] faults = [FaultRule.Parse("drop p=5%"), FaultRule.Parse("reorder p=2%"), FaultRule.Parse("duplicate p=1%")];
        await using LiveStack live = LiveStack.Start(Bound, recordSegments: false, faults: faults, faultSeed: 11);
        CancellationToken token = live.Token;
        var stopwatch = Stopwatch.StartNew();
        using UserTcpListener listener = live.Stack.Listen(StackPort, backlog: connections);
        PeerProgram kernel = live.Namespace.Start("python3", "-c", Peer, Addresses.Stack, $"{StackPort}", $"{KernelPort}", $"{half}", $"{size}");
        Assert.True(kernel.WaitForOutputLine(l => l == "listening", TimeSpan.FromSeconds(20)), kernel.Transcript);

        // UserTcp's side: read what the kernel's clients send, and send to the kernel's server, each hashed as it goes.
        var received = new ConcurrentDictionary<int, string>(); // by the kernel's port
        var sent = new ConcurrentDictionary<int, string>(); // by UserTcp's port
        var transfers = new List<Task>();
        for (int i = 0; i < half; i++)
        {
            transfers.Add(ReceiveOne(listener, received, token));
            transfers.Add(SendOne(live.Stack, 1000 + i, size, sent, token));
        }
        Task all = Task.WhenAll(transfers);
        await Task.WhenAny(all, Task.Delay(Timeout.Infinite, token));
        Assert.True(all.IsCompletedSuccessfully, $"not every transfer finished within {Bound}: {all.Exception?.GetBaseException().Message ?? "still running"}\n{Progress(received, sent, half)}");
        Assert.True(kernel.WaitForExit(TimeSpan.FromSeconds(60)), kernel.Transcript);
        TimeSpan took = stopwatch.Elapsed;

        // Every byte verified: the hashes each side computed agree, for every transfer, both ways.
        string[] lines = [.. kernel.OutputLines];
        Assert.DoesNotContain(lines, l => l.StartsWith("error", StringComparison.Ordinal));
        string[][] kernelSent = [.. lines.Where(l => l.StartsWith("sent ", StringComparison.Ordinal)).Select(l => l.Split(' '))];
        string[][] kernelReceived = [.. lines.Where(l => l.StartsWith("received ", StringComparison.Ordinal)).Select(l => l.Split(' '))];
        Assert.Equal(half, kernelSent.Length);
        Assert.Equal(half, kernelReceived.Length);
        foreach (string[] s in kernelSent)
        {
            Assert.Equal($"{size}", s[2]);
            Assert.Equal(s[3], received[int.Parse(s[1], CultureInfo.InvariantCulture)]);
        }
        foreach (string[] r in kernelReceived)
        {
            Assert.Equal($"{size}", r[2]);
            Assert.Equal(sent[int.Parse(r[1], CultureInfo.InvariantCulture)], r[3]);
        }

        // The faults really happened, at about the rates asked for.
        FaultCounters counters = live.Faults!.Counters;
        long packets = counters.Transmitted;
        output.WriteLine($"{connections} transfers of {size >> 20} MiB ({(long)connections * size >> 20} MiB) in {took.TotalSeconds:F1} s; "
            + $"{packets} packets: {counters.DroppedByRule + counters.DroppedAtRandom} dropped, {counters.HeldBack} held back, {counters.Duplicated} duplicated");
        Assert.InRange(counters.DroppedByRule + counters.DroppedAtRandom, packets * 3 / 100, packets * 7 / 100);
        Assert.InRange(counters.HeldBack, packets / 100, packets * 3 / 100);
        Assert.InRange(counters.Duplicated, packets / 200, packets * 2 / 100);
    }

    private static async Task ReceiveOne(UserTcpListener listener, ConcurrentDictionary<int, string> received, CancellationToken token)
    {
        await using UserTcpConnection connection = await listener.AcceptAsync(token);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[65536];
        long total = 0;
        int read;
        while ((read = await connection.ReadAsync(buffer, token)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        received[connection.RemoteEndpoint.Port] = Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task SendOne(NetStack stack, int seed, int size, ConcurrentDictionary<int, string> sent, CancellationToken token)
    {
        await using UserTcpConnection connection = await stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, KernelPort), token);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        byte[] chunk = new byte[65536];
        for (int left = size; left > 0; left -= chunk.Length)
        {
            Memory<byte> piece = chunk.AsMemory(0, Math.Min(chunk.Length, left));
            random.NextBytes(piece.Span);
            hash.AppendData(piece.Span);
            await connection.WriteAsync(piece, token);
        }
        sent[connection.LocalEndpoint.Port] = Convert.ToHexStringLower(hash.GetHashAndReset());
        connection.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        // The kernel reads to the end and closes: our read sees its FIN once every byte was acknowledged.
        byte[] rest = new byte[16];
        while (await connection.ReadAsync(rest, token) > 0)
        {
        }
    }

    private static string Progress(ConcurrentDictionary<int, string> received, ConcurrentDictionary<int, string> sent, int half) =>
        $"received {received.Count} of {half}, sent {sent.Count} of {half}";

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), CultureInfo.InvariantCulture, out int value) && value > 0 ? value : fallback;
}
