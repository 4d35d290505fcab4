using System.Globalization;

namespace UserTcp.Script;

/// <summary>
/// An ICMP line (packetdrill's icmp_packet_spec): <c>&lt; icmp unreachable host_unreachable [0:10(10)]</c>,
/// <c>&lt; icmp unreachable frag_needed mtu 800</c>. The message quotes an IPv4 header and the first 8 bytes of a TCP
/// segment UserTcp sent: its ports are the connection under test's, its sequence number <see cref="Seq"/> counts from
/// UserTcp's ISN (0, the ISN itself, when the line gives none), and the quoted IP length counts <see cref="PayloadLength"/>.
/// </summary>
public sealed record IcmpSpec(PacketDirection Direction, string TypeName, string? CodeName, byte Type, byte Code, ushort? Mtu, ushort EchoId, uint Seq, int PayloadLength)
{
    /// <summary>IP-level fields the line gives (<c>[tos 0x4]</c>, <c>[ttl 64]</c>), or null.</summary>
    public IpAnnotation? Ip { get; init; }

    public override string ToString()
    {
        var text = new System.Text.StringBuilder(Direction == PacketDirection.Inbound ? "< " : "> ");
        if (Ip is not null) text.Append(Ip).Append(' ');
        text.Append("icmp ").Append(TypeName);
        if (CodeName is not null) text.Append(' ').Append(CodeName);
        if (Mtu is ushort mtu) text.Append(CultureInfo.InvariantCulture, $" mtu {mtu}");
        if (EchoId != 0) text.Append(CultureInfo.InvariantCulture, $" id {EchoId}");
        if (Seq != 0 || PayloadLength != 0) text.Append(CultureInfo.InvariantCulture, $" [{Seq}:{unchecked(Seq + (uint)PayloadLength)}({PayloadLength})]");
        return text.ToString();
    }
}

/// <summary>An ICMP line at its time.</summary>
public sealed record IcmpEvent(int Line, EventTime Time, IcmpSpec Icmp) : ScriptEvent(Line, Time)
{
    public override string ToString() => $"{Time} {Icmp}";
}

/// <summary>packetdrill's names of ICMPv4 types and destination-unreachable codes (icmp_packet.c, after RFC 792 and RFC 1122).</summary>
public static class IcmpNames
{
    /// <summary>The destination-unreachable type, the only one whose codes have names.</summary>
    public const byte Unreachable = 3;
    /// <summary>The fragmentation-needed code, the only one that carries an MTU (RFC 1191).</summary>
    public const byte FragmentationNeeded = 4;

    private static readonly Dictionary<string, byte> Types = new(StringComparer.Ordinal)
    {
        ["echo_reply"] = 0, ["unreachable"] = 3, ["source_quench"] = 4, ["redirect"] = 5, ["echo_request"] = 8,
        ["time_exceeded"] = 11, ["parameter_problem"] = 12, ["timestamp_request"] = 13, ["timestamp_reply"] = 14,
        ["information_request"] = 15, ["information_reply"] = 16, ["address_mask_request"] = 17, ["address_mask_reply"] = 18,
    };

    private static readonly Dictionary<string, byte> UnreachableCodes = new(StringComparer.Ordinal)
    {
        ["net_unreachable"] = 0, ["host_unreachable"] = 1, ["protocol_unreachable"] = 2, ["port_unreachable"] = 3,
        ["frag_needed"] = 4, ["source_route_failed"] = 5, ["net_unknown"] = 6, ["host_unknown"] = 7,
        ["source_host_isolated"] = 8, ["net_prohibited"] = 9, ["host_prohibited"] = 10, ["net_unreachable_for_tos"] = 11,
        ["host_unreachable_for_tos"] = 12, ["packet_filtered"] = 13, ["precedence_violation"] = 14, ["precedence_cutoff"] = 15,
    };

    /// <summary>A type's number: a name of the table, or <c>type_N</c> (tcpdump's spelling); null when it is neither.</summary>
    public static byte? Type(string name) =>
        Types.TryGetValue(name, out byte type) ? type : Numbered(name, "type_");

    /// <summary>A code's number: <c>code_N</c>, or a name of the type's table (only destination unreachable has one); null otherwise.</summary>
    public static byte? Code(byte type, string name) =>
        Numbered(name, "code_") ?? (type == Unreachable && UnreachableCodes.TryGetValue(name, out byte code) ? code : null);

    private static byte? Numbered(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) && byte.TryParse(name.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out byte n) ? n : null;
}
