namespace UserTcp.Engine;

/// <summary>
/// TCP Fast Open (RFC 7413) switches, the bits of Linux's net.ipv4.tcp_fastopen that Linux 6.x still reads
/// (include/net/tcp.h, TFO_*). Other bits are kept by Linux but mean nothing; UserTcp ignores them too.
/// </summary>
[Flags]
public enum FastOpenFlags : ushort
{
    /// <summary>No Fast Open at all.</summary>
    None = 0,
    /// <summary>TFO_CLIENT_ENABLE: connections may send data in the SYN with a cached cookie, or ask for one (Linux's default).</summary>
    Client = 0x1,
    /// <summary>TFO_SERVER_ENABLE: a listener with a Fast Open queue length takes data in SYNs with a valid cookie and hands out cookies.</summary>
    Server = 0x2,
    /// <summary>TFO_CLIENT_NO_COOKIE: the client sends data in the SYN without any cookie option.</summary>
    ClientNoCookie = 0x4,
    /// <summary>TFO_SERVER_COOKIE_NOT_REQD: the server takes data in any SYN, with or without a cookie.</summary>
    ServerCookieNotRequired = 0x200,
    /// <summary>TFO_SERVER_WO_SOCKOPT1: every listener gets a Fast Open queue as long as its backlog, without TCP_FASTOPEN.</summary>
    ServerWithoutSocketOption = 0x400,
}
