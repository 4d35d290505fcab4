using System.Buffers.Binary;
using System.Globalization;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>One TCP segment read back from a pcap the stack wrote (LINKTYPE_RAW), in capture order.</summary>
internal sealed record CapturedSegment(int Index, Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort,
    TcpFlags Flags, uint Sequence, int PayloadLength)
{
    /// <summary>When the stack read or wrote it, on the capture's clock.</summary>
    public TimeSpan At { get; init; }
    public uint Acknowledgment { get; init; }
    public IReadOnlyList<SackBlock> Sack { get; init; } = [];
    /// <summary>The timestamps option (RFC 7323), if the segment carries one.</summary>
    public TcpTimestamp? Timestamp { get; init; }
    /// <summary>The window field as sent (not scaled).</summary>
    public ushort Window { get; init; }
    /// <summary>The packet's comments (opt_comment): faults, and how late UserTcp read a packet from the kernel.</summary>
    public IReadOnlyList<string> Comments { get; init; } = [];

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Index} {Source}.{SourcePort} > {Destination}.{DestinationPort} [{PacketFormatter.FlagLetters(Flags)}] seq {Sequence} len {PayloadLength}");
}

/// <summary>Reads the pcapng captures the live stack writes (<see cref="UserTcp.Link.PcapNgWriter"/>: LINKTYPE_RAW, little-endian).</summary>
internal static class Pcap
{
    public static IReadOnlyList<CapturedSegment> ReadTcp(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.True(file.Length >= 28 && BinaryPrimitives.ReadUInt32LittleEndian(file) == 0x0A0D0D0A
            && BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8)) == 0x1A2B3C4D, $"{path} is not a little-endian pcapng");
        var segments = new List<CapturedSegment>();
        int index = 0;
        for (int offset = 0; offset + 12 <= file.Length;)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset));
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 4));
            Assert.True(length >= 12 && offset + length <= file.Length, $"{path}: a block at {offset} claims {length} bytes");
            if (type == 6)
            {
                int included = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 20));
                ReadOnlySpan<byte> packet = file.AsSpan(offset + 28, included);
                // TCP checksums are not verified: with offloads the capture holds partial ones, as tcpdump on the interface shows.
                if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None
                    && TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false) == WireError.None)
                {
                    long microseconds = ((long)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 12)) << 32)
                        | BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 16)); // if_tsresol 6: microseconds
                    segments.Add(new CapturedSegment(index, ip.Source, tcp.SourcePort, ip.Destination, tcp.DestinationPort,
                        tcp.Flags, tcp.SequenceNumber.Value, tcp.Payload.Length)
                    {
                        At = TimeSpan.FromMicroseconds(microseconds),
                        Acknowledgment = tcp.AcknowledgmentNumber.Value,
                        Sack = tcp.Options.SackBlocks.ToArray(),
                        Timestamp = tcp.Options.Timestamp,
                        Window = tcp.Window,
                        Comments = Comments(file.AsSpan((offset + 28 + (included + 3) / 4 * 4)..(offset + length - 4))),
                    });
                }
                index++;
            }
            offset += length;
        }
        return segments;
    }

    // The opt_comment values among a block's options.
    private static string[] Comments(ReadOnlySpan<byte> options)
    {
        var comments = new List<string>();
        for (int offset = 0; offset + 4 <= options.Length;)
        {
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(options[offset..]);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(options[(offset + 2)..]);
            if (code == 0) break;
            if (code == 1) comments.Add(System.Text.Encoding.UTF8.GetString(options.Slice(offset + 4, length)));
            offset += 4 + (length + 3) / 4 * 4;
        }
        return [.. comments];
    }
}
