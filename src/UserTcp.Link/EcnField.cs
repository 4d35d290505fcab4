using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>
/// The ECN field of an IPv4 header: the two low bits of the old TOS octet (RFC 3168 §5), read and CE-marked as a router
/// running active queue management does. Never throws on untrusted bytes and never allocates.
/// </summary>
public static class EcnField
{
    /// <summary>00: the sender does not speak ECN.</summary>
    public const byte NotEct = 0b00;
    /// <summary>01: ECN-capable transport, codepoint 1.</summary>
    public const byte Ect1 = 0b01;
    /// <summary>10: ECN-capable transport, codepoint 0 (what Linux and UserTcp set on new data).</summary>
    public const byte Ect0 = 0b10;
    /// <summary>11: congestion experienced, set by a router instead of dropping.</summary>
    public const byte Ce = 0b11;

    // The header checksum's offset in an IPv4 header (RFC 791 §3.1).
    private const int ChecksumOffset = 10;

    /// <summary>The ECN field of an IPv4 packet, or null when it is not one (too short, not version 4, bad IHL).</summary>
    public static byte? Of(ReadOnlySpan<byte> packet) => HeaderLength(packet) > 0 ? (byte)(packet[1] & 0b11) : null;

    /// <summary>Whether the field says the sender is ECN-capable (ECT(0) or ECT(1)), so a router may mark it instead of dropping it.</summary>
    public static bool IsEct(byte ecn) => ecn is Ect0 or Ect1;

    /// <summary>"Not-ECT", "ECT(1)", "ECT(0)" or "CE", as Wireshark names the codepoints.</summary>
    public static string Name(byte ecn) => (ecn & 0b11) switch
    {
        NotEct => "Not-ECT",
        Ect1 => "ECT(1)",
        Ect0 => "ECT(0)",
        _ => "CE",
    };

    /// <summary>
    /// Sets CE on an ECN-capable IPv4 packet in place and rewrites its header checksum (RFC 3168 §5: a router marks
    /// instead of dropping; the TCP checksum covers no IP header field it changes). Returns the codepoint it replaced, or
    /// null when the packet is not ECN-capable (Not-ECT, already CE, or not IPv4) and was left as it was.
    /// </summary>
    public static byte? TryMark(Span<byte> packet)
    {
        int headerLength = HeaderLength(packet);
        if (headerLength == 0) return null;
        byte before = (byte)(packet[1] & 0b11);
        if (!IsEct(before)) return null;
        packet[1] |= Ce;
        Span<byte> header = packet[..headerLength];
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(header[ChecksumOffset..], InternetChecksum.Compute(header));
        return before;
    }

    // The IPv4 header's length, or 0 when the bytes are not an IPv4 header.
    private static int HeaderLength(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 20 || packet[0] >> 4 != 4) return 0;
        int length = (packet[0] & 0x0F) * 4;
        return length >= 20 && length <= packet.Length ? length : 0;
    }
}
