using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Server cookies (RFC 7413 §4.1.2): SipHash-2-4 of the SYN's IPv4 source and destination addresses under the key, its
/// 64 bits little-endian, as Linux ≥ 5.3 makes them (__tcp_fastopen_cookie_gen_cipher), so a Linux client's cached
/// cookie and a script's expected bytes are the same for the same key. Valid under the primary or the backup key.
/// </summary>
internal static class FastOpenServerCookies
{
    /// <summary>The length of the cookies a server makes (TCP_FASTOPEN_COOKIE_SIZE).</summary>
    public const int Length = 8;

    /// <summary>The cookie for a SYN from <paramref name="source"/> to <paramref name="destination"/> under <paramref name="key"/>.</summary>
    public static TcpFastOpenCookie Make(ReadOnlySpan<byte> key, Ipv4Address source, Ipv4Address destination)
    {
        Span<byte> bytes = stackalloc byte[Length];
        Compute(key, source, destination, bytes);
        TcpFastOpenCookie.TryCreate(bytes, out TcpFastOpenCookie cookie);
        return cookie;
    }

    /// <summary>0 when <paramref name="cookie"/> is no cookie of <paramref name="key"/>; 1 for the primary key's, 2 for the backup's (tcp_fastopen_cookie_gen_check).</summary>
    public static int Check(FastOpenKey key, Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> cookie)
    {
        // tcp_fastopen_cookie_match: only a cookie of our own length can match.
        if (cookie.Length != Length) return 0;
        Span<byte> valid = stackalloc byte[Length];
        Compute(key.Primary, source, destination, valid);
        if (valid.SequenceEqual(cookie)) return 1;
        if (!key.HasBackup) return 0;
        Compute(key.Backup, source, destination, valid);
        return valid.SequenceEqual(cookie) ? 2 : 0;
    }

    private static void Compute(ReadOnlySpan<byte> key, Ipv4Address source, Ipv4Address destination, Span<byte> cookie)
    {
        Span<byte> addresses = stackalloc byte[8];
        source.Write(addresses); // the addresses as they stand in the IPv4 header: saddr then daddr
        destination.Write(addresses[4..]);
        BinaryPrimitives.WriteUInt64LittleEndian(cookie, SipHash.Hash(SipKey.Read(key), addresses));
    }
}
