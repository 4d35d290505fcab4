using Microsoft.Extensions.Logging;
using UserTcp.Wire;

namespace UserTcp.Sockets;

/// <summary>The runtime's log messages (event IDs 2xx; the engine's are 1xx).</summary>
internal static partial class NetStackLog
{
    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "UserTcp stack {Address} started (MTU {Mtu}, {Queues} queue(s))")]
    public static partial void Started(ILogger logger, Ipv4Address address, int mtu, int queues);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "UserTcp stack {Address} stopped; {Open} connections were still open ({Mode})")]
    public static partial void Stopped(ILogger logger, Ipv4Address address, int open, CloseMode mode);

    [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "reading from the device failed; the stack stops, and every waiting call fails with this error")]
    public static partial void ReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "writing a {Length}-byte packet to the device failed")]
    public static partial void WriteFailed(ILogger logger, int length, Exception exception);

    [LoggerMessage(EventId = 205, Level = LogLevel.Error, Message = "processing failed (packet of {Length} bytes, 0 for a timer); dropped, the stack goes on")]
    public static partial void ProcessingFailed(ILogger logger, int length, Exception exception);
}
