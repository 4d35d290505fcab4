using Microsoft.Extensions.Logging;

namespace UserTcp.Live;

/// <summary>The live stack's log messages (event IDs 301–309).</summary>
internal static partial class LiveLog
{
    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "fault at {Seconds:0.000000} s: {Detail}: {Packet}")]
    public static partial void Fault(ILogger logger, double seconds, string detail, string packet);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "faults on {Interface}: {Rules} (seed {Seed})")]
    public static partial void FaultRules(ILogger logger, string @interface, string rules, int seed);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "capturing every packet on {Interface} to {Path} (pcapng)")]
    public static partial void Capturing(ILogger logger, string @interface, string path);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "{Queues} queues asked for on {Interface}, but the kernel refused a multi-queue interface ({Reason}): running on one queue")]
    public static partial void OneQueue(ILogger logger, int queues, string @interface, string reason);
}
