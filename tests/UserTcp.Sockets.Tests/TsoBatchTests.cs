using UserTcp.Link;
using UserTcp.Sockets.Runtime;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// With TSO, consecutive full-sized data segments of one connection in a transmit batch leave as one super-segment
/// (one frame, gso_size the segment size, a partial checksum); anything else leaves as it was written.
/// </summary>
public sealed class TsoBatchTests
{
    private static readonly Ipv4Address Ours = new(10, 0, 0, 2);
    private static readonly Ipv4Address Peer = new(10, 0, 0, 1);
    private const int Mss = 1448;
    private static readonly DeviceOffloads Tso = new()
    {
        Headroom = 10, MaxReceivePacket = 65535, ReceiveChecksum = true, ReceiveSegmentation = true, TransmitChecksum = true, TransmitSegmentation = 65_000,
    };

    [Fact]
    public void A_run_of_full_segments_and_a_short_last_one_leaves_as_one_super_segment()
    {
        var (frames, batch) = Send(Tso, Data(0, Mss), Data(Mss, Mss), Data(2 * Mss, Mss), Data(3 * Mss, 100, TcpFlags.Ack | TcpFlags.Psh));
        Frame frame = Assert.Single(frames);
        Assert.Equal(new PacketOffload(PacketChecksum.Partial, Mss), frame.Offload);
        Assert.Equal(20 + 32 + 3 * Mss + 100, frame.Packet.Length);
        Assert.Equal(TcpFlags.Ack | TcpFlags.Psh, frame.Flags);
        Assert.Equal(3, batch.SegmentsJoined);
    }

    [Fact]
    public void Segments_of_two_connections_interleaved_never_join()
    {
        var (frames, _) = Send(Tso, Data(0, Mss, port: 1), Data(0, Mss, port: 2), Data(Mss, Mss, port: 1));
        Assert.Equal(3, frames.Count);
        Assert.All(frames, f => Assert.Equal(new PacketOffload(PacketChecksum.Partial), f.Offload));
    }

    [Fact]
    public void A_pure_ack_between_keeps_the_data_apart_and_a_push_ends_a_super_segment()
    {
        var (frames, _) = Send(Tso, Data(0, Mss), Data(Mss, Mss, TcpFlags.Ack | TcpFlags.Psh), Data(2 * Mss, Mss), Data(3 * Mss, 0), Data(3 * Mss, Mss));
        Assert.Equal([2 * Mss, Mss, 0, Mss], frames.Select(f => f.Payload));
        Assert.Equal([(ushort)Mss, 0, 0, 0], frames.Select(f => f.Offload.SegmentSize));
    }

    [Fact]
    public void Without_tso_every_segment_is_its_own_packet_with_its_whole_checksum()
    {
        var (frames, batch) = Send(default, Data(0, Mss), Data(Mss, Mss), Data(2 * Mss, Mss));
        Assert.Equal(3, frames.Count);
        Assert.All(frames, f => Assert.Equal(default, f.Offload));
        Assert.Equal(0, batch.SegmentsJoined);
    }

    private static byte[] Data(int offset, int length, TcpFlags flags = TcpFlags.Ack, ushort port = 1)
    {
        var tcp = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = port,
            SequenceNumber = new SeqNumber(1000 + (uint)offset),
            AcknowledgmentNumber = new SeqNumber(5),
            Flags = flags,
            Window = 1000,
            Options = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) },
            Payload = new byte[length],
        };
        byte[] packet = new byte[PacketWriter.Ipv4TcpLength(tcp)];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Ours, Peer), tcp, out _, partialChecksum: true));
        return packet;
    }

    private static (List<Frame> Frames, TransmitBatch Batch) Send(DeviceOffloads offloads, params byte[][] packets)
    {
        var device = new FrameDevice(offloads);
        var batch = new TransmitBatch(new Owner(device), 256 * 1024, offloads);
        foreach (byte[] packet in packets)
        {
            Span<byte> room = batch.GetBuffer(packet.Length);
            packet.CopyTo(room);
            batch.Transmit(room[..packet.Length]);
        }
        batch.WriteTo(device);
        return (device.Frames, batch);
    }

    private sealed record Frame(byte[] Packet, PacketOffload Offload)
    {
        public TcpFlags Flags => (TcpFlags)Packet[20 + 13];
        public int Payload => Packet.Length - 20 - (Packet[20 + 12] >> 4) * 4;
    }

    private sealed class Owner(IPacketDevice device) : IBatchOwner
    {
        public void WriteNow(TransmitBatch full) => full.WriteTo(device);

        public void WriteNow(ReadOnlySpan<byte> packet, PacketOffload offload) => throw new InvalidOperationException("no packet is larger than the arena");

        public void WriteFailed(int length, Exception error) => throw error;
    }

    private sealed class FrameDevice(DeviceOffloads offloads) : IPacketDevice
    {
        public List<Frame> Frames { get; } = [];
        public int Mtu => 1500;
        public DeviceOffloads Offloads => offloads;
        public bool WaitReadable(TimeSpan timeout) => false;

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = 0;
            return false;
        }

        public void Write(ReadOnlySpan<byte> packet) => Frames.Add(new Frame(packet.ToArray(), default));

        public void WriteFrame(Span<byte> frame, PacketOffload offload) => Frames.Add(new Frame(frame[offloads.Headroom..].ToArray(), offload));

        public void Dispose() { }
    }
}
