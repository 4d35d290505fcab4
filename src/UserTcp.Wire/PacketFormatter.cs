using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace UserTcp.Wire;

/// <summary>
/// One-line, tcpdump-style text for a raw IPv4 packet, as `tcpdump -nn -S -vv` prints the TCP line: absolute
/// sequence numbers, seq on every segment (plain tcpdump leaves it off pure ACKs, but acceptability questions need it),
/// options in wire order. For people reading captures; allocates its string, so keep it off the hot path.
/// </summary>
public static class PacketFormatter
{
    /// <summary>One line in tcpdump's style for an IPv4 packet ("IP 10.77.0.1.40000 > 10.77.0.2.80: Flags [S], ..."), or why it does not parse.</summary>
    public static string Format(ReadOnlySpan<byte> packet)
    {
        var text = new StringBuilder(128);
        if (packet.Length > 0 && packet[0] >> 4 == 6)
        {
            return string.Create(CultureInfo.InvariantCulture, $"IP6 (not handled by UserTcp), {packet.Length} bytes");
        }
        WireError ipError = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        if (ipError == WireError.BadHeaderChecksum)
        {
            Ipv4Packet.TryParse(packet, out ip, verifyChecksum: false);
        }
        else if (ipError != WireError.None)
        {
            return string.Create(CultureInfo.InvariantCulture, $"malformed packet ({ipError.Describe()}), {packet.Length} bytes");
        }

        text.Append("IP ");
        if (ip.IsFragment)
        {
            AppendAddresses(text, ip);
            text.Append(CultureInfo.InvariantCulture, $": fragment offset {ip.FragmentOffset}{(ip.MoreFragments ? "+" : "")}, length {ip.Payload.Length}");
        }
        else
        {
            switch (ip.Protocol)
            {
                case Ipv4Packet.ProtocolTcp:
                    AppendTcp(text, ip);
                    break;
                case Ipv4Packet.ProtocolIcmp:
                    AppendAddresses(text, ip);
                    AppendIcmp(text, ip.Payload);
                    break;
                case Ipv4Packet.ProtocolUdp when ip.Payload.Length >= 8:
                    text.Append(CultureInfo.InvariantCulture,
                        $"{ip.Source}.{BinaryPrimitives.ReadUInt16BigEndian(ip.Payload)} > {ip.Destination}.{BinaryPrimitives.ReadUInt16BigEndian(ip.Payload[2..])}: UDP, length {ip.Payload.Length - 8}");
                    break;
                default:
                    AppendAddresses(text, ip);
                    text.Append(CultureInfo.InvariantCulture, $": ip-proto-{ip.Protocol} {ip.Payload.Length}");
                    break;
            }
        }
        if (ipError == WireError.BadHeaderChecksum) text.Append(" [bad IP header checksum]");
        return text.ToString();
    }

    private static void AppendAddresses(StringBuilder text, in Ipv4Packet ip) =>
        text.Append(CultureInfo.InvariantCulture, $"{ip.Source} > {ip.Destination}");

    private static void AppendTcp(StringBuilder text, in Ipv4Packet ip)
    {
        WireError error = TcpSegment.TryParse(ip, out TcpSegment tcp);
        bool badChecksum = error == WireError.BadTcpChecksum;
        if (badChecksum) error = TcpSegment.TryParse(ip, out tcp, verifyChecksum: false);
        if (error != WireError.None)
        {
            AppendAddresses(text, ip);
            text.Append(CultureInfo.InvariantCulture, $": tcp [{error.Describe()}], length {ip.Payload.Length}");
            return;
        }

        text.Append(CultureInfo.InvariantCulture, $"{ip.Source}.{tcp.SourcePort} > {ip.Destination}.{tcp.DestinationPort}: Flags [{FlagLetters(tcp.Flags)}]");
        int length = tcp.Payload.Length;
        text.Append(CultureInfo.InvariantCulture, $", seq {tcp.SequenceNumber}");
        if (length > 0) text.Append(CultureInfo.InvariantCulture, $":{tcp.SequenceNumber + length}");
        if (tcp.Has(TcpFlags.Ack)) text.Append(CultureInfo.InvariantCulture, $", ack {tcp.AcknowledgmentNumber}");
        text.Append(CultureInfo.InvariantCulture, $", win {tcp.Window}");
        if (tcp.Has(TcpFlags.Urg)) text.Append(CultureInfo.InvariantCulture, $", urg {tcp.UrgentPointer}");
        if (!tcp.RawOptions.IsEmpty)
        {
            text.Append(", options [");
            AppendOptions(text, tcp.RawOptions);
            text.Append(']');
        }
        text.Append(CultureInfo.InvariantCulture, $", length {length}");
        if (badChecksum) text.Append(" [bad TCP checksum]");
    }

