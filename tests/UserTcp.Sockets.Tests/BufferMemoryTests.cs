using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>The stack's buffer memory budget (TcpConfig.MaxBufferMemory) as the application meets it: a write waits, never fails.</summary>
public sealed class BufferMemoryTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);

    [Fact]
    public async Task A_write_waiting_for_memory_another_connection_holds_completes_when_that_connection_is_read()
    {
        const int Chunk = 16 * 1024;
        // Auto-tuning off: its window scale (7) offers memory in 128-byte steps, and the budget's last 16 bytes would wait.
        await using var net = new PumpedPair(new TcpConfig { MaxBufferMemory = 2 * Chunk, ReceiveBufferAutoTuning = false });
        UserTcpListener listener = net.Server.Listen(80);
        ValueTask<UserTcpConnection> acceptA = listener.AcceptAsync();
        UserTcpConnection a = net.Client.Connect(Server80);
        net.Pump();
        UserTcpConnection serverA = await acceptA;

        // The server sends A the whole budget; the client's application does not read it yet.
        byte[] toA = [.. Enumerable.Range(0, 2 * Chunk).Select(i => (byte)(i * 7))];
        await serverA.WriteAsync(toA);
        for (int i = 0; i < 10 && a.Available < toA.Length; i++) net.Advance(TimeSpan.FromMilliseconds(50)); // a delayed ACK, then Nagle's last segment
        Assert.Equal(toA.Length, a.Available);

        // B has nothing in flight, so no segment of its own will come to retry its write: only memory freeing can.
        ValueTask<UserTcpConnection> acceptB = listener.AcceptAsync();
        UserTcpConnection b = net.Client.Connect(Server80);
        net.Pump();
        UserTcpConnection serverB = await acceptB;
        byte[] fromB = [.. Enumerable.Range(0, 1000).Select(i => (byte)(i * 3))];
        ValueTask write = b.WriteAsync(fromB);
        net.Pump();
        Assert.False(write.IsCompleted, "the write should wait: the stack's buffer memory is all A's");
        Assert.True(net.Client.Counters[MibCounter.UserTcpSendMemoryShort] >= 1);

        byte[] readA = new byte[toA.Length];
        int n = await a.ReadAsync(readA);
        Assert.Equal(toA.Length, n);
        Assert.Equal(toA, readA);
        net.Pump();
        Assert.True(write.IsCompletedSuccessfully, "memory came back, but the waiting write was not retried");
        byte[] atServer = new byte[fromB.Length];
        ValueTask<int> read = serverB.ReadAsync(atServer);
        net.Pump();
        Assert.Equal(fromB.Length, await read);
        Assert.Equal(fromB, atServer);
    }
}
