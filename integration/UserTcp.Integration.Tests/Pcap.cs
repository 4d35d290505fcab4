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
                    });
                }
                index++;
            }
            offset += length;
        }
        return segments;
    }
}
