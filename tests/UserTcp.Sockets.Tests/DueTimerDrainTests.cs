using System.Text;
using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// The reader, taking one packet per pass, drains the device before a pass that fires a due engine timer (docs/design.md
/// "Runtime", reading): the packets still queued — ACKs, most often — must reach the engine before the timers they answer
/// fire. The pass asks with its own clock; here a clock that the test moves and a timer that never fires on its own make
/// "due, not yet fired" last, as when the reader was held up.
/// </summary>
public sealed class DueTimerDrainTests
{
    [Fact]
    public async Task Reading_one_packet_per_pass_the_reader_takes_everything_queued_before_a_pass_that_fires_a_due_timer()
    {
        var time = new ManualTimeProvider();
        using var device = new LoggingDevice();
        await using NetStack stack = NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress }, timeProvider: time);
        Assert.True(device.WaitUntilWaiting(), "the reader never waited for the device");
        // A SYN to nobody: its retransmission timer is armed (1 s), and this clock alone can make it due.
        _ = stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, 9));
        // Single packets, each taken before the next arrives: after AdaptiveReadLimit.SingleBatchesToSwitch (2) the reader takes one packet per pass.
        for (int i = 0; i < 3; i++) Assert.True(device.DeliverAndWait(1), "the reader did not come back to wait");
        string before = device.Log;

        Assert.True(device.DeliverAndWait(3), "the reader did not come back to wait"); // no timer due: one packet per pass
        Assert.Equal("PRRRE", device.Log[before.Length..]); // three passes; no write
        before = device.Log;

        time.Advance(TimeSpan.FromSeconds(2)); // the SYN's retransmission is due; nothing fires it but a pass
        Assert.True(device.DeliverAndWait(3), "the reader did not come back to wait");
        // The poll, the one packet the reader took, then — its pass finding the timer due — the two others and the read that
        // found the device empty, and only then the pass's end fires the timer: the SYN again.
        Assert.Equal("PRRREW", device.Log[before.Length..]);
    }

    /// <summary>A clock the test moves, whose timers never fire on their own.</summary>
    private sealed class ManualTimeProvider : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NeverFiring();

        private sealed class NeverFiring : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => default;
        }
    }

    /// <summary>
    /// Hands the reader garbage packets (counted and dropped by the stack) when the test says so, and logs the reader's calls:
    /// P a poll that found packets, R a packet read, E a read that found none, W a packet written.
    /// </summary>
    private sealed class LoggingDevice : IPacketDevice
    {
        private readonly object _gate = new(); // Monitor.Wait/Pulse
        private readonly StringBuilder _log = new();
        private int _ready;
        private bool _waiting;
        private bool _disposed;

        public int Mtu => 1500;

        public string Log
        {
            get
            {
                lock (_gate) return _log.ToString();
            }
        }

        public bool WaitReadable(TimeSpan timeout)
        {
            lock (_gate)
            {
                _waiting = true;
                Monitor.PulseAll(_gate);
                if (_ready == 0 && !_disposed) Monitor.Wait(_gate, timeout);
                _waiting = false;
                if (_ready > 0) _log.Append('P');
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
                    _log.Append('E');
                    return false;
                }
                _ready--;
                _log.Append('R');
                packet[..40].Clear(); // version 0: not IPv4, dropped
                length = 40;
                return true;
            }
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            lock (_gate) _log.Append('W');
        }

        /// <summary>Queues <paramref name="packets"/> at once, then waits (bounded) until the reader waits again with all of them taken.</summary>
        public bool DeliverAndWait(int packets)
        {
            DateTime end = DateTime.UtcNow.AddSeconds(30);
            lock (_gate)
            {
                _ready += packets;
                Monitor.PulseAll(_gate);
                while (!_waiting || _ready > 0)
                {
                    TimeSpan left = end - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(_gate, left);
                }
                return true;
            }
        }

        public bool WaitUntilWaiting() => DeliverAndWait(0);

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
