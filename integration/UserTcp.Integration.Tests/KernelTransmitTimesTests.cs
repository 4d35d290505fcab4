using System.Diagnostics;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// KernelTransmitTimes: the lab's packets from the kernel carry the instant the kernel sent them, however late UserTcp
/// read them; the read instant stays beside it.
/// </summary>
public sealed class KernelTransmitTimesTests
{
    private static readonly TimeSpan PacketTimeout = TimeSpan.FromSeconds(5);

    [RequiresNetAdminFact]
    public void A_SYN_read_300_ms_late_is_timed_when_the_kernel_sent_it()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());
        var clock = Stopwatch.StartNew();
        using KernelTransmitTimes times = KernelTransmitTimes.Start(ns.Scratch, Addresses.StackAddress, () => clock.Elapsed, out string? failure)
            ?? throw new InvalidOperationException(failure);

        TimeSpan before = clock.Elapsed;
        ns.Start(Addresses.KernelConnect);
        // Nothing reads the device for 300 ms: the SYN waits in its queue, as it would behind a stalled reader.
        Thread.Sleep(300);
        byte[] packet = Packets.ReadUntil(tun, PacketTimeout, p => Packets.IsTcp(p, TcpFlags.Syn, 80));
        TimeSpan readAt = clock.Elapsed;
        times.Settle();

        Assert.True(TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo syn));
        KernelTransmission sent = Assert.Single(times.Sent, s => s.Segment == syn);
        Assert.InRange(sent.At, before - TimeSpan.FromMilliseconds(1), before + TimeSpan.FromMilliseconds(250));
        Assert.True(readAt - sent.At >= TimeSpan.FromMilliseconds(250), $"read {(readAt - sent.At).TotalMilliseconds:0.0} ms after the kernel sent it");
        WirePacket timed = Assert.Single(KernelTransmitTimes.Apply([Inbound(0, readAt, syn)], times.Sent));
        Assert.Equal(sent.At, timed.At);
        Assert.Equal(readAt, timed.ReadAt);
        Assert.Equal(readAt, timed.ArrivedAt);
        Assert.Null(times.Failure);
    }

    [Fact]
    public void Apply_matches_the_kernels_packets_in_order_and_leaves_UserTcps_own_alone()
    {
        TcpSegmentInfo data = Segment(1000, TcpFlags.Ack | TcpFlags.Psh, 100);
        TcpSegmentInfo lost = Segment(1100, TcpFlags.Ack, 50); // sent by the kernel, never read (its queue overflowed)
        TcpSegmentInfo ack = Segment(7000, TcpFlags.Ack, 0);
        KernelTransmission[] sent =
        [
            new(Ms(10), data),
            new(Ms(11), lost),
            new(Ms(210), data), // the retransmission: the same fields, later
        ];
        WirePacket[] packets =
        [
            Inbound(0, Ms(40), data),
            Outbound(1, Ms(41), ack),
            Inbound(2, Ms(215), data),
        ];

        IReadOnlyList<WirePacket> timed = KernelTransmitTimes.Apply(packets, sent);

        Assert.Equal([Ms(10), Ms(41), Ms(210)], timed.Select(p => p.At));
        Assert.Equal([Ms(40), null, Ms(215)], timed.Select(p => p.ReadAt));
        Assert.Equal([Ms(40), Ms(41), Ms(215)], timed.Select(p => p.ArrivedAt));
        Assert.Equal(packets.Select(p => p.Index), timed.Select(p => p.Index));
    }

    [Fact]
    public void Apply_keeps_the_read_instant_when_the_kernels_would_come_after_it()
    {
        TcpSegmentInfo data = Segment(1000, TcpFlags.Ack, 100);
        TcpSegmentInfo other = Segment(5000, TcpFlags.Ack, 10);

        // A kernel instant 5 ms after the read: the clocks' conversion failed, and a packet cannot arrive before it left.
        IReadOnlyList<WirePacket> late = KernelTransmitTimes.Apply([Inbound(0, Ms(40), data)], [new(Ms(45), data)]);
        // No transmission with the packet's fields: nothing to take.
        IReadOnlyList<WirePacket> unmatched = KernelTransmitTimes.Apply([Inbound(0, Ms(40), data)], [new(Ms(30), other)]);

        Assert.Equal((Ms(40), (TimeSpan?)null), (late[0].At, late[0].ReadAt));
        Assert.Equal((Ms(40), (TimeSpan?)null), (unmatched[0].At, unmatched[0].ReadAt));
    }

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static TcpSegmentInfo Segment(uint seq, TcpFlags flags, int length) =>
        new(Addresses.KernelAddress, Addresses.StackAddress, 5000, 40000, new SeqNumber(seq), new SeqNumber(1), flags, 64240, length);

    private static WirePacket Inbound(int index, TimeSpan at, TcpSegmentInfo segment) =>
        new(index, at, PacketDirection.Inbound, segment, [], null, null);

    private static WirePacket Outbound(int index, TimeSpan at, TcpSegmentInfo segment) =>
        new(index, at, PacketDirection.Outbound, segment with { Source = segment.Destination, Destination = segment.Source }, [], null, null);
}
