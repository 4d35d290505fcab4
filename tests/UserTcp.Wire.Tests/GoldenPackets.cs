using System.Buffers.Binary;
using System.Text.RegularExpressions;

namespace UserTcp.Wire.Tests;

/// <summary>
/// Packets captured byte-exact from Linux into a TUN device by tools/golden/capture.sh. Each .hex file carries
/// its provenance and tcpdump's own decoding in '#' comment lines, then the bytes.
/// </summary>
public static class GoldenPackets
{
    public static readonly string[] Names = ["linux-syn", "linux-synack", "linux-ack", "linux-data", "linux-finack", "linux-rst"];

    public static byte[] Load(string name) => Convert.FromHexString(string.Concat(
        DataLines(name).Select(line => line.Replace(" ", "", StringComparison.Ordinal))));

    /// <summary>
    /// The line real tcpdump printed for the packet (-nn -S -vv -t), without the -v checksum note and without
    /// what its application-layer printers add after the TCP length (": HTTP, length: 73").
    /// </summary>
    public static string TcpdumpLine(string name)
    {
        string[] lines = File.ReadAllLines(PathOf(name));
        int header = Array.FindIndex(lines, l => l.StartsWith("# real tcpdump", StringComparison.Ordinal));
        string line = lines[header + 2].TrimStart('#').Trim();
        int cksum = line.IndexOf(", cksum ", StringComparison.Ordinal);
        int end = line.IndexOf("), ", cksum, StringComparison.Ordinal);
        line = "IP " + line[..cksum] + line[(end + 1)..];
        return Regex.Match(line, @"^.*?, length \d+").Value;
    }

    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (string name in Names) data.Add(name);
        return data;
    }

    private static IEnumerable<string> DataLines(string name) =>
        File.ReadLines(PathOf(name)).Where(l => l.Length > 0 && !l.StartsWith('#'));

    private static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Golden", name + ".hex");

    /// <summary>Recomputes the IPv4 header checksum and, when the segment is whole enough and asked, the TCP checksum.</summary>
    public static void FixChecksums(Span<byte> packet, bool tcpToo = true)
    {
        if (packet.Length < 20) return;
        int ihl = (packet[0] & 0x0F) * 4;
        if (ihl < 20 || ihl > packet.Length) return;
        packet[10] = packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], InternetChecksum.Compute(packet[..ihl]));
        int total = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(packet[2..]), packet.Length);
        if (!tcpToo || total - ihl < 18) return;
        Span<byte> tcp = packet[ihl..total];
        tcp[16] = tcp[17] = 0;
        ulong sum = InternetChecksum.PseudoHeader(Ipv4Address.Read(packet[12..]), Ipv4Address.Read(packet[16..]), packet[9], (ushort)tcp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Finish(InternetChecksum.Add(sum, tcp)));
    }
}
