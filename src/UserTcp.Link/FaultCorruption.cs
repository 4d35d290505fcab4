using System.Globalization;

namespace UserTcp.Link;

/// <summary>How a fault injector corrupts a packet: one random byte flipped, so the receiver's IPv4 or TCP checksum must refuse it.</summary>
internal static class FaultCorruption
{
    /// <summary>Flips one random byte of <paramref name="packet"/> in place; returns what it did, in words.</summary>
    public static string Apply(Span<byte> packet, Random random)
    {
        int offset = random.Next(packet.Length);
        byte flip = (byte)random.Next(1, 256);
        byte before = packet[offset];
        packet[offset] ^= flip;
        return string.Create(CultureInfo.InvariantCulture, $"corrupted byte {offset} (0x{before:x2} -> 0x{packet[offset]:x2})");
    }
}
