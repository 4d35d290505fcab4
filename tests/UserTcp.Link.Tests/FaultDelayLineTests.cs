using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using UserTcp.Testing;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

/// <summary>
/// <see cref="FaultInjectingDevice"/> on the system clock: delayed packets leave from the device's own thread (its delay
/// line), on time even when the thread pool is starved, in the order of their instants, and nothing leaves after Dispose.
/// Real time, so the bounds are loose; the exact instants are <see cref="FaultInjectingDeviceTests"/>' (manual clock).
/// The tests count the process's delay-line threads, so no other test runs beside them (their collection).
/// </summary>
[Collection(DelayLineThreadsCollection.Name)]
public class FaultDelayLineTests
{
    // How late a release may be: scheduling on a busy 2-vCPU machine, far below what a starved pool costs (seconds), and
    // below the ~230 ms a missed wake-up costs the order test's second packet (it would leave with the first, at 300 ms);
    // 60 ms failed once at load 19, 95 ms once at load 15 (the order is asserted on its own).
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(150);
    // The same with 64+ blocked pool threads beside the test (CI measured 158 ms late beside three builds): a release run
    // by the pool would wait behind all of them, seconds, so this bound still tells the delay line's thread from the pool.
    private static readonly TimeSpan StarvedTolerance = TimeSpan.FromMilliseconds(400);
    // The delay line thread's name as Linux shows it (/proc/self/task/*/comm).
    private const string ThreadName = "fault delays";

    /// <summary>A TUN device stand-in on the system clock: nothing to read; writes are kept with their Stopwatch instant.</summary>
    private sealed class ClockedTun : IPacketDevice
    {
        private readonly ClockedWrites _writes = new();

        public int Mtu => 1500;
        public bool WaitReadable(TimeSpan timeout) => false;

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = 0;
            return false;
        }

        /// <summary>Packets the kernel refuses, as a TUN write fails (EINVAL, EIO).</summary>
        public Func<byte[], bool>? Refuses { get; init; }

        public void Write(ReadOnlySpan<byte> packet)
        {
            if (Refuses?.Invoke(packet.ToArray()) == true) throw new IOException("the kernel refused the packet");
            _writes.Add(packet);
        }

        public List<(long At, byte[] Packet)> Writes => _writes.All;

        /// <summary>Waits (bounded) until <paramref name="count"/> more packets have been written.</summary>
        public bool WaitForWrites(int count, TimeSpan timeout) => _writes.WaitFor(count, timeout);

