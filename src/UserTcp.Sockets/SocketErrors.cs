using System.Net.Sockets;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>Engine errors as the <see cref="SocketError"/> codes .NET socket users already know (and Linux's errno behind each).</summary>
internal static class SocketErrors
{
    public static SocketError ToSocketError(this TcpError error) => error switch
    {
        TcpError.ConnectionRefused => SocketError.ConnectionRefused, // ECONNREFUSED
        TcpError.ConnectionReset => SocketError.ConnectionReset,     // ECONNRESET
        TcpError.TimedOut => SocketError.TimedOut,                   // ETIMEDOUT
        TcpError.ConnectionAborted => SocketError.ConnectionAborted, // ECONNABORTED
        TcpError.Shutdown => SocketError.Shutdown,                   // EPIPE
        TcpError.NotConnected => SocketError.NotConnected,           // ENOTCONN
        TcpError.AddressInUse => SocketError.AddressAlreadyInUse,    // EADDRINUSE
        TcpError.HostUnreachable => SocketError.HostUnreachable,     // EHOSTUNREACH
        TcpError.NetworkUnreachable => SocketError.NetworkUnreachable, // ENETUNREACH
        TcpError.NoBufferSpace => SocketError.NoBufferSpaceAvailable, // ENOBUFS
        _ => SocketError.SocketError,
    };
}
