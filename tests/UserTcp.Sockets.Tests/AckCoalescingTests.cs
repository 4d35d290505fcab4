using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A transmit batch drops a pure ACK only where a later segment of the same connection acknowledges more and nothing
/// is lost: duplicate ACKs (RFC 5681 §4.2), the first ACK of a batch, and ACKs with SACK blocks always go out.
/// </summary>
public sealed class AckCoalescingTests
{
    private static readonly Ipv4Address Ours = new(10, 0, 0, 2);
    private static readonly Ipv4Address Peer = new(10, 0, 0, 1);

    [Fact]
    public void Of_three_advancing_pure_acks_the_middle_one_is_dropped()
    {
        (List<uint> sent, long coalesced) = Send(Ack(100), Ack(200), Ack(300));
        Assert.Equal([100u, 300u], sent);
        Assert.Equal(1, coalesced);
    }

    [Fact]
    public void Duplicate_acks_each_go_out()
    {
        (List<uint> sent, long coalesced) = Send(Ack(100), Ack(100), Ack(100));
        Assert.Equal([100u, 100u, 100u], sent);
        Assert.Equal(0, coalesced);
    }

    [Fact]
    public void A_duplicate_ack_followed_by_a_higher_ack_still_goes_out()
    {
        (List<uint> sent, _) = Send(Ack(100), Ack(100), Ack(200));
        Assert.Equal([100u, 100u, 200u], sent);
    }

    [Fact]
    public void An_ack_with_sack_blocks_is_never_dropped()
    {
        (List<uint> sent, _) = Send(Ack(100), Ack(200, sack: true), Ack(300));
        Assert.Equal([100u, 200u, 300u], sent);
    }

    [Fact]
    public void Connections_are_coalesced_each_on_its_own()
    {
        (List<uint> sent, _) = Send(Ack(100, port: 1), Ack(100, port: 2), Ack(200, port: 1), Ack(200, port: 2), Ack(300, port: 1));
        Assert.Equal([100u, 100u, 200u, 300u], sent); // port 1's 200 gave way to its 300; port 2's 200 is its last
    }

    [Fact]
    public void Data_or_a_fin_acknowledging_more_supersedes_a_pure_ack()
    {
        (List<uint> sent, _) = Send(Ack(100), Ack(200), Ack(300, payload: 10), Ack(400), Ack(500, flags: TcpFlags.Fin | TcpFlags.Ack));
        Assert.Equal([100u, 300u, 500u], sent); // 200 gave way to the data segment, 400 to the FIN; data and FIN always go
    }

