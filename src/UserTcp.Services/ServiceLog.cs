using Microsoft.Extensions.Logging;
using UserTcp.Engine;

namespace UserTcp.Services;

/// <summary>The services' log messages (event IDs 3xx; the engine's are 1xx, the runtime's 2xx).</summary>
internal static partial class ServiceLog
{
    [LoggerMessage(EventId = 301, Level = LogLevel.Debug, Message = "{Service} listening on {Endpoint}")]
    public static partial void Listening(ILogger logger, string service, IpEndpoint endpoint);

    [LoggerMessage(EventId = 302, Level = LogLevel.Debug, Message = "{Service} connection from {Remote}")]
    public static partial void Accepted(ILogger logger, string service, IpEndpoint remote);

    [LoggerMessage(EventId = 303, Level = LogLevel.Debug, Message = "{Service} connection from {Remote} done: {Outcome}")]
    public static partial void Finished(ILogger logger, string service, IpEndpoint remote, string outcome);

    [LoggerMessage(EventId = 304, Level = LogLevel.Error, Message = "{Service} connection from {Remote} failed unexpectedly; reset")]
    public static partial void Crashed(ILogger logger, string service, IpEndpoint remote, Exception exception);

    [LoggerMessage(EventId = 305, Level = LogLevel.Debug, Message = "{Service} stopped: {Accepted} connections served")]
    public static partial void Stopped(ILogger logger, string service, long accepted);

    [LoggerMessage(EventId = 310, Level = LogLevel.Debug, Message = "http {Remote} {Method} {Target} -> {Status} ({Length} bytes)")]
    public static partial void Request(ILogger logger, IpEndpoint remote, string method, string target, int status, long length);

    [LoggerMessage(EventId = 311, Level = LogLevel.Debug, Message = "http {Remote} bad request: {Reason}")]
    public static partial void BadRequest(ILogger logger, IpEndpoint remote, string reason);
}
