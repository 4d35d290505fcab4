using Microsoft.Extensions.Logging;

namespace UserTcp.Cli;

/// <summary>The CLI's own log messages (event IDs 4xx).</summary>
internal static partial class CliLog
{
    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "cannot listen on {Name} for usertcp ss ({Reason}); serving without it")]
    public static partial void ControlSocketUnavailable(ILogger logger, string name, string reason);
}
