using System.Net.Sockets;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>Engine errors as the <see cref="SocketException"/>s .NET socket users already catch.</summary>
internal static class SocketErrors
{
    public static SocketError ToSocketError(this TcpError error) => error switch
    {
        TcpError.ConnectionRefused => SocketError.ConnectionRefused,
        TcpError.ConnectionReset => SocketError.ConnectionReset,
        TcpError.TimedOut => SocketError.TimedOut,
        TcpError.ConnectionAborted => SocketError.ConnectionAborted,
        TcpError.Shutdown => SocketError.Shutdown,
        TcpError.NotConnected => SocketError.NotConnected,
        TcpError.AddressInUse => SocketError.AddressAlreadyInUse,
        _ => SocketError.SocketError,
    };

    public static SocketException ToSocketException(this TcpError error) => new((int)error.ToSocketError());

    public static SocketException ToSocketException(this TcpException exception) => exception.Error.ToSocketException();
}
