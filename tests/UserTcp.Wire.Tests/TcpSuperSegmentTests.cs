using System.Buffers.Binary;

namespace UserTcp.Wire.Tests;

/// <summary>
/// TSO super-segments: joining consecutive segments and cutting the result as the kernel's tcp_gso_segment does gives
/// back exactly the segments the engine wrote, with valid checksums; anything that could not be cut back unchanged
/// does not join.
/// </summary>
public class TcpSuperSegmentTests
{
    private static readonly Ipv4Address Stack = Ipv4Address.Parse("10.77.0.2");
    private static readonly Ipv4Address Kernel = Ipv4Address.Parse("10.77.0.1");
    private const int Mss = 1448;
    private const int Gap = 10; // a device header between frames, as in the transmit batch

    [Fact]
    public void A_partial_checksum_completed_over_the_segment_is_the_full_checksum()
    {
        byte[] payload = Bytes(1000, seed: 3);
        TcpRepr tcp = Segment(seq: 5, payload, TcpFlags.Ack | TcpFlags.Psh);
        byte[] full = Write(tcp, id: 1, partial: false);
        byte[] partial = Write(tcp, id: 1, partial: true);
        Assert.NotEqual(full, partial);
        CompleteChecksum(partial);
        Assert.Equal(full, partial);
    }

    [Fact]
    public void Joined_segments_cut_as_the_kernel_does_are_the_segments_written_one_by_one()
    {
        byte[] data = Bytes(3 * Mss + 500, seed: 1);
        int[] starts = [0, Mss, 2 * Mss, 3 * Mss, data.Length];
        byte[][] written = new byte[4][];
        for (int i = 0; i < 4; i++)
        {
            TcpFlags flags = i == 3 ? TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin : TcpFlags.Ack;
            TcpRepr segment = Segment(1000 + (uint)starts[i], data[starts[i]..starts[i + 1]], flags);
            written[i] = Write(segment, (ushort)(40 + i), partial: false);
        }
        byte[] arena = new byte[70_000];
        int superLength = Place(Partial(written[0]), arena, 0);
        int segmentSize = 0;
        for (int i = 1; i < written.Length; i++)
        {
            int length = Place(Partial(written[i]), arena, superLength + Gap);
            Assert.True(TcpSuperSegment.TryAppend(arena, superLength, superLength + Gap, length, ref segmentSize, 65_000, out superLength), $"segment {i}");
        }
        Assert.Equal(Mss, segmentSize);
        Assert.Equal(20 + 32 + data.Length, superLength);

        // The super-segment itself is a valid packet once the device completes its checksum (what the kernel's TCP sees).
        byte[] completed = arena[..superLength];
        CompleteChecksum(completed);
        Assert.Equal(WireError.None, Ipv4Packet.TryParse(completed, out Ipv4Packet ip));
        Assert.Equal(WireError.None, TcpSegment.TryParse(ip, out TcpSegment whole));
        Assert.Equal(data, whole.Payload.ToArray());
        Assert.Equal(TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin, whole.Flags);

        List<byte[]> cut = Cut(arena.AsSpan(0, superLength), segmentSize);

        Assert.Equal(written.Length, cut.Count);
        for (int i = 0; i < written.Length; i++) Assert.Equal(written[i], cut[i]);
    }

    [Theory]
    [InlineData("gap")]
    [InlineData("other port")]
    [InlineData("other ack")]
    [InlineData("other window")]
    [InlineData("other timestamp")]
    [InlineData("push before the last")]
    [InlineData("short before")]
    [InlineData("longer than the first")]
    [InlineData("pure ack")]
    [InlineData("over the limit")]
    public void A_segment_that_could_not_be_cut_back_unchanged_does_not_join(string difference)
    {
        TcpRepr first = Segment(1000, Bytes(difference == "short before" ? 100 : Mss, 1), difference == "push before the last" ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack);
        int firstPayload = first.Payload.Length;
        TcpRepr next = Segment(1000 + (uint)firstPayload, Bytes(difference == "longer than the first" ? Mss + 1 : Mss, 2), TcpFlags.Ack);
        switch (difference)
        {
            case "gap": next.SequenceNumber += 1; break;
            case "other port": next.SourcePort++; break;
            case "other ack": next.AcknowledgmentNumber += 1; break;
            case "other window": next.Window--; break;
            case "other timestamp": next.Options = next.Options with { Timestamp = new TcpTimestamp(778, 55) }; break;
            case "pure ack": next.Payload = []; break;
        }
        byte[] arena = new byte[10_000];
        byte[] a = Write(first, 1, partial: true), b = Write(next, 2, partial: true);
        a.CopyTo(arena, 0);
        b.CopyTo(arena, a.Length + Gap);
        byte[] before = arena.ToArray();
        int segmentSize = 0;
        int limit = difference == "over the limit" ? 2 * Mss - 1 : 65_000;

        Assert.False(TcpSuperSegment.TryAppend(arena, a.Length, a.Length + Gap, b.Length, ref segmentSize, limit, out int length));
        Assert.Equal(a.Length, length);
        Assert.Equal(0, segmentSize);
        Assert.Equal(before, arena);
    }

