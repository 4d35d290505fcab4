using System.Globalization;

namespace UserTcp.Link;

/// <summary>How a fault injector corrupts a packet: one random byte flipped, so the receiver's IPv4 or TCP checksum must refuse it.</summary>
internal readonly record struct FaultCorruption(int Offset, byte Before, byte After)
{
    /// <summary>Flips one random byte of <paramref name="packet"/> in place.</summary>
    public static FaultCorruption Apply(Span<byte> packet, Random random)
    {
        int offset = random.Next(packet.Length);
        byte flip = (byte)random.Next(1, 256);
        byte before = packet[offset];
        packet[offset] ^= flip;
        return new FaultCorruption(offset, before, packet[offset]);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"corrupted byte {Offset} (0x{Before:x2} -> 0x{After:x2})");
}
