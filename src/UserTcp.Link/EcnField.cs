using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>
/// The ECN field of an IPv4 header (<see cref="EcnCodepoint"/>, the two low bits of the old TOS octet, RFC 3168 §5),
/// read and CE-marked as a router running active queue management does. Never throws on untrusted bytes.
/// </summary>
public static class EcnField
{
    // The header checksum's offset in an IPv4 header (RFC 791 §3.1).
    private const int ChecksumOffset = 10;

    /// <summary>The ECN field of an IPv4 packet, or null when it is not one (too short, not version 4, bad IHL).</summary>
    public static EcnCodepoint? Of(ReadOnlySpan<byte> packet) => HeaderLength(packet) > 0 ? (EcnCodepoint)(packet[1] & 0b11) : null;

    /// <summary>Whether the field says the sender is ECN-capable (ECT(0) or ECT(1)), so a router may mark it instead of dropping it.</summary>
    public static bool IsEct(EcnCodepoint ecn) => ecn is EcnCodepoint.Ect0 or EcnCodepoint.Ect1;

    /// <summary>"Not-ECT", "ECT(1)", "ECT(0)" or "CE", as Wireshark names the codepoints.</summary>
    public static string Name(EcnCodepoint ecn) => ecn switch
    {
        EcnCodepoint.NotEct => "Not-ECT",
        EcnCodepoint.Ect1 => "ECT(1)",
        EcnCodepoint.Ect0 => "ECT(0)",
        _ => "CE",
    };

    /// <summary>
    /// Sets CE on an ECN-capable IPv4 packet in place and rewrites its header checksum (RFC 3168 §5: a router marks
    /// instead of dropping; the TCP checksum covers no IP header field it changes). Returns the codepoint it replaced, or
    /// null when the packet is not ECN-capable (Not-ECT, already CE, or not IPv4) and was left as it was. Never allocates.
    /// </summary>
    public static EcnCodepoint? TryMark(Span<byte> packet)
    {
        int headerLength = HeaderLength(packet);
        if (headerLength == 0) return null;
        var before = (EcnCodepoint)(packet[1] & 0b11);
        if (!IsEct(before)) return null;
        packet[1] |= (byte)EcnCodepoint.Ce;
        Span<byte> header = packet[..headerLength];
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], InternetChecksum.Compute(header));
        return before;
    }

    /// <summary>
    /// A CE-marked copy of <paramref name="packet"/> and the codepoint it had (what both fault injectors hand on), or
    /// (null, null) when the packet is not ECN-capable and passes as it is.
    /// </summary>
    internal static (byte[]? Marked, EcnCodepoint? Before) MarkedCopy(ReadOnlySpan<byte> packet)
    {
        byte[] copy = packet.ToArray();
        return TryMark(copy) is EcnCodepoint before ? (copy, before) : (null, null);
    }

    // The IPv4 header's length, or 0 when the bytes are not an IPv4 header.
    private static int HeaderLength(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 20 || packet[0] >> 4 != 4) return 0;
        int length = (packet[0] & 0x0F) * 4;
        return length >= 20 && length <= packet.Length ? length : 0;
    }
}