    /// <summary>tcpdump's flag letters, in its order: F S R P . U E W.</summary>
    public static string FlagLetters(TcpFlags flags)
    {
        Span<char> letters = stackalloc char[8];
        int n = 0;
        if ((flags & TcpFlags.Fin) != 0) letters[n++] = 'F';
        if ((flags & TcpFlags.Syn) != 0) letters[n++] = 'S';
        if ((flags & TcpFlags.Rst) != 0) letters[n++] = 'R';
        if ((flags & TcpFlags.Psh) != 0) letters[n++] = 'P';
        if ((flags & TcpFlags.Ack) != 0) letters[n++] = '.';
        if ((flags & TcpFlags.Urg) != 0) letters[n++] = 'U';
        if ((flags & TcpFlags.Ece) != 0) letters[n++] = 'E';
        if ((flags & TcpFlags.Cwr) != 0) letters[n++] = 'W';
        return n == 0 ? "none" : new string(letters[..n]);
    }

    private static void AppendOptions(StringBuilder text, ReadOnlySpan<byte> raw)
    {
        var reader = new TcpOptionReader(raw);
        bool first = true;
        while (reader.MoveNext())
        {
            if (!first) text.Append(',');
            first = false;
            ReadOnlySpan<byte> data = reader.Current.Data;
            switch (reader.Current.Kind)
            {
                case TcpOptionKind.EndOfList: text.Append("eol"); break;
                case TcpOptionKind.NoOperation: text.Append("nop"); break;
                case TcpOptionKind.MaxSegmentSize:
                    text.Append(CultureInfo.InvariantCulture, $"mss {BinaryPrimitives.ReadUInt16BigEndian(data)}");
                    break;
                case TcpOptionKind.WindowScale:
                    text.Append(CultureInfo.InvariantCulture, $"wscale {data[0]}");
                    break;
                case TcpOptionKind.SackPermitted: text.Append("sackOK"); break;
                case TcpOptionKind.Timestamps:
                    text.Append(CultureInfo.InvariantCulture,
                        $"TS val {BinaryPrimitives.ReadUInt32BigEndian(data)} ecr {BinaryPrimitives.ReadUInt32BigEndian(data[4..])}");
                    break;
                case TcpOptionKind.Sack:
                    text.Append(CultureInfo.InvariantCulture, $"sack {data.Length / 8} ");
                    for (int i = 0; i + 8 <= data.Length; i += 8)
                    {
                        text.Append(CultureInfo.InvariantCulture,
                            $"{{{BinaryPrimitives.ReadUInt32BigEndian(data[i..])}:{BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..])}}}");
                    }
                    break;
                case TcpOptionKind.FastOpen:
                    AppendFastOpen(text, "tfo", data);
                    break;
                case TcpOptionKind.Experimental when data.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(data) == TcpOptions.FastOpenMagic:
                    AppendFastOpen(text, "exp-tfo", data[2..]);
                    break;
                default:
                    text.Append(CultureInfo.InvariantCulture, $"unknown-{(byte)reader.Current.Kind} 0x{Convert.ToHexStringLower(data)}");
                    break;
            }
        }
    }

    /// <summary>tcpdump's spelling: "tfo cookiereq" for a request, "tfo cookie HEX" otherwise.</summary>
    private static void AppendFastOpen(StringBuilder text, string name, ReadOnlySpan<byte> cookie)
    {
        text.Append(name);
        if (cookie.IsEmpty) text.Append(" cookiereq");
        else text.Append(" cookie ").Append(Convert.ToHexStringLower(cookie));
    }

    private static void AppendIcmp(StringBuilder text, ReadOnlySpan<byte> icmp)
    {
        if (icmp.Length < 8)
        {
            text.Append(CultureInfo.InvariantCulture, $": ICMP, length {icmp.Length}");
            return;
        }
        byte type = icmp[0];
        string kind = type switch { 0 => "echo reply", 8 => "echo request", 3 => "unreachable", 11 => "time exceeded", _ => $"type-#{type}" };
        text.Append(CultureInfo.InvariantCulture, $": ICMP {kind}");
        if (type is 0 or 8)
        {
            text.Append(CultureInfo.InvariantCulture,
                $", id {BinaryPrimitives.ReadUInt16BigEndian(icmp[4..])}, seq {BinaryPrimitives.ReadUInt16BigEndian(icmp[6..])}");
        }
        text.Append(CultureInfo.InvariantCulture, $", length {icmp.Length}");
    }
}
