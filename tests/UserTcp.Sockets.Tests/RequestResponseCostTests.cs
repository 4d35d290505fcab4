using Microsoft.Extensions.Time.Testing;
using System.Net.Sockets;
using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// What one request costs the runtime, in counts: thread switches, device writes and device reads. On one CPU each of
/// them is a context switch or a syscall, and together they decide a request/response exchange's rate (issue 10).
/// </summary>
public sealed class RequestResponseCostTests
{
    private const int Rounds = 200;

    [Fact]
    public async Task An_inline_echo_answers_each_request_on_the_pumping_thread_with_one_device_write()
    {
        await InlineThread.RunAsync(EchoOnThePumpingThreadAsync); // as on the stack's reader thread: no synchronization context
    }

    private static async Task EchoOnThePumpingThreadAsync()
    {
        var written = new OutboundPacketCounter();
        // Delayed ACKs as in production (the clock never reaches them here), without Linux's quick ACKs for a new
        // connection's first segments: the echo must carry the request's ACK.
        await using var net = new PumpedPair(serverTcp: new TcpConfig { QuickAcks = 0, StartInPingPongMode = true }, clientTcp: new TcpConfig { NoDelay = true },
            wrapServerDevice: device => new CapturingDevice(device, written, () => TimeSpan.Zero));
        NetStack server = net.Server, client = net.Client;
        using UserTcpListener listener = server.Listen(7, options: new UserTcpConnectionOptions { InlineCompletions = true, NoDelay = true });
        int testThread = Environment.CurrentManagedThreadId;
        var resumedOn = new List<int>();

        async Task EchoAsync()
        {
            UserTcpConnection connection = await listener.AcceptAsync().ConfigureAwait(false);
            resumedOn.Add(Environment.CurrentManagedThreadId);
            byte[] buffer = new byte[64];
            int read;
            while ((read = await connection.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                resumedOn.Add(Environment.CurrentManagedThreadId);
                await connection.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            }
        }

        Task echo = EchoAsync(); // waits in AcceptAsync
        UserTcpConnection peer = client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 7));
        for (int i = 0; i < 10 && (server.Pump() + client.Pump()) > 0; i++) { }
        Assert.Equal(TcpState.Established, peer.State);
        Assert.Equal([testThread], resumedOn); // the accept resumed inside the server's pump, on this thread

