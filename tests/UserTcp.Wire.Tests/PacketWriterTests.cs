namespace UserTcp.Wire.Tests;

public class PacketWriterTests
{
    private static readonly Ipv4Address Stack = Ipv4Address.Parse("10.77.0.2");
    private static readonly Ipv4Address Kernel = Ipv4Address.Parse("10.77.0.1");

    [Fact]
    public void A_written_syn_with_data_and_fin_parses_back_to_the_same_values()
    {
        byte[] payload = "hello"u8.ToArray();
        var options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(10, 0), WindowScale = 7 };
        var sent = new TcpRepr
        {
            SourcePort = 7,
            DestinationPort = 40000,
            SequenceNumber = new SeqNumber(0xFFFF_FFFE),
            Flags = TcpFlags.Syn | TcpFlags.Fin,
            Window = 65535,
            Options = options,
            Payload = payload,
        };
        byte[] buffer = new byte[128];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(buffer, new Ipv4Repr(Stack, Kernel) { Identification = 99 }, sent, out int length));
        Assert.Equal(20 + 40 + 5, length);

        Assert.Equal(WireError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        TcpRepr received = TcpRepr.From(tcp);
        Assert.Equal(99, ip.Identification);
        Assert.Equal(sent.SequenceNumber, received.SequenceNumber);
        Assert.Equal(sent.Flags, received.Flags);
        Assert.Equal(sent.Options, received.Options);
        Assert.Equal(payload, received.Payload.ToArray());
        Assert.Equal(7, received.SegmentLength);
    }

    [Fact]
    public void Too_small_a_destination_is_refused()
    {
        var tcp = new TcpRepr { Flags = TcpFlags.Ack, Payload = new byte[100] };
        Assert.False(PacketWriter.TryWriteIpv4Tcp(new byte[139], new Ipv4Repr(Stack, Kernel), tcp, out int written));
        Assert.Equal(0, written);
        Assert.True(PacketWriter.TryWriteIpv4Tcp(new byte[140], new Ipv4Repr(Stack, Kernel), tcp, out written));
        Assert.Equal(140, written);
    }

    [Fact]
    public void A_packet_over_65535_bytes_is_refused()
    {
        var tcp = new TcpRepr { Flags = TcpFlags.Ack, Payload = new byte[65535 - 40 + 1] };
        Assert.False(PacketWriter.TryWriteIpv4Tcp(new byte[70000], new Ipv4Repr(Stack, Kernel), tcp, out _));
    }
}