    [Fact]
    public void A_super_segment_never_grows_past_an_ipv4_packet()
    {
        const int Size = 16_000;
        byte[] arena = new byte[200_000];
        int superLength = Place(Write(Segment(0, Bytes(Size, 1), TcpFlags.Ack), 1, partial: true), arena, 0);
        int segmentSize = 0, joined = 0;
        for (uint i = 1; i < 8; i++)
        {
            int next = Place(Write(Segment(i * Size, Bytes(Size, (int)i), TcpFlags.Ack), 1, partial: true), arena, superLength + Gap);
            if (!TcpSuperSegment.TryAppend(arena, superLength, superLength + Gap, next, ref segmentSize, int.MaxValue, out superLength)) break;
            joined++;
        }
        Assert.Equal(3, joined); // 4 × 16,000 bytes and the headers fit in 65,535; a fifth does not
        Assert.True(superLength <= ushort.MaxValue);
    }

    private static TcpRepr Segment(uint seq, byte[] payload, TcpFlags flags) => new()
    {
        SourcePort = 80,
        DestinationPort = 40000,
        SequenceNumber = new SeqNumber(seq),
        AcknowledgmentNumber = new SeqNumber(77),
        Flags = flags,
        Window = 501,
        Options = new TcpOptions { Timestamp = new TcpTimestamp(777, 55) },
        Payload = payload,
    };

    private static byte[] Write(in TcpRepr tcp, ushort id, bool partial)
    {
        byte[] packet = new byte[PacketWriter.Ipv4TcpLength(tcp)];
        Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Stack, Kernel) { Identification = id, DontFragment = true }, tcp, out _, partial));
        return packet;
    }

    private static int Place(byte[] packet, byte[] arena, int at)
    {
        packet.CopyTo(arena, at);
        return packet.Length;
    }

    // The same packet with the partial checksum the engine writes for a device that completes it.
    private static byte[] Partial(byte[] packet)
    {
        byte[] partial = packet.ToArray();
        var source = Ipv4Address.Read(partial.AsSpan(12));
        var destination = Ipv4Address.Read(partial.AsSpan(16));
        BinaryPrimitives.WriteUInt16BigEndian(partial.AsSpan(36), PacketWriter.PartialTcpChecksum(source, destination, partial.Length - 20));
        return partial;
    }

    private static byte[] Bytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    // What the kernel does with the partial checksum (skb_checksum_help): the sum from the TCP header on, stored in place.
    private static void CompleteChecksum(Span<byte> packet)
    {
        Span<byte> tcp = packet[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Compute(tcp));
    }

    // Linux's tcp_gso_segment for a super-segment with a partial checksum: the headers copied for each gso_size of payload,
    // sequence numbers advanced, PSH and FIN kept for the last only, IPv4 identification counting up; checksums completed.
    private static List<byte[]> Cut(ReadOnlySpan<byte> super, int segmentSize)
    {
        int headerLength = 20 + (super[20 + 12] >> 4) * 4;
        ReadOnlySpan<byte> payload = super[headerLength..];
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(super[24..]);
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(super[4..]);
        var cut = new List<byte[]>();
        for (int offset = 0, i = 0; offset < payload.Length; offset += segmentSize, i++)
        {
            int length = Math.Min(segmentSize, payload.Length - offset);
            byte[] packet = new byte[headerLength + length];
            super[..headerLength].CopyTo(packet);
            payload.Slice(offset, length).CopyTo(packet.AsSpan(headerLength));
            bool last = offset + length == payload.Length;
            if (!last) packet[20 + 13] &= unchecked((byte)~(TcpFlags.Psh | TcpFlags.Fin));
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(id + i));
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), InternetChecksum.Compute(packet.AsSpan(0, 20)));
            BinaryPrimitives.WriteUInt32BigEndian(packet.AsSpan(24), unchecked(seq + (uint)offset));
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(36), PacketWriter.PartialTcpChecksum(Stack, Kernel, packet.Length - 20));
            CompleteChecksum(packet);
            cut.Add(packet);
        }
        return cut;
    }
}
