using Microsoft.Extensions.Time.Testing;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// The timer's pass takes the packets waiting in the device before it fires a timer, when the reader has not read them
/// (docs/design.md "Runtime", reading): on a busy machine the reader, at its usual priority, can sit runnable for tens of
/// milliseconds while the timer thread, at nice -20, runs; a loss probe or timeout it fired then resent what the waiting
/// ACKs had acknowledged. Here the reader is held in its wait and the test fires the timer: a SYN's retransmission is due
/// while the SYN-ACK waits unread.
/// </summary>
public sealed class TimerTakesWaitingPacketsTests
{
    private const ushort Port = 80;

    [Fact]
    public async Task The_timer_takes_the_SYN_ACK_the_held_reader_has_not_read_and_the_SYN_is_not_resent()
    {
        await using var run = new HeldReaderRun(readsMayOverlapWait: true);
        UserTcpConnection connection = run.ConnectAndAnswer();

        run.Time.Advance(TimeSpan.FromSeconds(2)); // the SYN's retransmission timer (1 s) is due
        run.Time.Fire();

        Assert.Equal(1, run.Stack.PacketsTakenBeforeTimers);
        Assert.Equal(TcpState.Established, connection.State);
        // After the SYN: the handshake's ACK alone; no SYN again, nothing else.
        Assert.Equal(["S", "."], run.Device.Written);
    }

