using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>One TCP segment read back from a pcap the stack wrote (LINKTYPE_RAW), in capture order.</summary>
internal sealed record CapturedSegment(int Index, Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort,
    TcpFlags Flags, uint Sequence, int PayloadLength)
{
    public override string ToString() =>
        $"#{Index} {Source}.{SourcePort} > {Destination}.{DestinationPort} [{PacketFormatter.FlagLetters(Flags)}] seq {Sequence} len {PayloadLength}";
}

/// <summary>Reads the classic pcap files <see cref="UserTcp.Link.PcapFile"/> writes.</summary>
internal static class Pcap
{
    public static IReadOnlyList<CapturedSegment> ReadTcp(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.True(file.Length >= 24 && BinaryPrimitives.ReadUInt32LittleEndian(file) == 0xA1B2C3D4, $"{path} is not a little-endian pcap");
        Assert.Equal(101u, BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(20)));
        var segments = new List<CapturedSegment>();
        int offset = 24;
        for (int index = 0; offset + 16 <= file.Length; index++)
        {
            int included = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 8));
            ReadOnlySpan<byte> packet = file.AsSpan(offset + 16, included);
            offset += 16 + included;
            if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None && TcpSegment.TryParse(ip, out TcpSegment tcp) == WireError.None)
            {
                segments.Add(new CapturedSegment(index, ip.Source, tcp.SourcePort, ip.Destination, tcp.DestinationPort,
                    tcp.Flags, tcp.SequenceNumber.Value, tcp.Payload.Length));
            }
        }
        return segments;
    }
}
