using System.Net.Sockets;
using System.Runtime.CompilerServices;
using UserTcp.Testing;
using Xunit.Abstractions;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// Memory on demand (issue 10): an idle established connection costs a small fixed record — no send or receive
/// buffer — and a connection in TIME-WAIT shrinks to a compact record once the application lets it go. Measured as
/// GC heap after a full collection, divided by the connections, on a pumped pair (both stacks in this process).
/// Alone in its collection: tests running beside it would allocate into the figure.
/// </summary>
[Collection(nameof(MemoryTests))]
public sealed class MemoryTests(ITestOutputHelper output)
{
    private static readonly int Connections = int.TryParse(Environment.GetEnvironmentVariable("USERTCP_MEMORY_CONNECTIONS"), out int n) ? n : 2000;
    /// <summary>Issue 10's bound for an idle connection: managed memory per connection, runtime included.</summary>
    private const int IdleBudget = 2048;
    /// <summary>What a TIME-WAIT may cost once the connection object is gone (Linux's tcp_timewait_sock is ~200 bytes).</summary>
    private const int TimeWaitBudget = 256;

    [Fact]
    public async Task An_idle_established_connection_holds_no_buffer_and_costs_at_most_2_KB()
    {
        await using var net = new PumpedPair(new TcpConfig { TimeWait = TimeSpan.FromSeconds(60) });
        using UserTcpListener listener = net.Server.Listen(80, backlog: Connections);
        long before = HeapAfterFullCollection();
        (UserTcpConnection[] clients, UserTcpConnection[] servers) = Open(net, listener, Connections);
        EchoOnce(net, clients, servers); // buffers were used once and are drained again
        long after = HeapAfterFullCollection();

        double perConnection = (after - before) / (2.0 * Connections); // both ends live in this process
        output.WriteLine($"{Connections} idle connections, both ends: {perConnection:F0} bytes of GC heap per connection end");
        Assert.All(servers, s => Assert.Equal(TcpState.Established, s.State));
        Assert.True(perConnection <= IdleBudget, $"{perConnection:F0} bytes per idle connection end, budget {IdleBudget}");
        GC.KeepAlive(clients);
        GC.KeepAlive(servers);
    }

    [Fact]
    public async Task A_connection_in_time_wait_shrinks_to_a_compact_record()
    {
        await using var net = new PumpedPair(new TcpConfig { TimeWait = TimeSpan.FromSeconds(60) });
        using UserTcpListener listener = net.Server.Listen(80, backlog: Connections);
        // A first round, run to its end, brings the tables, the timer heap and the pools to their working size.
        OpenEchoAndClose(net, listener);
        net.Advance(TimeSpan.FromSeconds(61));
        Assert.Empty(net.Client.Engine.TimeWaits);
        long before = HeapAfterFullCollection();
        OpenEchoAndClose(net, listener);
        long after = HeapAfterFullCollection();

        double perRecord = (after - before) / (double)Connections;
        output.WriteLine($"{Connections} connections in TIME-WAIT: {perRecord:F0} bytes of GC heap each");
        Assert.Equal(Connections, net.Client.Engine.TimeWaits.Count);
        Assert.Empty(net.Client.Engine.Connections);
        Assert.Empty(net.Server.Engine.Connections);
        Assert.True(perRecord <= TimeWaitBudget, $"{perRecord:F0} bytes per TIME-WAIT, budget {TimeWaitBudget}");
    }

    // Not inlined, so nothing of the connections stays on the caller's stack.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void OpenEchoAndClose(PumpedPair net, UserTcpListener listener)
    {
        (UserTcpConnection[] clients, UserTcpConnection[] servers) = Open(net, listener, Connections);
        EchoOnce(net, clients, servers);
        // The client closes first, so the client's stack holds the TIME-WAITs; then both applications let go.
        for (int i = 0; i < clients.Length; i++)
        {
            CloseNow(clients[i]);
            net.Pump();
            CloseNow(servers[i]);
            net.Pump();
        }
        Assert.All(clients, c => Assert.Equal(TcpState.TimeWait, c.State));
    }

    // Without a linger, close finishes at once.
    private static void CloseNow(UserTcpConnection connection)
    {
        ValueTask close = connection.CloseAsync();
        if (!close.IsCompletedSuccessfully) throw new InvalidOperationException("close did not finish at once");
        close.GetAwaiter().GetResult();
    }

    internal static (UserTcpConnection[] Clients, UserTcpConnection[] Servers) Open(PumpedPair net, UserTcpListener listener, int count)
    {
        var clients = new UserTcpConnection[count];
        var servers = new UserTcpConnection[count];
        for (int i = 0; i < count; i++)
        {
            clients[i] = net.Client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 80));
            net.Pump();
            Assert.True(listener.TryAccept(out UserTcpConnection? server));
            servers[i] = server;
        }
        return (clients, servers);
    }

    internal static void EchoOnce(PumpedPair net, UserTcpConnection[] clients, UserTcpConnection[] servers)
    {
        byte[] message = new byte[100];
        byte[] buffer = new byte[4096];
        for (int i = 0; i < clients.Length; i++)
        {
            Assert.Equal(100, clients[i].Send(message, out SocketError error));
            Assert.Equal(SocketError.Success, error);
            net.Pump();
            Assert.Equal(100, servers[i].Receive(buffer, out _));
            Assert.Equal(100, servers[i].Send(buffer.AsSpan(0, 100), out _));
            net.Pump();
            Assert.Equal(100, clients[i].Receive(buffer, out _));
        }
        net.Advance(TimeSpan.FromSeconds(1)); // delayed ACKs out, every byte acknowledged
    }

    internal static long HeapAfterFullCollection()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>Heap measurements run with no other test beside them.</summary>
[CollectionDefinition(nameof(MemoryTests), DisableParallelization = true)]
public sealed class MemoryTestsCollection;
