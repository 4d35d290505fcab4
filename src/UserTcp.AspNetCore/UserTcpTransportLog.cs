using Microsoft.Extensions.Logging;
using UserTcp.Engine;

namespace UserTcp.AspNetCore;

/// <summary>The transport's log messages (event IDs 501–509; the engine has 101–110, the runtime 201–205, the services 301–311, the command 401).</summary>
internal static partial class UserTcpTransportLog
{
    [LoggerMessage(501, LogLevel.Debug, "Kestrel listens on UserTcp {Endpoint} (backlog {Backlog})")]
    public static partial void Bound(ILogger logger, IpEndpoint endpoint, int backlog);

    [LoggerMessage(502, LogLevel.Debug, "Connection {ConnectionId} accepted from {Remote}")]
    public static partial void Accepted(ILogger logger, string connectionId, IpEndpoint remote);

    [LoggerMessage(503, LogLevel.Debug, "Connection {ConnectionId} received FIN")]
    public static partial void ReadFin(ILogger logger, string connectionId);

    [LoggerMessage(504, LogLevel.Debug, "Connection {ConnectionId} closing with FIN: {Reason}")]
    public static partial void WriteFin(ILogger logger, string connectionId, string reason);

    [LoggerMessage(505, LogLevel.Debug, "Connection {ConnectionId} closing with RST: {Reason}")]
    public static partial void WriteRst(ILogger logger, string connectionId, string reason);

    [LoggerMessage(506, LogLevel.Debug, "Connection {ConnectionId} paused: the application has not read {Limit} received bytes")]
    public static partial void Paused(ILogger logger, string connectionId, long limit);

    [LoggerMessage(507, LogLevel.Debug, "Connection {ConnectionId} resumed")]
    public static partial void Resumed(ILogger logger, string connectionId);

    [LoggerMessage(508, LogLevel.Debug, "Connection {ConnectionId} ended by the network: {Error}")]
    public static partial void NetworkError(ILogger logger, string connectionId, System.Net.Sockets.SocketError error);

    [LoggerMessage(509, LogLevel.Error, "Connection {ConnectionId} failed unexpectedly")]
    public static partial void UnexpectedError(ILogger logger, string connectionId, Exception exception);
}
