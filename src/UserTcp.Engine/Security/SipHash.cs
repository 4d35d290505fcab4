using System.Buffers.Binary;
using System.Numerics;

namespace UserTcp.Engine;

/// <summary>A 128-bit SipHash key (two little-endian 64-bit halves, as the reference implementation reads its 16 bytes).</summary>
internal readonly record struct SipKey(ulong K0, ulong K1)
{
    /// <summary>Reads 16 key bytes (k0 from bytes 0..7, k1 from bytes 8..15, little-endian).</summary>
    public static SipKey Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]));
}

/// <summary>
/// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function, fast on short inputs. The keyed hash
/// behind our initial sequence numbers (RFC 6528 §3 names it as a suitable F()), ephemeral ports (RFC 6056 §3.3.4),
/// TSval offsets and SYN cookies — Linux uses it for the same four. No allocation.
/// </summary>
internal static class SipHash
{
    public static ulong Hash(SipKey key, ReadOnlySpan<byte> message)
    {
        ulong v0 = key.K0 ^ 0x736f6d6570736575UL;
        ulong v1 = key.K1 ^ 0x646f72616e646f6dUL;
        ulong v2 = key.K0 ^ 0x6c7967656e657261UL;
        ulong v3 = key.K1 ^ 0x7465646279746573UL;
        int whole = message.Length & ~7;
        for (int i = 0; i < whole; i += 8)
        {
            ulong m = BinaryPrimitives.ReadUInt64LittleEndian(message[i..]);
            v3 ^= m;
            Round(ref v0, ref v1, ref v2, ref v3);
            Round(ref v0, ref v1, ref v2, ref v3);
            v0 ^= m;
        }
        // The last block: the remaining bytes, little-endian, with the message length in the top byte.
        ulong last = (ulong)message.Length << 56;
        ReadOnlySpan<byte> tail = message[whole..];
        for (int i = 0; i < tail.Length; i++) last |= (ulong)tail[i] << (8 * i);
        v3 ^= last;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= last;
        v2 ^= 0xff;
        for (int i = 0; i < 4; i++) Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>The hash of two 64-bit words (16 bytes, each little-endian).</summary>
    public static ulong Hash(SipKey key, ulong a, ulong b)
    {
        Span<byte> message = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(message, a);
        BinaryPrimitives.WriteUInt64LittleEndian(message[8..], b);
        return Hash(key, message);
    }

    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1;
        v1 = BitOperations.RotateLeft(v1, 13);
        v1 ^= v0;
        v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3;
        v3 = BitOperations.RotateLeft(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = BitOperations.RotateLeft(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = BitOperations.RotateLeft(v1, 17);
        v1 ^= v2;
        v2 = BitOperations.RotateLeft(v2, 32);
    }
}
