using Microsoft.Extensions.Logging;

namespace UserTcp.Live;

/// <summary>The live stack's log messages (event IDs 601–609; docs/design.md lists every component's range).</summary>
internal static partial class LiveLog
{
    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "fault at {Seconds:0.000000} s: {Detail}: {Packet}")]
    public static partial void Fault(ILogger logger, double seconds, string detail, string packet);

    [LoggerMessage(EventId = 602, Level = LogLevel.Information, Message = "faults on {Interface}: {Rules} (seed {Seed})")]
    public static partial void FaultRules(ILogger logger, string @interface, string rules, int seed);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "capturing every packet on {Interface} to {Path} (pcapng; the kernel's packets at the instant the kernel sent them)")]
    public static partial void Capturing(ILogger logger, string @interface, string path);

    [LoggerMessage(EventId = 604, Level = LogLevel.Warning, Message = "{Queues} queues asked for on {Interface}, but the kernel refused a multi-queue interface ({Reason}): running on one queue")]
    public static partial void OneQueue(ILogger logger, int queues, string @interface, string reason);

    [LoggerMessage(EventId = 605, Level = LogLevel.Information, Message = "capturing every packet on {Interface} to {Path} (pcapng); {Reason}: the kernel's packets are timed when UserTcp read them")]
    public static partial void CapturingAtReads(ILogger logger, string @interface, string path, string reason);
}
