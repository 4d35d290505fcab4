using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// What an accept loop costs per connection, in counts: the waiting accept is one reusable object (no waiter and no
/// TaskCompletionSource per accept), it takes the engine lock once, and the reader's pass that establishes the connection
/// finishes it. Everything runs on this thread (a pumped pair on a fake clock), so the thread's allocation counter sees it all.
/// </summary>
public sealed class AcceptCostTests
{
    private const int Warmup = 100;
    private const int Connections = 500;
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);

    [Fact]
    public async Task An_accept_loop_allocates_nothing_for_its_waits_and_takes_the_engine_lock_once_per_connection()
    {
        using var cancellation = new CancellationTokenSource(); // cancellable, as a server's accept loop is
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);

        // Plain checks inside the measured loops (xunit's asserts allocate). Each connection is reset at once on both
        // sides, so the tables stay at their size and the two loops below differ only in how they accept.
        bool AcceptWaiting()
        {
            ValueTask<UserTcpConnection> accept = listener.AcceptAsync(cancellation.Token);
            if (accept.IsCompleted) return false; // nothing was waiting: the accept queued itself
            UserTcpConnection client = net.Client.Connect(Server80);
            net.Pump();
            // Finished by the pass that established the connection, before any other call.
            if (!accept.IsCompletedSuccessfully) return false;
            UserTcpConnection server = accept.GetAwaiter().GetResult();
            return Reset(client, server);
        }

        bool AcceptReady()
        {
            UserTcpConnection client = net.Client.Connect(Server80);
            net.Pump();
            return listener.TryAccept(out UserTcpConnection? server) && Reset(client, server);
        }

        bool Reset(UserTcpConnection client, UserTcpConnection server)
        {
            if (server.RemoteEndpoint != client.LocalEndpoint) return false;
            server.Abort();
            net.Pump();
            return client.State == TcpState.Closed;
        }

        for (int i = 0; i < Warmup; i++) Assert.True(AcceptWaiting() && AcceptReady()); // JIT, pools and tables at their working size
        long waitingBytes = 0, readyBytes = 0;
        long callPasses = 0;
        int good = 0;
        // Interleaved windows, so a one-off of the runtime (a method tiered up mid-window) shows in one window, not in a difference.
        for (int window = 0; window < 4; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            long passesBefore = net.Server.CallPasses;
            for (int i = 0; i < Connections; i++) good += AcceptWaiting() ? 1 : 0;
            callPasses += net.Server.CallPasses - passesBefore;
            long middle = GC.GetAllocatedBytesForCurrentThread();
            waitingBytes += middle - before;
            for (int i = 0; i < Connections; i++) good += AcceptReady() ? 1 : 0;
            readyBytes += GC.GetAllocatedBytesForCurrentThread() - middle;
        }

        Assert.Equal(8 * Connections, good);
        // A waiting accept costs what a non-blocking accept of a connection already there costs: nothing of its own (it
        // was a waiter, a TaskCompletionSource and its Task, ~150 bytes per accept).
        double extraPerAccept = (waitingBytes - readyBytes) / (4.0 * Connections);
        Assert.True(extraPerAccept < 8, $"a waiting accept allocates {extraPerAccept:F1} bytes more than a non-blocking one ({waitingBytes} against {readyBytes} bytes)");
        // Per connection the server's calls take the engine lock twice: the accept (one pass, which finds nothing and queues
        // itself; it was two) and the abort.
        Assert.Equal(2.0, callPasses / (4.0 * Connections));
    }

    [Fact]
    public async Task Accepts_waiting_at_once_each_get_their_own_connection_in_order_and_the_waiters_are_reused_afterwards()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        for (int round = 0; round < 3; round++)
        {
            ValueTask<UserTcpConnection> first = listener.AcceptAsync();
            ValueTask<UserTcpConnection> second = listener.AcceptAsync();
            ValueTask<UserTcpConnection> third = listener.AcceptAsync();
            Assert.False(first.IsCompleted || second.IsCompleted || third.IsCompleted);
            UserTcpConnection a = net.Client.Connect(Server80);
            net.Pump();
            UserTcpConnection b = net.Client.Connect(Server80);
            net.Pump();
            Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully);
            Assert.False(third.IsCompleted);
            Assert.Equal(a.LocalEndpoint, (await first).RemoteEndpoint);
            Assert.Equal(b.LocalEndpoint, (await second).RemoteEndpoint);
            UserTcpConnection c = net.Client.Connect(Server80);
            net.Pump();
            Assert.Equal(c.LocalEndpoint, (await third).RemoteEndpoint);
        }
        // A result is taken once: the waiter went back to the listener for the next accept.
        ValueTask<UserTcpConnection> taken = listener.AcceptAsync();
        net.Client.Connect(Server80);
        net.Pump();
        Assert.True(taken.IsCompletedSuccessfully);
        UserTcpConnection once = await taken;
        Assert.NotNull(once);
        Assert.Throws<InvalidOperationException>(() => taken.GetAwaiter().GetResult());
    }
}
