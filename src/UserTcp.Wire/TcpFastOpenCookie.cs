using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace UserTcp.Wire;

/// <summary>Which TCP Fast Open option a segment carries, if any.</summary>
public enum TcpFastOpenKind : byte
{
    /// <summary>No Fast Open option.</summary>
    None = 0,
    /// <summary>Kind 34, RFC 7413 §4.1.1.</summary>
    Rfc7413 = 1,
    /// <summary>The experimental kind 254 with magic 0xF989 (RFC 6994), which Linux still accepts and sends back in kind.</summary>
    Experimental = 2,
}

/// <summary>
/// A TCP Fast Open cookie (RFC 7413 §4.1.1) held inline, without allocation: empty (a cookie request) or 4 to 16 bytes
/// of even length, the lengths Linux accepts (tcp_parse_fastopen_option; TCP_FASTOPEN_COOKIE_MIN/MAX).
/// </summary>
public struct TcpFastOpenCookie : IEquatable<TcpFastOpenCookie>
{
    /// <summary>The shortest cookie (RFC 7413 §4.1.1).</summary>
    public const int MinLength = 4;
    /// <summary>The longest cookie (RFC 7413 §4.1.1).</summary>
    public const int MaxLength = 16;

    [InlineArray(MaxLength)]
    private struct CookieBytes
    {
        private byte _element;
    }

    private CookieBytes _bytes;
    // Invariant: _length is 0 or an even number in [MinLength, MaxLength]; bytes beyond it are zero.
    private byte _length;

    /// <summary>True when <paramref name="length"/> is a cookie length Linux takes: 0 (a request) or even in 4..16.</summary>
    public static bool IsValidLength(int length) => length == 0 || (length >= MinLength && length <= MaxLength && (length & 1) == 0);

    /// <summary>A cookie holding <paramref name="value"/>; false (and an empty cookie) when its length is not valid.</summary>
    public static bool TryCreate(ReadOnlySpan<byte> value, out TcpFastOpenCookie cookie)
    {
        cookie = default;
        if (!IsValidLength(value.Length)) return false;
        value.CopyTo(cookie._bytes);
        cookie._length = (byte)value.Length;
        return true;
    }

    /// <summary>The cookie's bytes; empty for a cookie request.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> Value => ((ReadOnlySpan<byte>)_bytes)[.._length];

    /// <summary>The cookie's length in bytes.</summary>
    public readonly int Length => _length;

    /// <summary>True for the empty cookie, which asks the server for one (RFC 7413 §4.1.2).</summary>
    public readonly bool IsRequest => _length == 0;

    /// <inheritdoc/>
    public readonly bool Equals(TcpFastOpenCookie other) => Value.SequenceEqual(other.Value);

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is TcpFastOpenCookie other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Value);
        return hash.ToHashCode();
    }

    /// <summary>The cookie in lowercase hex, as packetdrill writes it.</summary>
    public override readonly string ToString() => Convert.ToHexStringLower(Value);

    /// <summary>True when both hold the same bytes.</summary>
    public static bool operator ==(TcpFastOpenCookie left, TcpFastOpenCookie right) => left.Equals(right);
    /// <summary>True when the bytes differ.</summary>
    public static bool operator !=(TcpFastOpenCookie left, TcpFastOpenCookie right) => !left.Equals(right);
}