        byte[] answer = new byte[64];
        for (int round = 0; round < Rounds; round++)
        {
            Assert.Equal(1, peer.Send([(byte)round], out _)); // the request leaves at once (NoDelay)
            long before = written.Packets;
            Assert.True(server.Pump() >= 1); // the request (and maybe the client's ACK): read, echoed, and the echo written
            Assert.Equal(1, written.Packets - before); // one write: the echo, carrying the request's ACK (no pure ACK before it)
            Assert.Equal(1, written.LastPayload);
            Assert.Equal(1, client.Pump());
            Assert.Equal(1, peer.Receive(answer, out _));
            Assert.Equal((byte)round, answer[0]);
        }
        Assert.Equal(Rounds + 1, resumedOn.Count);
        Assert.All(resumedOn, thread => Assert.Equal(testThread, thread)); // never a thread-pool hop
        Assert.False(echo.IsCompleted);
    }

    [Fact]
    public async Task With_the_peer_on_another_CPU_the_reader_polls_and_reads_once_per_request_and_reads_the_device_empty_once_per_probe_interval()
    {
        // Each packet arrives only once the reader waits: a peer on another CPU answering after a round trip.
        const int Probe = AdaptiveReadLimit.ProbeInterval;
        const int Window = 10 * (Probe - 1);
        using var device = new OnePacketAtATimeDevice();
        await using (NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress }))
        {
            Assert.True(device.WaitUntilWaiting(), "the reader never waited for the device");
            // The first two packets are drained (read, read empty, pass, poll); then the reader takes one packet per pass,
            // tries reading right after the pass, finds nothing twice in a row, and polls before each read from then on.
            for (int i = 0; i < 40; i++) DeliverAndWait(device);
            long packets = device.PacketsRead, empty = device.EmptyReads, polls = device.ReadyWaits;
            for (int i = 0; i < Window; i++) DeliverAndWait(device);
            // Per packet a poll and the read that takes it; every ProbeInterval - 1 packets one read right after the
            // pass, which finds nothing. Waits that timed out (the reader looks at its stop flag every 200 ms) read nothing.
            Assert.Equal(Window, device.PacketsRead - packets);
            Assert.Equal(Window, device.ReadyWaits - polls);
            Assert.Equal(Window / (Probe - 1), device.EmptyReads - empty);
        }

        static void DeliverAndWait(OnePacketAtATimeDevice device) => Assert.True(device.DeliverAndWait(), "the reader did not come back to wait");
    }

    [Fact]
    public async Task With_the_peer_on_our_CPU_a_request_costs_one_read_one_write_no_poll_and_no_allocation()
    {
        // The client stack runs inside the server's device write, on the server's reader thread, as a kernel client on
        // our vCPU runs when our answer wakes it: by the time the write returns, its next request is queued.
        const int Probe = AdaptiveReadLimit.ProbeInterval;
        const int WarmUp = 200, Window = 10 * Probe, Windows = 4;
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)); // no timer ever fires
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        var device = new PeerRunsOnWriteDevice(pipe.A);
        // Delayed ACKs without quick ACKs on both sides: the echo carries the request's ACK, the next request the echo's.
        var tcp = new TcpConfig { RandomSeed = 1, QuickAcks = 0, StartInPingPongMode = true, NoDelay = true };
        await using NetStack client = NetStack.Create(pipe.B, new NetStackOptions { Address = PumpedPair.ClientAddress, Tcp = tcp with { RandomSeed = 2 } },
            timeProvider: time);
        device.Peer = client;
        var serverTime = new CountingTimeProvider(time.GetUtcNow()); // its own clock, at the same instant, that never moves either
        await using NetStack server = NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress, Tcp = tcp }, timeProvider: serverTime);
        var inline = new UserTcpConnectionOptions { InlineCompletions = true, NoDelay = true };
        using UserTcpListener listener = server.Listen(7, options: inline);
        Task echo = EchoAsync(listener);
        UserTcpConnection peer = client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 7), inline);
        for (int i = 0; i < 3000 && peer.State != TcpState.Established; i++) await Task.Delay(10);
        Assert.Equal(TcpState.Established, peer.State);

        // The client's loop resumes inside the server's writes, on the reader thread: it takes the snapshots there.
        var snapshots = new List<(long Packets, long EmptyReads, long Polls, long Writes, long ClockReads, long Events, long CallPasses, long Allocated)>();
        StackShard.RuntimeEvents events = server.ShardAt(0).Events!;
        byte[] request = [1];
        byte[] answer = new byte[16];
        async Task<bool> RequestsAsync()
        {
            for (int i = 1; i <= WarmUp + Windows * Window; i++)
            {
                await peer.WriteAsync(request).ConfigureAwait(false);
                if (await peer.ReadAsync(answer).ConfigureAwait(false) != 1) return false;
                if (i >= WarmUp && (i - WarmUp) % Window == 0)
                {
                    snapshots.Add((device.PacketsRead, device.EmptyReads, device.ReadyWaits, device.Writes, serverTime.Reads, events.Delivered,
                        server.ShardAt(0).CallPasses, GC.GetAllocatedBytesForCurrentThread()));
                }
            }
            return true;
        }

        Assert.True(await RequestsAsync().WaitAsync(TimeSpan.FromSeconds(60)));
        for (int w = 1; w < snapshots.Count; w++)
        {
            var (packets, empty, polls, writes, clock, delivered, callPasses, _) = snapshots[w];
            var (packets0, empty0, polls0, writes0, clock0, delivered0, callPasses0, _) = snapshots[w - 1];
            Assert.Equal(Window, packets - packets0); // each request read once, right after the pass that answered the last
            Assert.Equal(Window, writes - writes0); // the echo, which carries the request's ACK
            Assert.Equal(0, polls - polls0);
            Assert.Equal(Window / Probe, empty - empty0); // one read in ProbeInterval drains, to see whether packets queue up
            // Two passes per request — the request's and the echo's write — and one clock read each (a pass is one
            // instant; the request's pass also answers whether a timer is due, which the reader asked with a clock read of
            // its own before it read one packet). The echo's next read finds nothing and waits without a pass: no clock.
            Assert.Equal(2 * Window, clock - clock0);
            Assert.Equal(Window, callPasses - callPasses0); // of those, the application's: the write (the read waits without one)
            // One engine event per request, the segment in, which the runtime reads to find the calls to retry; nobody
            // consumes the echo going out or the three timers armed (the log is off), so the engine builds none of them.
            Assert.Equal(Window, delivered - delivered0);
        }
        // The exchange allocates nothing per request: the server's pass, the echo's read and write, and the client's. A
        // one-off of the runtime itself (a method tiered up mid-window) may show in one window, not in all.
        List<long> allocated = [.. snapshots.Skip(1).Zip(snapshots, (b, a) => b.Allocated - a.Allocated)];
        Assert.True(allocated.Contains(0), $"every window of {Window} requests allocated: {string.Join(", ", allocated)} bytes");
        Assert.False(echo.IsCompleted);
        Assert.Equal(0, server.ShardAt(0).PacketsParsed); // the engine hands each segment's fields to the batch with it
        // A reset ends it at once (a FIN would wait for the client's delayed ACK, on a clock that never moves).
        peer.Abort();
        await Assert.ThrowsAsync<SocketException>(() => echo.WaitAsync(TimeSpan.FromSeconds(30)));

        static async Task EchoAsync(UserTcpListener listener)
        {
            UserTcpConnection connection = await listener.AcceptAsync().ConfigureAwait(false);
            byte[] buffer = new byte[64];
            int read;
            while ((read = await connection.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                await connection.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A clock that never moves (unless advanced) and counts how often the stack reads it.</summary>
    private sealed class CountingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private long _reads;

        public long Reads => Interlocked.Read(ref _reads);

        public override long GetTimestamp()
        {
            Interlocked.Increment(ref _reads);
            return base.GetTimestamp();
        }
    }

    /// <summary>
    /// The server's side of a memory pipe that runs the peer's stack (<see cref="Peer"/>, pumped) right after each packet
    /// it writes, on the writing thread, and counts the reader's calls.
    /// </summary>
    private sealed class PeerRunsOnWriteDevice(IPacketDevice inner) : IPacketDevice
    {
        public NetStack? Peer { get; set; }
        public int Mtu => inner.Mtu;
        public long PacketsRead { get; private set; }
        public long EmptyReads { get; private set; }
        public long ReadyWaits { get; private set; }
        public long Writes { get; private set; }

        public bool WaitReadable(TimeSpan timeout)
        {
            bool ready = inner.WaitReadable(timeout);
            if (ready) ReadyWaits++;
            return ready;
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            bool read = inner.TryRead(packet, out length);
            if (read) PacketsRead++;
            else EmptyReads++;
            return read;
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            Writes++;
            inner.Write(packet);
            Peer?.Pump();
        }

        public void Dispose() => inner.Dispose();
    }
}