    [Fact]
    public async Task A_batch_of_ten_small_segments_is_answered_by_two_acks_instead_of_ten()
    {
        await using var net = new PumpedPair(new TcpConfig { DelayedAck = TimeSpan.Zero, NoDelay = true, InitialSequenceNumber = _ => Isn });
        using UserTcpListener listener = net.Server.Listen(80);
        UserTcpConnection client = net.Client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 80));
        net.Pump();
        Assert.True(listener.TryAccept(out _));
        long before = net.Server.AcksCoalesced;

        for (int i = 0; i < 10; i++) Assert.Equal(100, client.Send(new byte[100], out _)); // ten segments on the wire
        Assert.Equal(10, net.Server.Pump()); // the server takes them as one batch
        var acks = new List<int>();
        byte[] packet = new byte[1500];
        while (net.Pipe.B.TryRead(packet, out int length)) acks.Add(AckedBytes(packet.AsSpan(0, length)));

        Assert.Equal([100, 1000], acks); // the first (it may duplicate an earlier one) and the last
        Assert.Equal(8, net.Server.AcksCoalesced - before);
    }

    private const uint Isn = 1_000_000;

    /// <summary>How many bytes of the client's data a pure ACK from the server acknowledges.</summary>
    private static int AckedBytes(ReadOnlySpan<byte> packet)
    {
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        Assert.Equal(TcpFlags.Ack, tcp.Flags);
        Assert.True(tcp.Payload.IsEmpty);
        return tcp.AcknowledgmentNumber - new SeqNumber(Isn + 1);
    }

    private static byte[] Ack(uint ack, ushort port = 1, bool sack = false, int payload = 0, TcpFlags flags = TcpFlags.Ack)
    {
        var options = new TcpOptions();
        if (sack) options.AddSackBlock(new SackBlock(new SeqNumber(ack + 1000), new SeqNumber(ack + 2000)));
        var tcp = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = port,
            SequenceNumber = new SeqNumber(1),
            AcknowledgmentNumber = new SeqNumber(ack),
            Flags = flags,
            Window = 1000,
            Options = options,
            Payload = new byte[payload],
        };
        byte[] packet = new byte[200];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Ours, Peer), tcp, out int length));
        return packet[..length];
    }

    /// <summary>
    /// Hands the packets to a batch as the engine does (with their fields, which the batch then does not parse), writes
    /// it, and returns the ACK numbers that went out; the same packets without their fields, parsed, must fare the same.
    /// </summary>
    private static (List<uint> Sent, long Coalesced) Send(params byte[][] packets)
    {
        (List<uint> Sent, long Coalesced, long Parsed) withFields = SendThrough(packets, withFields: true);
        (List<uint> Sent, long Coalesced, long Parsed) parsed = SendThrough(packets, withFields: false);
        Assert.Equal(0, withFields.Parsed);
        Assert.Equal(packets.Length, parsed.Parsed);
        Assert.Equal(withFields.Sent, parsed.Sent);
        Assert.Equal(withFields.Coalesced, parsed.Coalesced);
        return (withFields.Sent, withFields.Coalesced);
    }

    private static (List<uint> Sent, long Coalesced, long Parsed) SendThrough(byte[][] packets, bool withFields)
    {
        var device = new RecordingDevice();
        var owner = new Owner(device);
        var batch = new TransmitBatch(owner, 64 * 1024);
        foreach (byte[] packet in packets)
        {
            Span<byte> room = batch.GetBuffer(packet.Length);
            packet.CopyTo(room);
            if (withFields)
            {
                // The fields the engine knows as it writes a segment (the test reads them back from the packet).
                Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
                Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
                var id = new FourTuple(new IpEndpoint(ip.Source, tcp.SourcePort), new IpEndpoint(ip.Destination, tcp.DestinationPort));
                batch.TransmitSegment(room[..packet.Length], id, SegmentSummary.From(tcp), carriesSack: !tcp.Options.SackBlocks.IsEmpty);
            }
            else
            {
                batch.Transmit(room[..packet.Length]);
            }
        }
        batch.WriteTo(device);
        return (device.Acks, batch.AcksCoalesced, batch.PacketsParsed);
    }

    [Fact]
    public void A_device_whose_queue_refuses_gets_nothing_and_the_engine_hears_so()
    {
        // IPacketDevice.RefusesTransmit: the batch answers the engine at once (Linux's NET_XMIT_DROP) and queues nothing.
        var device = new RecordingDevice();
        var batch = new TransmitBatch(new Owner(device) { Refuses = true }, 64 * 1024);
        byte[] packet = Ack(1000);
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
        var id = new FourTuple(new IpEndpoint(ip.Source, tcp.SourcePort), new IpEndpoint(ip.Destination, tcp.DestinationPort));
        Span<byte> room = batch.GetBuffer(packet.Length);
        packet.CopyTo(room);
        Assert.Equal(TransmitResult.Refused, batch.TransmitSegment(room[..packet.Length], id, SegmentSummary.From(tcp), carriesSack: false));
        batch.Transmit(packet); // a packet the engine does not await an answer for is dropped too
        Assert.False(batch.HasPackets);
        batch.WriteTo(device);
        Assert.Empty(device.Acks);
    }

    private sealed class Owner(IPacketDevice device) : IBatchOwner
    {
        public bool Refuses { get; init; }

        public bool RefusesTransmit(ReadOnlySpan<byte> packet) => Refuses;

        public void WriteNow(TransmitBatch full) => full.WriteTo(device);

        public void WriteNow(ReadOnlySpan<byte> packet, PacketOffload offload) => device.Write(packet);

        public void WriteFailed(int length, Exception error) => throw error;
    }

    private sealed class RecordingDevice : IPacketDevice
    {
        public List<uint> Acks { get; } = [];
        public int Mtu => 1500;
        public bool WaitReadable(TimeSpan timeout) => false;

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = 0;
            return false;
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
            Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment tcp));
            Acks.Add(tcp.AcknowledgmentNumber.Value);
        }

        public void Dispose() { }
    }
}
