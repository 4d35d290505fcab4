using Microsoft.Extensions.Time.Testing;
using UserTcp.Link;
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
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        var written = new OutboundPacketCounter();
        // Delayed ACKs as in production (the clock never reaches them here), without Linux's quick ACKs for a new
        // connection's first segments: the echo must carry the request's ACK.
        await using NetStack server = NetStack.Create(new CapturingDevice(pipe.A, written, () => TimeSpan.Zero),
            new NetStackOptions { Address = PumpedPair.ServerAddress, Tcp = new TcpConfig { RandomSeed = 1, QuickAcks = 0 } }, timeProvider: time);
        await using NetStack client = NetStack.Create(pipe.B,
            new NetStackOptions { Address = PumpedPair.ClientAddress, Tcp = new TcpConfig { RandomSeed = 2, NoDelay = true } }, timeProvider: time);
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
    public async Task The_reader_polls_right_after_a_batch_that_emptied_the_device_instead_of_reading_it_empty_again()
    {
        const int Packets = 50;
        using var device = new OnePacketAtATimeDevice();
        await using (NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress }))
        {
            Assert.True(device.WaitUntilIdle(1), "the reader never waited for the device");
            long emptyBefore = device.EmptyReads, timeoutsBefore = device.Timeouts;
            for (int i = 1; i <= Packets; i++)
            {
                device.Deliver();
                Assert.True(device.WaitUntilIdle(i + 1), $"the reader did not come back to wait after packet {i}");
            }
            // Per packet: one read that takes it and one that finds the device empty, then the poll. A wait that timed out
            // (the reader looks at its stop flag every 200 ms) is followed by one more empty read, wherever it fell.
            Assert.Equal(Packets, device.PacketsRead);
            Assert.Equal(Packets + (device.Timeouts - timeoutsBefore), device.EmptyReads - emptyBefore);
        }
    }

    /// <summary>A device that hands the reader one garbage packet (counted and dropped by the stack) each time the test says so, and counts the calls.</summary>
    private sealed class OnePacketAtATimeDevice : IPacketDevice
    {
        private readonly object _gate = new(); // Monitor.Wait/Pulse
        private int _ready;
        private int _waitsEntered;
        private bool _disposed;

        public int Mtu => 1500;
        public long PacketsRead { get; private set; }
        public long EmptyReads { get; private set; }
        public long Timeouts { get; private set; }

        public bool WaitReadable(TimeSpan timeout)
        {
            lock (_gate)
            {
                _waitsEntered++;
                Monitor.PulseAll(_gate);
                if (_ready == 0 && !_disposed) Monitor.Wait(_gate, timeout);
                if (_ready == 0) Timeouts++;
                return _ready > 0;
            }
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            lock (_gate)
            {
                length = 0;
                if (_ready == 0)
                {
                    EmptyReads++;
                    return false;
                }
                _ready--;
                PacketsRead++;
                packet[..40].Clear(); // version 0: not IPv4, dropped
                length = 40;
                return true;
            }
        }

        public void Write(ReadOnlySpan<byte> packet) { }

        public void Deliver()
        {
            lock (_gate)
            {
                _ready++;
                Monitor.PulseAll(_gate);
            }
        }

        /// <summary>Waits (bounded) until the reader has entered its <paramref name="count"/>th wait.</summary>
        public bool WaitUntilIdle(int count)
        {
            DateTime end = DateTime.UtcNow.AddSeconds(30);
            lock (_gate)
            {
                while (_waitsEntered < count)
                {
                    TimeSpan left = end - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(_gate, left);
                }
                return true;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                Monitor.PulseAll(_gate);
            }
        }
    }
}
