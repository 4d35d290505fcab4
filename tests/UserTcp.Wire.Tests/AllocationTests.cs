namespace UserTcp.Wire.Tests;

/// <summary>The per-packet path allocates nothing: parse, checksum, option summary and write.</summary>
public class AllocationTests
{
    private static byte[] FullSizedSegment()
    {
        byte[] payload = new byte[1448];
        new Random(1).NextBytes(payload);
        var tcp = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = 51936,
            SequenceNumber = new SeqNumber(0xFFFF_FF00),
            AcknowledgmentNumber = new SeqNumber(12345),
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            Window = 502,
            Options = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) },
            Payload = payload,
        };
        byte[] packet = new byte[1500];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Ipv4Address.Parse("10.77.0.2"), Ipv4Address.Parse("10.77.0.1")), tcp, out int length));
        Assert.Equal(1500, length);
        return packet;
    }

    private static int ParseOnce(byte[] packet)
    {
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != WireError.None) return -1;
        if (TcpSegment.TryParse(ip, out TcpSegment tcp) != WireError.None) return -2;
        TcpRepr repr = TcpRepr.From(tcp);
        return repr.Payload.Length + repr.SegmentLength + (int)(repr.Options.Timestamp?.Value ?? 0);
    }

    [Fact]
    public void Parsing_and_checksumming_a_1500_byte_segment_allocates_nothing()
    {
        byte[] packet = FullSizedSegment();
        for (int i = 0; i < 1000; i++) ParseOnce(packet); // warm up past tiered JIT

        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 0; i < 10_000; i++) total += ParseOnce(packet);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(10_000 * (1448 + 1448 + 1), total);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Writing_a_segment_allocates_nothing()
    {
        byte[] packet = FullSizedSegment();
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Ipv4Repr ipRepr = Ipv4Repr.From(ip);
        TcpRepr tcpRepr = TcpRepr.From(tcp);
        byte[] output = new byte[1500];
        for (int i = 0; i < 1000; i++) PacketWriter.TryWriteIpv4Tcp(output, ipRepr, tcpRepr, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++) PacketWriter.TryWriteIpv4Tcp(output, ipRepr, tcpRepr, out _);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(packet, output);
    }
}
