using System.Buffers.Binary;
using System.Security.Cryptography;

namespace UserTcp.Services;

/// <summary>
/// The deterministic bytes <c>GET /bytes/N</c> serves, computable at any offset so that a body of any size is streamed
/// without being held in memory, and checkable by whoever receives it.
/// <para>
/// Byte <c>i</c> of every body is byte <c>i % 8</c> (little-endian) of <c>SplitMix64(i / 8)</c>, where
/// <c>SplitMix64(k)</c> is: <c>z = (k + 1) * 0x9E3779B97F4A7C15; z = (z ^ (z &gt;&gt; 30)) * 0xBF58476D1CE4E5B9;
/// z = (z ^ (z &gt;&gt; 27)) * 0x94D049BB133111EB; z ^ (z &gt;&gt; 31)</c>, all modulo 2^64. So a shorter body is a prefix of
/// a longer one, and no run of the stream repeats: a segment delivered twice or at the wrong offset changes the
/// SHA-256 (a pattern such as <c>i * 31 + 7</c> repeats every 256 bytes and would hide such a bug). In Python:
/// <c>b"".join(struct.pack("&lt;Q", splitmix64(k)) for k in range((n + 7) // 8))[:n]</c>.
/// </para>
/// </summary>
public static class GeneratedBody
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;

    /// <summary>The 64-bit word that covers bytes <c>8k</c> to <c>8k + 7</c>.</summary>
    public static ulong Word(long k)
    {
        ulong z = unchecked(((ulong)k + 1) * Gamma);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EB);
        return z ^ (z >> 31);
    }

    /// <summary>Byte <paramref name="index"/> of every generated body.</summary>
    public static byte ByteAt(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return (byte)(Word(index >> 3) >> (int)((index & 7) * 8));
    }

    /// <summary>Fills <paramref name="destination"/> with the body bytes that start at <paramref name="offset"/>.</summary>
    public static void Fill(long offset, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        int i = 0;
        // Up to the next multiple of 8, byte by byte; then whole words; then the tail.
        while (i < destination.Length && ((offset + i) & 7) != 0)
        {
            destination[i] = ByteAt(offset + i);
            i++;
        }
        long k = (offset + i) >> 3;
        for (; i + 8 <= destination.Length; i += 8, k++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[i..], Word(k));
        }
        for (; i < destination.Length; i++)
        {
            destination[i] = ByteAt(offset + i);
        }
    }

    /// <summary>The SHA-256 of the first <paramref name="length"/> bytes, computed in 64 KiB pieces (no large buffer).</summary>
    public static byte[] Sha256(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[64 * 1024];
        for (long offset = 0; offset < length; offset += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, length - offset);
            Fill(offset, chunk.AsSpan(0, n));
            hash.AppendData(chunk, 0, n);
        }
        return hash.GetHashAndReset();
    }

    /// <summary><see cref="Sha256"/> as lowercase hex, as <c>sha256sum</c> prints it.</summary>
    public static string Sha256Hex(long length) => Convert.ToHexStringLower(Sha256(length));
}