    [Fact]
    public async Task An_application_call_whose_pass_finds_the_timer_due_takes_the_waiting_SYN_ACK_first()
    {
        await using var run = new HeldReaderRun(readsMayOverlapWait: true);
        UserTcpConnection connection = run.ConnectAndAnswer();

        run.Time.Advance(TimeSpan.FromSeconds(2)); // due, but the timer does not fire: the next application call's pass finds it
        _ = run.Stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, Port + 1));

        Assert.Equal(1, run.Stack.PacketsTakenBeforeTimers);
        Assert.Equal(TcpState.Established, connection.State);
        Assert.Equal(["S", ".", "S"], run.Device.Written); // the first SYN, the handshake's ACK, the second connection's SYN
    }

    [Fact]
    public async Task A_read_that_fails_in_an_application_calls_pass_is_left_to_the_reader_and_the_call_goes_on()
    {
        await using var run = new HeldReaderRun(readsMayOverlapWait: true);
        _ = run.ConnectAndAnswer();
        run.Device.FailReadsOffTheReader = true;

        run.Time.Advance(TimeSpan.FromSeconds(2));
        UserTcpConnection second = run.Stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, Port + 1)); // neither throws nor keeps the lock

        Assert.Equal(TcpState.SynSent, second.State);
        Assert.Equal(0, run.Stack.PacketsTakenBeforeTimers);
        Assert.Equal(["S", "S", "S"], run.Device.Written); // the first SYN, its retransmission (the timer was due), the second SYN
        run.Device.FailReadsOffTheReader = false;
        run.Time.Fire(); // the engine lock is free: the timer's pass runs
    }

    [Fact]
    public async Task A_device_whose_reads_must_not_overlap_the_readers_wait_is_left_to_the_reader_and_the_due_SYN_is_resent()
    {
        await using var run = new HeldReaderRun(readsMayOverlapWait: false);
        UserTcpConnection connection = run.ConnectAndAnswer();

        run.Time.Advance(TimeSpan.FromSeconds(2));
        run.Time.Fire();

        Assert.Equal(0, run.Stack.PacketsTakenBeforeTimers);
        Assert.Equal(TcpState.SynSent, connection.State);
        Assert.Equal(["S", "S"], run.Device.Written); // what the timer sees, it acts on: the SYN again
        Assert.Equal(1, run.Device.WaitingPackets); // still there for the reader
    }

    [Fact]
    public async Task The_timer_leaves_the_device_to_a_reader_that_has_read_and_not_yet_fed_the_engine_so_packets_keep_their_order()
    {
        await using var run = new HeldReaderRun(readsMayOverlapWait: true);
        // The reader took the SYN-ACK and stops inside its read; a packet waits behind it.
        UserTcpConnection connection = run.ConnectAndAnswer(releaseIntoRead: true);

        run.Time.Advance(TimeSpan.FromSeconds(2));
        run.Time.Fire();

        Assert.Equal(0, run.Stack.PacketsTakenBeforeTimers); // taking the packet behind would put it before the SYN-ACK
        Assert.Equal(1, run.Device.WaitingPackets);
        Assert.Equal(["S", "S"], run.Device.Written);
        run.Device.FinishRead(); // the reader's pass: the SYN-ACK, the other packet, then the ACK
        Assert.True(SpinWait.SpinUntil(() => connection.State == TcpState.Established, TimeSpan.FromSeconds(30)), $"state {connection.State}");
        Assert.True(SpinWait.SpinUntil(() => run.Device.Written.Count == 3, TimeSpan.FromSeconds(30)), string.Join(" ", run.Device.Written));
        Assert.Equal(["S", "S", "."], run.Device.Written);
    }

    /// <summary>
    /// Our stack (a reader thread, a clock whose timer fires when the test says) on a held device, and a pumped peer that
    /// listens: the SYN goes to the peer, whose SYN-ACK waits in our device.
    /// </summary>
    private sealed class HeldReaderRun : IAsyncDisposable
    {
        private readonly MemoryPacketPipe _pipe = MemoryPacketPipe.Create();
        private readonly NetStack _peer;

        public HeldReaderRun(bool readsMayOverlapWait)
        {
            Device = new HeldReaderDevice(_pipe.A, readsMayOverlapWait);
            Stack = NetStack.Start(Device, new NetStackOptions { Address = PumpedPair.ServerAddress, Tcp = new TcpConfig { RandomSeed = 1 } }, timeProvider: Time);
            _peer = NetStack.Create(_pipe.B, new NetStackOptions { Address = PumpedPair.ClientAddress, Tcp = new TcpConfig { RandomSeed = 2 } },
                timeProvider: new FakeTimeProvider());
            _peer.Listen(Port);
        }

        public FiringTimeProvider Time { get; } = new();
        public HeldReaderDevice Device { get; }
        public NetStack Stack { get; }

        /// <summary>Connects (the SYN leaves), lets the peer answer (the SYN-ACK waits in our device, the reader held).</summary>
        public UserTcpConnection ConnectAndAnswer(bool releaseIntoRead = false)
        {
            Assert.True(Device.WaitUntilHeld(), "the reader never waited on the device");
            UserTcpConnection connection = Stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, Port));
            Assert.Equal(1, _peer.Pump()); // the SYN in, the SYN-ACK out
            Device.Delivered(1);
            if (releaseIntoRead)
            {
                _pipe.B.Write(new byte[40]); // another packet behind it (version 0: not IPv4, counted and dropped)
                Device.Delivered(1);
                Assert.True(Device.ReleaseIntoRead(), "the reader did not start its read");
            }
            return connection;
        }

        public async ValueTask DisposeAsync()
        {
            Device.FinishRead();
            Device.Release();
            await Stack.DisposeAsync();
            await _peer.DisposeAsync();
        }
    }

    /// <summary>
    /// Wraps one end of a pipe: the reader's wait returns nothing while held, and (when asked) its next read stops after
    /// taking a packet, until the test lets it go on; every read from another thread goes through. Records the flags of
    /// what the stack writes ("S" a SYN, "." an ACK).
    /// </summary>
    private sealed class HeldReaderDevice(IPacketDevice inner, bool readsMayOverlapWait) : IPacketDevice
    {
        private readonly object _gate = new();
        private readonly List<string> _written = [];
        private bool _held = true;
        private bool _waitingHeld;
        private bool _stopInRead;
        private bool _inRead;
        private int _waiting;

        public int Mtu => inner.Mtu;
        public bool ReadsMayOverlapWait => readsMayOverlapWait;

        public int WaitingPackets
        {
            get
            {
                lock (_gate) return _waiting;
            }
        }

        public IReadOnlyList<string> Written
        {
            get
            {
                lock (_gate) return [.. _written];
            }
        }

        public bool WaitReadable(TimeSpan timeout)
        {
            lock (_gate)
            {
                if (_held)
                {
                    _waitingHeld = true;
                    Monitor.PulseAll(_gate);
                    Monitor.Wait(_gate, timeout);
                    _waitingHeld = false;
                    if (_held) return false;
                }
            }
            return inner.WaitReadable(timeout);
        }

        private bool _failReads;

        /// <summary>Reads from any thread but the reader throw, as a device that failed would.</summary>
        public bool FailReadsOffTheReader
        {
            get => Volatile.Read(ref _failReads);
            set => Volatile.Write(ref _failReads, value);
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            if (FailReadsOffTheReader && Thread.CurrentThread.Name?.Contains("reader", StringComparison.Ordinal) != true)
            {
                throw new IOException("the device failed");
            }
            if (!inner.TryRead(packet, out length)) return false;
            lock (_gate)
            {
                _waiting--;
                if (_stopInRead && Thread.CurrentThread.Name?.Contains("reader", StringComparison.Ordinal) == true)
                {
                    _stopInRead = false;
                    _inRead = true;
                    Monitor.PulseAll(_gate);
                    while (_inRead) Monitor.Wait(_gate);
                }
            }
            return true;
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None && TcpSegment.TryParse(ip, out TcpSegment tcp) == WireError.None)
            {
                lock (_gate) _written.Add(tcp.Flags.HasFlag(TcpFlags.Syn) ? "S" : tcp.Flags == TcpFlags.Ack && tcp.Payload.IsEmpty ? "." : tcp.Flags.ToString());
            }
            inner.Write(packet);
        }

        /// <summary>The peer sent <paramref name="packets"/> into the pipe, to be read from here.</summary>
        public void Delivered(int packets)
        {
            lock (_gate) _waiting += packets;
        }

        /// <summary>Waits (bounded) until the reader waits, held.</summary>
        public bool WaitUntilHeld()
        {
            lock (_gate) return WaitUntil(() => _waitingHeld);
        }

        /// <summary>Lets the reader out of its wait, to stop inside the read that takes the waiting packet.</summary>
        public bool ReleaseIntoRead()
        {
            lock (_gate)
            {
                _stopInRead = true;
                _held = false;
                Monitor.PulseAll(_gate);
                return WaitUntil(() => _inRead);
            }
        }

        // Holding _gate: waits on it, at most 30 s, until the condition holds.
        private bool WaitUntil(Func<bool> condition)
        {
            DateTime end = DateTime.UtcNow.AddSeconds(30);
            while (!condition())
            {
                TimeSpan left = end - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_gate, left);
            }
            return true;
        }

        public void FinishRead()
        {
            lock (_gate)
            {
                _inRead = false;
                Monitor.PulseAll(_gate);
            }
        }

        public void Release()
        {
            lock (_gate)
            {
                _held = false;
                Monitor.PulseAll(_gate);
            }
        }

        public void Dispose() => inner.Dispose();
    }

    /// <summary>A clock the test moves, whose one timer fires when the test says, on the test's thread.</summary>
    private sealed class FiringTimeProvider : TimeProvider
    {
        private long _ticks;
        private readonly List<(TimerCallback Callback, object? State)> _timers = [];

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        /// <summary>Runs every timer's callback once, as if each were due.</summary>
        public void Fire()
        {
            (TimerCallback Callback, object? State)[] timers;
            lock (_timers) timers = [.. _timers];
            foreach ((TimerCallback callback, object? state) in timers) callback(state);
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            lock (_timers) _timers.Add((callback, state));
            return new Manual();
        }

        private sealed class Manual : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => default;
        }
    }
}
