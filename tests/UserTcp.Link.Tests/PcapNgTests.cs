using System.Buffers.Binary;
using System.Text;
using static UserTcp.Link.Tests.Packets;

namespace UserTcp.Link.Tests;

public class PcapNgTests
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>One block as the format defines it: type, body (between the two length fields).</summary>
    private sealed record Block(uint Type, byte[] Body);

    private static List<Block> ReadBlocks(byte[] file)
    {
        var blocks = new List<Block>();
        int offset = 0;
        while (offset < file.Length)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset));
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 4));
            Assert.True(length % 4 == 0 && length >= 12, $"block at {offset} has length {length}");
            Assert.Equal((uint)length, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + length - 4)));
            blocks.Add(new Block(type, file[(offset + 8)..(offset + length - 4)]));
            offset += length;
        }
        return blocks;
    }

    private static Dictionary<ushort, List<byte[]>> Options(ReadOnlySpan<byte> options)
    {
        var found = new Dictionary<ushort, List<byte[]>>();
        int offset = 0;
        while (offset + 4 <= options.Length)
        {
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(options[offset..]);
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(options[(offset + 2)..]);
            if (code == 0) break;
            if (!found.TryGetValue(code, out List<byte[]>? values)) found[code] = values = [];
            values.Add(options.Slice(offset + 4, length).ToArray());
            offset += 4 + (length + 3) / 4 * 4;
        }
        return found;
    }

    [Fact]
    public void A_capture_has_a_section_an_interface_and_one_packet_block_per_packet_with_faults_as_comments()
    {
        using var stream = new MemoryStream();
        byte[] fin = Tcp(TcpFlags.Fin | TcpFlags.Ack, seq: 11, fromServer: true);
        byte[] ack = Tcp(TcpFlags.Ack, seq: 12);
        using (var writer = new PcapNgWriter(stream, Epoch, "utcp0", "kernel 10.0.0.2 - UserTcp 10.0.0.1", leaveOpen: true))
        {
            writer.Record(fin, PacketDirection.Inbound, TimeSpan.FromMilliseconds(1.5),
                new FaultNote(FaultAction.Dropped, "dropped by rule 'drop from-kernel flags=FIN': never reached UserTcp"));
            writer.Record(ack, PacketDirection.Outbound, TimeSpan.FromSeconds(2), null);
            Assert.Equal(2, writer.PacketsWritten);
        }

        List<Block> blocks = ReadBlocks(stream.ToArray());
        Assert.Equal([PcapNgWriter.SectionHeaderType, PcapNgWriter.InterfaceDescriptionType, PcapNgWriter.EnhancedPacketType, PcapNgWriter.EnhancedPacketType],
            blocks.Select(b => b.Type));
        Assert.Equal(PcapNgWriter.ByteOrderMagic, BinaryPrimitives.ReadUInt32LittleEndian(blocks[0].Body));
        Assert.Equal(PcapNgWriter.LinkTypeRaw, BinaryPrimitives.ReadUInt16LittleEndian(blocks[1].Body));
        Assert.Equal("utcp0", Encoding.UTF8.GetString(Options(blocks[1].Body.AsSpan(8))[2].Single()));

        long epochMicros = (Epoch - DateTimeOffset.UnixEpoch).Ticks / 10;
        var dropped = Packet(blocks[2]);
        Assert.Equal(epochMicros + 1500, dropped.micros);
        Assert.Equal(fin, dropped.data);
        Assert.Equal("usertcp fault: dropped by rule 'drop from-kernel flags=FIN': never reached UserTcp", Encoding.UTF8.GetString(dropped.options[1].Single()));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(dropped.options[2].Single())); // the kernel sent it: outbound on its interface

        var plain = Packet(blocks[3]);
        Assert.Equal(epochMicros + 2_000_000, plain.micros);
        Assert.Equal(ack, plain.data);
        Assert.False(plain.options.ContainsKey(1));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(plain.options[2].Single())); // UserTcp sent it: inbound to the kernel
    }

    [Fact]
    public void A_packet_carries_its_own_comment_beside_its_faults()
    {
        using var stream = new MemoryStream();
        byte[] data = Data(1000);
        using (var writer = new PcapNgWriter(stream, Epoch, "utcp0", leaveOpen: true))
        {
            writer.Record(data, PacketDirection.Inbound, TimeSpan.FromMilliseconds(1), new FaultNote(FaultAction.Delayed, "delayed 5 ms"), "UserTcp read it 2.5 ms later");
            writer.Record(data, PacketDirection.Inbound, TimeSpan.FromMilliseconds(2), null, "UserTcp read it 1.0 ms later");
        }

        List<Block> blocks = ReadBlocks(stream.ToArray());
        Assert.Equal(["usertcp fault: delayed 5 ms", "UserTcp read it 2.5 ms later"], Packet(blocks[2]).options[1].Select(Encoding.UTF8.GetString));
        Assert.Equal(["UserTcp read it 1.0 ms later"], Packet(blocks[3]).options[1].Select(Encoding.UTF8.GetString));
    }

    private static (long micros, byte[] data, Dictionary<ushort, List<byte[]>> options) Packet(Block block)
    {
        ReadOnlySpan<byte> body = block.Body;
        long high = BinaryPrimitives.ReadUInt32LittleEndian(body[4..]), low = BinaryPrimitives.ReadUInt32LittleEndian(body[8..]);
        int captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(body[12..]);
        Assert.Equal((uint)captured, BinaryPrimitives.ReadUInt32LittleEndian(body[16..]));
        int padded = (captured + 3) / 4 * 4;
        return ((high << 32) | low, body.Slice(20, captured).ToArray(), Options(body[(20 + padded)..]));
    }

    [Fact]
    public void Records_after_dispose_are_ignored()
    {
        using var stream = new MemoryStream();
        var writer = new PcapNgWriter(stream, Epoch, "utcp0", leaveOpen: true);
        writer.Dispose();
        writer.Record(Data(1), PacketDirection.Outbound, TimeSpan.Zero, null);
        Assert.Equal(0, writer.PacketsWritten);
    }
}
