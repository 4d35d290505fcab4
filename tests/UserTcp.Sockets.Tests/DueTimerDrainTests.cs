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
        using var device = new OnePacketAtATimeDevice();
        await using NetStack stack = NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress }, timeProvider: time);
        Assert.True(device.WaitUntilWaiting(), "the reader never waited for the device");
        // A SYN to nobody: its retransmission timer is armed (1 s), and this clock alone can make it due.
        _ = stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, 9));
        // Single packets, each taken before the next arrives: after AdaptiveReadLimit.SingleBatchesToSwitch (2) the reader takes one packet per pass.
        for (int i = 0; i < 3; i++) Assert.True(device.DeliverAndWait(), "the reader did not come back to wait");
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

    [Fact]
    public async Task Draining_a_batch_that_stopped_full_takes_the_rest_before_a_pass_that_fires_a_due_timer()
    {
        var time = new ManualTimeProvider();
        using var device = new OnePacketAtATimeDevice();
        await using NetStack stack = NetStack.Start(device, new NetStackOptions { Address = PumpedPair.ServerAddress }, timeProvider: time);
        Assert.True(device.WaitUntilWaiting(), "the reader never waited for the device");
        _ = stack.Connect(new IpEndpoint(PumpedPair.ClientAddress, 9)); // the SYN's retransmission timer, 1 s
        string before = device.Log;

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(device.DeliverAndWait(ReceiveBatch.MaxPackets + 36), "the reader did not come back to wait");
        // A full batch (64), its pass finding the timer due takes the 36 others and the read that found the device empty,
        // and only then fires the timer: the SYN again, once. (The reader, its batch having stopped full, reads once more.)
        Assert.Equal("P" + new string('R', ReceiveBatch.MaxPackets + 36) + "EWE", device.Log[before.Length..]);
        Assert.Equal(36, stack.PacketsTakenBeforeTimers);
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
}
