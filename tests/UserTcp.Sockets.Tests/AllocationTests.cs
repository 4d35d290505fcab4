using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// User calls in steady state allocate nothing: a write that completes at once, a read that waits and is completed
/// by the next pass, and the passes themselves (batches, ACK coalescing, the peer's answer). Everything runs on this
/// thread (a pumped pair on a fake clock), so the thread's allocation counter sees all of it.
/// </summary>
public sealed class AllocationTests
{
    private const int Rounds = 1000;
    private const int Windows = 4;

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // a cancellable token: its registration is made and undone per waiting read, from the token's free list
    public async Task Steady_state_writes_reads_and_the_passes_between_them_allocate_nothing(bool cancellable)
    {
        using var cancellation = new CancellationTokenSource();
        CancellationToken token = cancellable ? cancellation.Token : CancellationToken.None;
        await using var net = new PumpedPair(new TcpConfig { DelayedAck = TimeSpan.Zero, NoDelay = true });
        using UserTcpListener listener = net.Server.Listen(80);
        UserTcpConnection client = net.Client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 80));
        net.Pump();
        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        byte[] message = new byte[64];
        byte[] buffer = new byte[4096];

        // Plain checks inside the measured loop: xunit's asserts allocate.
        bool Round()
        {
            // A write with room completes at once; the peer reads it without waiting.
            ValueTask write = client.WriteAsync(message, token);
            if (!write.IsCompletedSuccessfully) return false;
            write.GetAwaiter().GetResult();
            net.Pump();
            if (server.Receive(buffer, out _) != 64) return false;
            // A read with nothing there waits; the pass that brings data completes it.
            ValueTask<int> read = server.ReadAsync(buffer, token);
            if (read.IsCompleted) return false;
            client.Send(message, out _);
            net.Pump();
            return read.IsCompleted && read.GetAwaiter().GetResult() == 64;
        }

        for (int i = 0; i < 100; i++) Assert.True(Round()); // warm up: JIT, lists and queues at their working size
        // Several windows: a call that allocates shows in every one of them, while a one-off of the runtime itself
        // (a method tiered up or replaced on the stack mid-window, seen under load) shows in one at most.
        var windows = new List<long>();
        int good = 0;
        for (int window = 0; window < Windows && !windows.Contains(0); window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Rounds; i++) good += Round() ? 1 : 0;
            windows.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(Rounds * windows.Count, good);
        Assert.True(windows.Contains(0), $"every window of {Rounds} rounds allocated: {string.Join(", ", windows)} bytes");
    }
}
