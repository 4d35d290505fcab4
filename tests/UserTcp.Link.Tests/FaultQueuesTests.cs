using Microsoft.Extensions.Time.Testing;
using UserTcp.Engine;
using static UserTcp.Link.Tests.FaultInjectingDeviceTests;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

/// <summary>One injector per queue of a multi-queue device (FaultInjectingDevice.ForQueues): one link, one set of rules and counters.</summary>
public class FaultQueuesTests
{
    private sealed class TwoQueues
    {
        public FakeTimeProvider Time { get; } = new();
        public FakeTun A { get; }
        public FakeTun B { get; }
        public RecordingTap Tap { get; } = new();
        public IReadOnlyList<FaultInjectingDevice> Devices { get; }
        public List<FaultEvent> Faults { get; } = [];

        public TwoQueues(int seed, params string[] rules)
        {
            A = new FakeTun(Time);
            B = new FakeTun(Time);
            Devices = FaultInjectingDevice.ForQueues([A, B], rules.Select(FaultRule.Parse), seed, Time, new ConnectionStateTracker(), Tap);
            Devices[1].OnFault = Faults.Add; // one handler for the link, set through any of its queues
        }
    }

    [Fact]
    public void A_counting_rule_counts_the_packets_of_every_queue_as_one_stream()
    {
        var link = new TwoQueues(1, "drop to-kernel nth=3");
        link.Devices[0].Write(Data(1));
        link.Devices[0].Write(Data(2));
        link.Devices[1].Write(Data(3)); // the link's third packet to the kernel, on the other queue
        link.Devices[0].Write(Data(4));

        Assert.Equal([1u, 2u, 4u], link.A.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Empty(link.B.ToKernel);
        FaultEvent dropped = Assert.Single(link.Faults);
        Assert.Equal(FaultAction.Dropped, dropped.Action);
        Assert.Equal(1, link.Devices[0].Rules[0].Applied);
        Assert.Same(link.Devices[0].Counters, link.Devices[1].Counters);
        Assert.Equal(4, link.Devices[0].Counters.Transmitted);
        Assert.Equal(3, link.Devices[0].Counters.Forwarded);
        Assert.Equal(1, link.Devices[0].Counters.DroppedByRule);
        Assert.Equal(4, link.Tap.Records.Count);
    }

    [Fact]
    public void Each_queue_delivers_only_its_own_packets_and_the_counts_add_up_both_ways()
    {
        var link = new TwoQueues(1, "drop from-kernel nth=2");
        link.A.FromKernel.Enqueue(Data(10));
        link.B.FromKernel.Enqueue(Data(20));
        link.B.FromKernel.Enqueue(Data(30));
        var buffer = new byte[1500];

        Assert.True(link.Devices[0].TryRead(buffer, out int length));
        Assert.Equal(10u, Seq(buffer[..length]));
        Assert.False(link.Devices[0].TryRead(buffer, out _));
        // Queue B's first packet is the link's second from the kernel: dropped; its second is read.
        Assert.True(link.Devices[1].TryRead(buffer, out length));
        Assert.Equal(30u, Seq(buffer[..length]));
        Assert.False(link.Devices[1].TryRead(buffer, out _));
        Assert.Equal(3, link.Devices[1].Counters.Transmitted);
        Assert.Equal(2, link.Devices[1].Counters.Forwarded);
        Assert.Single(link.Faults);
    }

    [Fact]
    public void A_packet_held_back_waits_for_its_own_queues_next_packet_not_another_queues()
    {
        var link = new TwoQueues(1, "reorder nth=1 to-kernel");
        link.Devices[0].Write(Data(1)); // held
        link.Devices[1].Write(Data(2)); // another queue's packet does not release it
        Assert.Empty(link.A.ToKernel);
        Assert.Equal([2u], link.B.ToKernel.Select(w => Seq(w.Packet)));

        link.Devices[0].Write(Data(3));

        Assert.Equal([3u, 1u], link.A.ToKernel.Select(w => Seq(w.Packet)));
        Assert.Equal(1, link.Devices[1].Counters.HeldBack);
    }

    [Fact]
    public void The_same_seed_and_the_same_order_give_the_same_fates_as_one_device()
    {
        // 200 packets alternating between the queues meet a 30 % random loss as one device's 200 packets do.
        var link = new TwoQueues(42, "drop to-kernel p=0.3");
        var time = new FakeTimeProvider();
        var single = new FakeTun(time);
        var device = new FaultInjectingDevice(single, [FaultRule.Parse("drop to-kernel p=0.3")], 42, time);
        for (uint i = 1; i <= 200; i++)
        {
            link.Devices[(int)(i % 2)].Write(Data(i));
            device.Write(Data(i));
        }

        uint[] survivors = [.. link.A.ToKernel.Concat(link.B.ToKernel).Select(w => Seq(w.Packet)).Order()];
        Assert.Equal(single.ToKernel.Select(w => Seq(w.Packet)), survivors);
        Assert.InRange(survivors.Length, 100, 180); // the rule did drop some, not all
    }

    [Fact]
    public void Disposing_each_injector_disposes_its_own_queue()
    {
        var link = new TwoQueues(1);
        link.Devices[0].Dispose();
        Assert.True(link.A.Disposed);
        Assert.False(link.B.Disposed);
        link.Devices[1].Dispose();
        Assert.True(link.B.Disposed);
    }

    [Fact]
    public void No_queues_is_refused()
    {
        Assert.Throws<ArgumentException>(() => FaultInjectingDevice.ForQueues([], [], 1));
    }
}
