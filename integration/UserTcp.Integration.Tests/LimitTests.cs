using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>The stack's caps against the kernel (docs/design.md "Limits"): what a cap holds back arrives later, byte-exact.</summary>
public sealed class LimitTests(ITestOutputHelper output)
{
    private const ushort Port = 5060;

    /// <summary>python3 -c SendAndHash HOST PORT BYTES: sends BYTES of a fixed pattern, shuts down, waits for EOF, prints its SHA-256.</summary>
    private const string SendAndHash = """
        import hashlib, socket, sys
        n = int(sys.argv[3])
        data = bytes((i * 7 + i // 251) & 0xFF for i in range(n))
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
        print("sent", n, hashlib.sha256(data).hexdigest(), flush=True)
        """;

    [RequiresNetAdminFact("python3", "ss")]
    public async Task A_kernel_sender_stalls_at_the_buffer_memory_budget_while_the_app_does_not_read_and_completes_byte_exact_once_it_does()
    {
        const int Budget = 4 * 16 * 1024; // four chunks; the receive buffer (256 KiB) would take four times as much
        const int Size = 1 << 20;
        var tcp = new TcpConfig { TimeWait = LiveStack.ShortTimeWait, FinWait2Timeout = TimeSpan.FromSeconds(5), MaxBufferMemory = Budget };
        await using LiveStack live = LiveStack.Start(tcp: tcp, recordSegments: false);
        using UserTcpListener listener = live.Stack.Listen(Port);
        PeerProgram kernel = live.Namespace.Start("python3", "-c", SendAndHash, Addresses.Stack, $"{Port}", $"{Size}");
        await using UserTcpConnection connection = await listener.AcceptAsync(live.Token);

        // The application does not read: the window offers only what the budget backs, and the kernel's data waits in its send queue.
        int KernelSendQueue() => live.Namespace.Sockets().FirstOrDefault(s => s.Peer == $"{Addresses.Stack}:{Port}")?.SendQueue ?? 0;
        for (long deadline = Environment.TickCount64 + 10_000; connection.Available == 0 || KernelSendQueue() == 0; await Task.Delay(50, live.Token))
        {
            Assert.True(Environment.TickCount64 < deadline, $"nothing arrived: {connection.Available} bytes held");
        }
        await Task.Delay(500, live.Token);
        int held = connection.Available;
        int queued = KernelSendQueue();
        await Task.Delay(500, live.Token);
        Assert.Equal(held, connection.Available); // stalled, not slow: nothing more arrives while the application waits
        Assert.InRange(held, 1, Budget);
        Assert.True(queued > 0, "the kernel's send queue is empty");
        Assert.False(kernel.HasExited, kernel.Transcript);

        // The application reads: every byte arrives, in order, exactly as sent.
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await connection.ReadAsync(buffer, live.Token)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            total += read;
        }
        await connection.DisposeAsync();
        Assert.True(kernel.WaitForExit(TimeSpan.FromSeconds(30)), kernel.Transcript);
        string[] sent = Assert.Single(kernel.OutputLines, l => l.StartsWith("sent ", StringComparison.Ordinal)).Split(' ');
        Assert.Equal(Size, total);
        Assert.Equal(sent[2], Convert.ToHexStringLower(hash.GetHashAndReset()));
        output.WriteLine($"held {held} bytes unread with the kernel's send queue at {queued}; peak buffer memory "
            + $"{live.Stack.Counters[MibCounter.UserTcpBufferMemoryPeak]}, memory pressures {live.Stack.Counters[MibCounter.TcpExtTCPMemoryPressures]}, "
            + $"dropped in order {live.Stack.Counters[MibCounter.TcpExtTCPRcvQDrop]}, out of order {live.Stack.Counters[MibCounter.TcpExtTCPOFODrop]}");
        Assert.True(live.Stack.Counters[MibCounter.UserTcpBufferMemoryPeak] <= Budget, $"{live.Stack.Counters[MibCounter.UserTcpBufferMemoryPeak]} bytes of buffer memory in use at once");
    }
}
