using UserTcp.Testing;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class SimulatedLinkTests
{
    [Fact]
    public void A_packet_arrives_at_the_other_end_after_the_one_way_delay()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(10));
        byte[] syn = Tcp(TcpFlags.Syn);

        a.Transmit(syn, TimeSpan.FromSeconds(1));

        Assert.Equal(TimeSpan.FromSeconds(1) + Ms(10), b.NextArrival);
        Assert.Null(a.NextArrival);
        Assert.Empty(Drain(b, TimeSpan.FromSeconds(1) + Ms(9.999)));
        byte[] received = Assert.Single(Drain(b, TimeSpan.FromSeconds(1) + Ms(10)));
        Assert.Equal(syn, received);
        Assert.Null(b.NextArrival);
    }

    [Fact]
    public void Packets_arrive_in_the_order_they_were_sent()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(5));
        for (uint i = 0; i < 20; i++) a.Transmit(Data(i * 10), Ms(i / 4)); // several per instant

        List<byte[]> received = Drain(b, Ms(100));

        Assert.Equal(Enumerable.Range(0, 20).Select(i => (uint)i * 10), received.Select(Seq));
    }

    [Fact]
    public void A_clock_that_steps_back_does_not_let_a_later_packet_overtake()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(5));
        a.Transmit(Data(1), Ms(10));
        a.Transmit(Data(2), Ms(3));

        Assert.Equal(Ms(15), b.NextArrival);
        Assert.Equal(new uint[] { 1, 2 }, Drain(b, Ms(15)).Select(Seq));
    }

    [Fact]
    public void A_rate_limited_link_serializes_packets_one_after_another()
    {
        // 1250 bytes at 1 Mbit/s take 10 ms on the wire.
        var (a, b) = SimulatedLink.CreatePair(Ms(20), bitsPerSecond: 1_000_000);
        byte[] packet = Data(1, payloadLength: 1250 - 40);
        Assert.Equal(1250, packet.Length);

        for (int i = 0; i < 3; i++) a.Transmit(packet, TimeSpan.Zero);
        var arrivals = new List<TimeSpan>();
        while (b.NextArrival is TimeSpan at)
        {
            arrivals.Add(at);
            Assert.Single(Drain(b, at));
        }

        Assert.Equal([Ms(30), Ms(40), Ms(50)], arrivals);
    }

    [Fact]
    public void An_idle_rate_limited_link_starts_serializing_at_once()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(20), bitsPerSecond: 1_000_000);
        byte[] packet = Data(1, payloadLength: 1250 - 40);

        a.Transmit(packet, TimeSpan.Zero);
        Assert.Single(Drain(b, Ms(30)));
        a.Transmit(packet, Ms(100));

        Assert.Equal(Ms(130), b.NextArrival);
    }

    [Fact]
    public void The_two_directions_are_independent()
    {
        var link = SimulatedLink.CreatePair(Ms(1));
        link.A.Transmit(Data(1), TimeSpan.Zero);
        link.B.Transmit(Data(2, payloadLength: 5), TimeSpan.Zero);

        Assert.Equal(new uint[] { 1 }, Drain(link.B, Ms(1)).Select(Seq));
        Assert.Equal(new uint[] { 2 }, Drain(link.A, Ms(1)).Select(Seq));
        Assert.Equal((1, 50, 1, 50), (link.AToB.PacketsSent, link.AToB.BytesSent, link.AToB.PacketsDelivered, link.AToB.BytesDelivered));
        Assert.Equal((1, 45, 1, 45), (link.BToA.PacketsSent, link.BToA.BytesSent, link.BToA.PacketsDelivered, link.BToA.BytesDelivered));
    }

    [Fact]
    public void A_packet_larger_than_the_mtu_is_dropped_and_counted()
    {
        var link = SimulatedLink.CreatePair(Ms(1), mtu: 576);
        link.A.Transmit(Data(1, payloadLength: 576 - 40), TimeSpan.Zero);
        link.A.Transmit(Data(2, payloadLength: 576 - 39), TimeSpan.Zero);

        Assert.Equal(new uint[] { 1 }, Drain(link.B, Ms(1)).Select(Seq));
        Assert.Equal(1, link.AToB.OversizeDropped);
        Assert.Equal(1, link.AToB.PacketsSent);
        Assert.Equal(576, link.B.Mtu);
    }

    [Fact]
    public void Counters_show_what_is_still_in_flight()
    {
        var link = SimulatedLink.CreatePair(Ms(10));
        for (uint i = 0; i < 3; i++) link.A.Transmit(Data(i), Ms(i * 5));

        Assert.Equal(2, Drain(link.B, Ms(15)).Count);
        Assert.Equal(1, link.AToB.InFlight);
        Assert.Equal(0, link.BToA.InFlight);
    }

    [Fact]
    public void A_buffer_too_small_for_the_next_packet_is_refused_and_the_packet_kept()
    {
        var (a, b) = SimulatedLink.CreatePair(TimeSpan.Zero);
        a.Transmit(Data(7, payloadLength: 100), TimeSpan.Zero);

        Assert.Throws<ArgumentException>(() => b.TryReceive(new byte[100], TimeSpan.Zero, out _));
        Assert.Equal(new uint[] { 7 }, Drain(b, TimeSpan.Zero).Select(Seq));
    }

    [Fact]
    public void Nonsense_settings_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SimulatedLink.CreatePair(Ms(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => SimulatedLink.CreatePair(Ms(1), mtu: 19));
        Assert.Throws<ArgumentOutOfRangeException>(() => SimulatedLink.CreatePair(Ms(1), mtu: 65536));
        Assert.Throws<ArgumentOutOfRangeException>(() => SimulatedLink.CreatePair(Ms(1), bitsPerSecond: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SimulatedLink.CreatePair(Ms(1), bitsPerSecond: double.NaN));
    }

    [Fact]
    public void Steady_traffic_allocates_nothing_per_packet()
    {
        var (a, b) = SimulatedLink.CreatePair(Ms(10), bitsPerSecond: 1_000_000_000);
        byte[] full = Data(1, payloadLength: 1460);
        byte[] ack = Tcp(TcpFlags.Ack, ack: 1461);
        byte[] buffer = new byte[1500];
        TimeSpan now = TimeSpan.Zero;

        // 32 packets in flight each way, a window's worth, moving a millisecond at a time.
        int Run(int rounds)
        {
            int received = 0;
            for (int i = 0; i < rounds; i++)
            {
                now += Ms(1);
                for (int k = 0; k < 32; k++) a.Transmit(full, now);
                for (int k = 0; k < 32; k++) b.Transmit(ack, now);
                while (b.TryReceive(buffer, now, out _)) received++;
                while (a.TryReceive(buffer, now, out _)) received++;
                _ = a.NextArrival;
                _ = b.NextArrival;
            }
            return received;
        }

        Run(200); // warm up: pools filled, queues grown, tiered JIT done
        int total = 0;
        long allocated = Allocations.Fewest(() => total = Run(1000));

        Assert.Equal(0, allocated);
        Assert.Equal(1000 * 64, total);
    }
}
