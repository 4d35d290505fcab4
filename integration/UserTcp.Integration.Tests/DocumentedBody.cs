using System.Buffers.Binary;
using System.Security.Cryptography;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The body of GET /bytes/N computed from its documentation (UserTcp.Services.GeneratedBody and the HTTP index page:
/// byte i is byte i % 8, little-endian, of SplitMix64(i / 8)), independently of the server's code, so a test that
/// checks a download against it checks the documented promise.
/// </summary>
internal static class DocumentedBody
{
    public static string Sha256Hex(long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = new byte[64 * 1024];
        Span<byte> word = stackalloc byte[8];
        for (long offset = 0; offset < length; offset += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, length - offset);
            for (int i = 0; i < n; i += 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(word, SplitMix64((ulong)(offset + i) / 8));
                word[..Math.Min(8, n - i)].CopyTo(chunk.AsSpan(i));
            }
            hash.AppendData(chunk, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static ulong SplitMix64(ulong k)
    {
        ulong z = unchecked((k + 1) * 0x9E3779B97F4A7C15);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EB);
        return z ^ (z >> 31);
    }
}
