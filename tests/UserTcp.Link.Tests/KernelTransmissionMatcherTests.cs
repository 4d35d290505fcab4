using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

/// <summary>
/// KernelTransmissionMatcher: a packet UserTcp read from the kernel gets the instant the kernel's packet socket recorded
/// for it, matched in order by TCP fields, never a later one, and the list of transmissions waiting stays bounded.
/// </summary>
public class KernelTransmissionMatcherTests
{
    private static readonly TcpSegmentInfo DataSegment = Segment(Data(1000, 100));
    private static readonly TcpSegmentInfo NextSegment = Segment(Data(1100, 100));
    private static readonly TcpSegmentInfo AckSegment = Segment(Tcp(TcpFlags.Ack, seq: 1, ack: 2000));

    [Fact]
    public void Packets_take_their_transmissions_in_order_and_a_retransmission_with_identical_fields_takes_the_second()
    {
        var matcher = new KernelTransmissionMatcher();
        matcher.Add(new(Ms(10), DataSegment));
        matcher.Add(new(Ms(11), NextSegment));
        matcher.Add(new(Ms(210), DataSegment)); // the retransmission: the same fields, 200 ms later

        Assert.Equal(Ms(10), matcher.Take(DataSegment, Ms(40)));
        Assert.Equal(Ms(11), matcher.Take(NextSegment, Ms(41)));
        Assert.Equal(Ms(210), matcher.Take(DataSegment, Ms(215)));
        Assert.Equal(0, matcher.Pending);
        Assert.Equal(0, matcher.Dropped);
    }

    [Fact]
    public void A_transmission_the_tap_never_saw_is_dropped_when_a_later_one_matches()
    {
        var matcher = new KernelTransmissionMatcher();
        matcher.Add(new(Ms(10), NextSegment)); // sent, never read (the device's queue overflowed)
        matcher.Add(new(Ms(12), DataSegment));
        matcher.Add(new(Ms(13), AckSegment));

        Assert.Equal(Ms(12), matcher.Take(DataSegment, Ms(20)));
        Assert.Equal(1, matcher.Dropped);
        Assert.Equal(1, matcher.Pending);
        // The dropped one is gone: the same fields read again find nothing.
        Assert.Null(matcher.Take(NextSegment, Ms(21)));
        Assert.Equal(Ms(13), matcher.Take(AckSegment, Ms(22)));
    }

    [Fact]
    public void A_kernel_instant_after_the_read_is_not_taken_and_an_unknown_packet_takes_nothing()
    {
        var matcher = new KernelTransmissionMatcher();
        matcher.Add(new(Ms(45), DataSegment)); // 5 ms after the read below: the clocks' conversion failed

        Assert.Null(matcher.Take(DataSegment, Ms(40)));
        Assert.Null(matcher.Take(NextSegment, Ms(50)));
        // Neither touched the waiting transmission, which the slack still admits a millisecond early.
        Assert.Equal(1, matcher.Pending);
        Assert.Equal(0, matcher.Dropped);
        Assert.Equal(Ms(45), matcher.Take(DataSegment, Ms(45) - KernelTransmissionMatcher.ClockSlack));
    }

    [Fact]
    public void The_waiting_list_is_bounded_by_its_capacity_and_its_age()
    {
        var matcher = new KernelTransmissionMatcher(capacity: 3, maxAge: TimeSpan.FromSeconds(1));
        for (int i = 0; i < 10; i++) matcher.Add(new(Ms(i), Segment(Data((uint)(5000 + i * 100), 100))));

        Assert.Equal(3, matcher.Pending);
        Assert.Equal(7, matcher.Dropped);
        Assert.Null(matcher.Take(Segment(Data(5000, 100)), Ms(20))); // the oldest went first

        // Unmatched for longer than the age at a read: dropped, though nothing later matched.
        Assert.Null(matcher.Take(AckSegment, Ms(9) + TimeSpan.FromSeconds(1) + Ms(1)));
        Assert.Equal(0, matcher.Pending);
        Assert.Equal(10, matcher.Dropped);
    }

    [Fact]
    public void An_unbounded_matcher_keeps_what_never_matched()
    {
        var matcher = new KernelTransmissionMatcher();
        for (int i = 0; i < 5000; i++) matcher.Add(new(Ms(i), NextSegment));

        Assert.Null(matcher.Take(DataSegment, TimeSpan.FromHours(1)));
        Assert.Equal(5000, matcher.Pending);
        Assert.Equal(0, matcher.Dropped);
    }

    private static TcpSegmentInfo Segment(byte[] packet)
    {
        Assert.True(TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo segment));
        return segment;
    }
}
