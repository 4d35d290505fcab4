using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Sockets;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Several cores (issue 10 part 3, docs/design.md "Several cores"): UserTcp on a two-queue TUN interface, one engine shard
/// per queue, against the kernel. The kernel spreads connections over the queues by flow hash; every one must work, and
/// connections we open must get their answers whichever queue the kernel puts them on.
/// </summary>
public sealed class MultiQueueTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// python3 -c OpenHoldEcho HOST PORT N: opens N connections, prints "open", waits for a line on stdin, then sends each
    /// its number and reads it back, prints "echoed N" and closes them all.
    /// </summary>
    private const string OpenHoldEcho = """
        import socket, sys
        host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        conns = [socket.create_connection((host, port), timeout=10) for _ in range(n)]
        print("open", flush=True)
        sys.stdin.readline()
        ok = 0
        for i, c in enumerate(conns):
            message = ("%08d" % i).encode()
            c.sendall(message)
            got = b""
            while len(got) < len(message):
                chunk = c.recv(64)
                if not chunk:
                    break
                got += chunk
            ok += got == message
        print("echoed", ok, flush=True)
        for c in conns:
            c.close()
        """;

    [RequiresNetAdminFact("python3")]
    public async Task Kernel_connections_land_on_both_shards_and_every_one_echoes()
    {
        const int Connections = 64;
        await using LiveStack live = LiveStack.Start(recordSegments: false, services: true, queues: 2);
        Assert.Equal(2, live.Stack.Queues);
        Assert.Equal(2, live.Queues.Count);
        Assert.Contains("multi_queue numqueues 2 ", live.Namespace.Ip("-d", "link", "show", Addresses.Interface).OutputText);

        PeerProgram client = live.Namespace.StartInteractive("python3", "-c", OpenHoldEcho, Addresses.Stack, "7", $"{Connections}");
        Assert.True(client.WaitForOutputLine(l => l == "open", PeerTimeout), client.Transcript);
        IReadOnlyList<ConnectionSnapshot> rows = [.. live.Stack.Snapshot().Where(r => r.Local.Port == 7 && r.State == TcpState.Established)];
        Assert.Equal(Connections, rows.Count);
        // The kernel's flow hash spread them: 64 connections all on one of two queues would happen once in 2^63 runs.
        Assert.Contains(rows, r => r.Queue == 0);
        Assert.Contains(rows, r => r.Queue == 1);

        client.WriteInput("go");
        Assert.True(client.WaitForOutputLine(l => l == $"echoed {Connections}", PeerTimeout), client.Transcript);
        Assert.Equal(0, live.Stack.ProcessingErrors);
    }

    [RequiresNetAdminFact("python3")]
    public async Task Faults_run_on_both_queues_and_every_connection_still_echoes()
    {
        // Faults on a multi-queue device: each queue has its injector, all on one link (one set of rules and counters).
        const int Connections = 64;
        FaultRule[] rules = [FaultRule.Parse("drop p=5% port=7")];
        var dropped = new System.Collections.Concurrent.ConcurrentBag<int>(); // the kernel-side port of each packet dropped
        FaultInjectingDevice faults;
        IReadOnlyList<ConnectionSnapshot> rows;
        await using (LiveStack live = LiveStack.Start(recordSegments: false, services: true, queues: 2, faults: rules, faultSeed: 3))
        {
            Assert.Equal(2, live.Stack.Queues);
            faults = live.Faults!;
            faults.OnFault = e => dropped.Add(KernelPort(e.Packet));

            PeerProgram client = live.Namespace.StartInteractive("python3", "-c", OpenHoldEcho, Addresses.Stack, "7", $"{Connections}");
            Assert.True(client.WaitForOutputLine(l => l == "open", PeerTimeout), client.Transcript);
            rows = [.. live.Stack.Snapshot().Where(r => r.Local.Port == 7 && r.State == TcpState.Established)];
            client.WriteInput("go");
            Assert.True(client.WaitForOutputLine(l => l == $"echoed {Connections}", PeerTimeout), client.Transcript);
            Assert.Equal(0, live.Stack.ProcessingErrors);
        }

        // The stack and its device are gone, so the link is quiet and its counts final (the closes went on after the echoes).
        FaultCounters counters = faults.Counters;
        Assert.True(counters.DroppedByRule > 0, "nothing was dropped");
        Assert.Equal(counters.DroppedByRule, dropped.Count);
        Assert.Equal(counters.Transmitted, counters.Forwarded + counters.DroppedByRule);
        // Packets of connections on each queue met the rule: faults ran on both.
        var queueOf = rows.ToDictionary(r => (int)r.Remote.Port, r => r.Queue);
        Assert.Contains(dropped, port => queueOf.TryGetValue(port, out int queue) && queue == 0);
        Assert.Contains(dropped, port => queueOf.TryGetValue(port, out int queue) && queue == 1);
    }

    // "IP 10.77.0.1.40000 > 10.77.0.2.7: ..." or the other way: the port on the kernel's side.
    private static int KernelPort(string packet)
    {
        string[] words = packet.Split(' ');
        string endpoint = words[1].StartsWith(Addresses.Stack + ".", StringComparison.Ordinal) ? words[3].TrimEnd(':') : words[1];
        return int.Parse(endpoint[(endpoint.LastIndexOf('.') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [RequiresNetAdminFact("python3")]
    public async Task Connections_we_open_from_both_shards_reach_the_kernel_and_get_their_answers()
    {
        const int Connections = 16;
        await using LiveStack live = LiveStack.Start(recordSegments: false, queues: 2);
        Assert.Equal(2, live.Stack.Queues);
        PeerProgram server = live.Namespace.Start("python3", "-c", KernelPeers.EchoEvery, Addresses.KernelAddress.ToString(), "9000");
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);

        var connections = new List<UserTcpConnection>();
        for (int i = 0; i < Connections; i++)
        {
            connections.Add(await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 9000), live.Token));
        }
        IReadOnlyList<ConnectionSnapshot> rows = [.. live.Stack.Snapshot().Where(r => r.Remote.Port == 9000)];
        Assert.Contains(rows, r => r.Queue == 0);
        Assert.Contains(rows, r => r.Queue == 1);

        byte[] message = new byte[3000]; // more than one segment each way
        for (int i = 0; i < Connections; i++)
        {
            Array.Fill(message, (byte)i);
            await connections[i].WriteAsync(message, live.Token);
            byte[] back = new byte[message.Length];
            int got = 0;
            while (got < back.Length)
            {
                int n = await connections[i].ReadAsync(back.AsMemory(got), live.Token);
                Assert.NotEqual(0, n);
                got += n;
            }
            Assert.Equal(message, back);
        }
        foreach (UserTcpConnection connection in connections) await connection.CloseAsync();
        Assert.Equal(0, live.Stack.ProcessingErrors);
    }
}