        // Writes after Dispose are kept too, so a test sees them; the semaphore goes with the test.
        public void Dispose() { }
    }

    [Fact]
    public void A_delayed_packet_leaves_on_time_while_the_thread_pool_is_starved()
    {
        var tun = new ClockedTun();
        using var device = new FaultInjectingDevice(tun, [FaultRule.Parse("delay=100ms to-kernel")], seed: 1);
        // The pool starved (blockers beyond its threads); its probe shows it stayed so while the packet was held.
        using var starvation = ThreadPoolStarvation.Begin();

        long sent = Stopwatch.GetTimestamp();
        device.Write(Data(1));
        Assert.Empty(tun.Writes);
        bool left = tun.WaitForWrites(1, TimeSpan.FromSeconds(2));
        bool starved = starvation.StillStarved;

        Assert.True(left, "the delayed packet did not leave within 2 s");
        Assert.True(starved, "the thread pool ran the probe: it was not starved, so this test proves nothing");
        TimeSpan after = Stopwatch.GetElapsedTime(sent, Assert.Single(tun.Writes).At);
        Assert.InRange(after, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100) + StarvedTolerance);
    }

    [Fact]
    public void Delayed_packets_leave_in_the_order_of_their_instants_each_on_time()
    {
        var tun = new ClockedTun();
        using var device = new FaultInjectingDevice(tun,
            [FaultRule.Parse("delay=300ms to-kernel nth=1"), FaultRule.Parse("delay=50ms to-kernel nth=2"), FaultRule.Parse("delay=150ms to-kernel nth=3")],
            seed: 1);
        var sent = new Dictionary<uint, long>();
        void Send(uint seq)
        {
            sent[seq] = Stopwatch.GetTimestamp();
            device.Write(Data(seq));
        }
        Send(1);
        // The delay line sleeps towards packet 1's instant; packet 2's earlier one must wake it. The instants are 100 ms
        // and more apart, so a sleep that overruns on a loaded machine does not change their order.
        Thread.Sleep(20);
        Send(2);
        Send(3);
        Send(4); // not delayed: goes at once

        Assert.True(tun.WaitForWrites(4, TimeSpan.FromSeconds(2)), "the delayed packets did not all leave within 2 s");
        List<(long At, byte[] Packet)> writes = tun.Writes;
        Assert.Equal([4u, 2u, 3u, 1u], writes.Select(w => Seq(w.Packet)));
        Assert.Equal(4, device.Counters.Forwarded);
        var delays = new Dictionary<uint, TimeSpan> { [1] = Ms(300), [2] = Ms(50), [3] = Ms(150), [4] = TimeSpan.Zero };
        foreach ((long at, byte[] packet) in writes)
        {
            uint seq = Seq(packet);
            Assert.InRange(Stopwatch.GetElapsedTime(sent[seq], at), delays[seq], delays[seq] + Tolerance);
        }
    }

    [Fact]
    public void Dispose_ends_the_delay_line_thread_and_nothing_held_leaves_afterwards()
    {
        var tun = new ClockedTun();
        var device = new FaultInjectingDevice(tun, [FaultRule.Parse("delay=100ms to-kernel")], seed: 1);
        Assert.Equal(0, DelayLineThreads()); // none until a packet is held
        device.Write(Data(1));
        Assert.True(SpinWait.SpinUntil(() => DelayLineThreads() == 1, TimeSpan.FromSeconds(1)), "no delay line thread holds the packet"); // it names itself as it starts

        device.Dispose();

        Assert.True(SpinWait.SpinUntil(() => DelayLineThreads() == 0, TimeSpan.FromSeconds(1)), "the delay line thread outlived Dispose");
        Assert.False(tun.WaitForWrites(1, TimeSpan.FromMilliseconds(250)), "a held packet left after Dispose");
        Assert.Empty(tun.Writes);
    }

    [Fact]
    public void A_packet_the_device_refuses_on_the_delay_line_is_lost_alone_and_the_line_goes_on()
    {
        // An exception on the delay line's own thread would end the process (no caller to catch it): the test host with it.
        var tun = new ClockedTun { Refuses = p => Seq(p) == 1 };
        using var device = new FaultInjectingDevice(tun, [FaultRule.Parse("delay=50ms to-kernel")], seed: 1);
        device.Write(Data(1));
        Thread.Sleep(20);
        device.Write(Data(2));
        Assert.True(tun.WaitForWrites(1, TimeSpan.FromSeconds(2)), "the packet after the refused one did not leave within 2 s");
        device.Write(Data(3));
        Assert.True(tun.WaitForWrites(1, TimeSpan.FromSeconds(2)), "the delay line stopped after the refusal");

        Assert.Equal([2u, 3u], tun.Writes.Select(w => Seq(w.Packet)));
        Assert.Equal(1, device.Counters.WriteFailures);
    }

    [Fact]
    public void A_manual_clock_gets_no_thread()
    {
        var time = new FakeTimeProvider();
        using var device = new FaultInjectingDevice(new FaultInjectingDeviceTests.FakeTun(time), [FaultRule.Parse("delay=100ms to-kernel")], seed: 1, time);
        device.Write(Data(1));
        Assert.Equal(0, DelayLineThreads());
    }

    [Fact]
    public void The_delay_line_thread_runs_at_nice_minus_20_as_root()
    {
        using var device = new FaultInjectingDevice(new ClockedTun(), [FaultRule.Parse("delay=500ms to-kernel")], seed: 1);
        device.Write(Data(1));

        // Without CAP_SYS_NICE the kernel refuses the raise, and the thread keeps the nice value it was born with (the process's).
        int expected = Environment.IsPrivilegedProcess ? -20 : Nice("/proc/self");
        int? nice = null;
        // The thread names itself and raises its priority as it starts: wait (bounded) for both.
        SpinWait.SpinUntil(() => DelayLineTasks() is [string task] && (nice = Nice(task)) == expected, TimeSpan.FromSeconds(1));
        Assert.Equal(expected, nice);
    }

    private static int Nice(string task) => ProcessThreads.Nice(task);

    private static int DelayLineThreads() => DelayLineTasks().Count;

    // The /proc directories of this process's live threads named as the delay line's (only this class makes them: its tests
    // run one at a time).
    private static List<string> DelayLineTasks() => ProcessThreads.Named(ThreadName);
}

/// <summary>Tests that count the process's delay-line threads run alone: another class's device on the system clock would add one.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DelayLineThreadsCollection
{
    public const string Name = "delay-line threads";
}
