using UserTcp.Testing;

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

        int total = 0;
        long allocated = Allocations.Fewest(() =>
        {
            total = 0;
            for (int i = 0; i < 10_000; i++) total += ParseOnce(packet);
        });

        Assert.Equal(10_000 * (1448 + 1448 + 1), total);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Writing_a_segment_allocates_nothing()
    {
        byte[] packet = FullSizedSegment();
        byte[] output = new byte[1500];
        WriteFromParsed(packet, output, 1000); // warm up past tiered JIT

        // The reprs hold spans (ref structs a lambda cannot capture), so each round parses them again: no allocation either.
        long allocated = Allocations.Fewest(() => WriteFromParsed(packet, output, 10_000));

        Assert.Equal(0, allocated);
        Assert.Equal(packet, output);
    }

    private static void WriteFromParsed(byte[] packet, byte[] output, int times)
    {
        // Not xunit's Assert here: its comparers allocate.
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != WireError.None || TcpSegment.TryParse(ip, out TcpSegment tcp) != WireError.None)
        {
            throw new InvalidOperationException("the segment does not parse");
        }
        Ipv4Repr ipRepr = Ipv4Repr.From(ip);
        TcpRepr tcpRepr = TcpRepr.From(tcp);
        for (int i = 0; i < times; i++) PacketWriter.TryWriteIpv4Tcp(output, ipRepr, tcpRepr, out _);
    }
}
