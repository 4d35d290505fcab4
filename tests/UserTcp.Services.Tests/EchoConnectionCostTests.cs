using System.Net.Sockets;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Services.Tests;

/// <summary>
/// What one short connection costs the echo service (the connection-rate figure of issue 10: connect, one byte there
/// and back, close with a reset), in counts: the packets it writes, the bytes it allocates, and whether its handler ran
/// without a thread switch. Both stacks are pumped on this thread, so the thread's allocation counter sees everything.
/// </summary>
public sealed class EchoConnectionCostTests
{
    private const int Warmup = 200;
    private const int Connections = 200;

    [Fact]
    public async Task A_connection_that_echoes_one_byte_and_is_reset_is_served_inline_with_two_packets_and_few_allocations()
    {
        await InlineThread.RunAsync(ServeShortConnectionsAsync); // as on the stack's reader thread: no synchronization context
    }

    private static async Task ServeShortConnectionsAsync()
    {
        var written = new OutboundPacketCounter();
        await using var net = new PumpedPair(wrapServerDevice: device => new CapturingDevice(device, written, () => TimeSpan.Zero));
        NetStack server = net.Server, client = net.Client;
        using var stop = new CancellationTokenSource();
        var echo = new EchoService();
        Task serving = echo.RunAsync(server, cancellationToken: stop.Token);
        var options = new UserTcpConnectionOptions { NoDelay = true, Linger = TimeSpan.Zero }; // tcpload cc: SO_LINGER {1, 0}
        byte[] answer = new byte[16];

        // Plain checks inside the measured loop (xunit's asserts allocate); the packets the server wrote for it.
        long OneConnection()
        {
            long before = written.Packets;
            UserTcpConnection connection = client.Connect(new IpEndpoint(PumpedPair.ServerAddress, EchoService.Port), options);
            net.Pump();
            if (connection.State != TcpState.Established || connection.Send([42], out _) != 1) return -1;
            net.Pump();
            if (connection.Receive(answer, out SocketError error) != 1 || error != SocketError.Success || answer[0] != 42) return -1;
            ValueTask close = connection.CloseAsync(); // linger 0: a RST, at once
            if (!close.IsCompletedSuccessfully) return -1;
            close.GetAwaiter().GetResult();
            net.Pump();
            // The handler saw the reset and finished inside the pump: no connection left on the service.
            return echo.Statistics.ActiveConnections == 0 ? written.Packets - before : -1;
        }

        for (int i = 0; i < Warmup; i++) Assert.NotEqual(-1, OneConnection()); // JIT, pools and tables at their working size
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long callPassesBefore = server.CallPasses;
        var packets = new long[Connections];
        for (int i = 0; i < Connections; i++) packets[i] = OneConnection();
        long perConnection = (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / Connections;
        double callPasses = (server.CallPasses - callPassesBefore) / (double)Connections;

        // The SYN-ACK and the echo, which carries the request's ACK; nothing else (no pure ACK before the echo).
        Assert.All(packets, count => Assert.Equal(2, count));
        // The passes made by the server's calls, beside the passes that read packets: the accept that waits for the next
        // connection (one pass: it takes a waiting connection or queues itself), the echo's write, and TakeError after the
        // reset. Its two reads (the first, before the request; the one after the echo, which the reset ends) find nothing
        // and wait without a pass; the close of a connection already CLOSED takes none; the accept is finished inside the
        // reader's pass that established the connection.
        Assert.Equal(3, callPasses);
        Assert.Equal(Warmup + Connections, echo.Statistics.ConnectionsAccepted);
        // Both stacks' part of a connection: the engine's TCB on each side, the runtime's connection objects, the echo
        // handler's two state machines; about 4.6 KB (4.75 KB with the SACK block list made for every connection, 5.0 KB
        // with a TaskCompletionSource per accept and a third state machine per connection, 7.6 KB with a SocketException
        // per reset, more than 24 KB with a thread-pool task and a 16 KiB buffer per connection). A regression shows here first.
        Assert.True(perConnection <= 4700, $"{perConnection} bytes allocated per connection");
        await stop.CancelAsync();
        net.Pump();
        await serving.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
