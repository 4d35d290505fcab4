using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>The Fast Open option of a client's SYN and of the SYN-ACK it gets, in the terms of Linux's tcp_fastopen_cookie.</summary>
internal static class FastOpenWire
{
    /// <summary>Puts <paramref name="cookie"/> (null: a cookie request) in the RFC 7413 option, or in the experimental one.</summary>
    public static void SetOption(ref TcpOptions options, byte[]? cookie, bool experimental)
    {
        if (!TcpFastOpenCookie.TryCreate(cookie ?? [], out TcpFastOpenCookie value)) return; // the cache holds only valid cookies
        options.SetFastOpen(experimental ? TcpFastOpenKind.Experimental : TcpFastOpenKind.Rfc7413, value);
    }

    /// <summary>
    /// Linux's foc.len for a SYN-ACK: -1 without a usable option (none, or one of a length Linux discards), 0 for an empty
    /// one, else the cookie's length, with the cookie and whether it came in the experimental option.
    /// </summary>
    public static int ReadCookie(in TcpOptions options, out TcpFastOpenCookie cookie, out bool experimental)
    {
        experimental = options.FastOpen == TcpFastOpenKind.Experimental;
        cookie = options.FastOpenCookie; // a copy of the inline bytes: only the cache, if it keeps the cookie, allocates
        return options.FastOpen == TcpFastOpenKind.None ? -1 : cookie.Length;
    }
}
