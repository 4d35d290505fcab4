using System.Globalization;
using System.Text;
using System.Text.Json;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Tun;

namespace UserTcp.Cli;

/// <summary>
/// `usertcp ss --stats`: the engine's counters, one per line as `nstat -a` prints them (name, then value), then the
/// runtime's, the TUN device's (summed over its queues) and, with --fault, the fault injector's.
/// </summary>
internal static class CounterTable
{
    /// <summary>Every counter that is not zero (all of them with <paramref name="zeros"/>), in the engine's order.</summary>
    public static string Format(LiveStack live, bool zeros)
    {
        var text = new StringBuilder();
        text.AppendLine("#UserTcp");
        foreach ((string name, long value) in All(live))
        {
            if (value != 0 || zeros) text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{name,-40}{value,12}"));
        }
        return text.ToString();
    }

    /// <summary>Every counter, zeros included, as one JSON object {"IpInReceives": 12, ...}.</summary>
    public static string ToJson(LiveStack live) =>
        JsonSerializer.Serialize(All(live).ToDictionary(c => c.Key, c => c.Value)) + "\n";

    // The engine's counters, then the runtime's (packets whose processing threw, each logged and dropped while the read
    // loop goes on), the device's and the injector's.
    private static IEnumerable<KeyValuePair<string, long>> All(LiveStack live) =>
        live.Stack.Counters.Snapshot()
            .Append(new("UserTcpProcessingErrors", live.Stack.ProcessingErrors))
            .Concat(Device(live.Queues))
            .Concat(live.Faults is FaultInjectingDevice faults ? Faults(faults.Counters) : []);

    // The TUN device's own counts: what the kernel refused (each such packet lost) and what the offloads carried.
    private static IEnumerable<KeyValuePair<string, long>> Device(IReadOnlyList<TunDevice> queues) =>
    [
        new("UserTcpTunWritesDropped", queues.Sum(q => q.WritesDropped)),
        new("UserTcpTunBatchSubmissions", queues.Sum(q => q.BatchSubmissions)),
        new("UserTcpTunSuperSegmentsReceived", queues.Sum(q => q.SuperSegmentsReceived)),
        new("UserTcpTunSuperSegmentsSent", queues.Sum(q => q.SuperSegmentsSent)),
        new("UserTcpTunPartialChecksumsReceived", queues.Sum(q => q.PartialChecksumsReceived)),
    ];

    // What --fault did, over every queue of the link (FaultInjectingDevice.ForQueues shares one set of counters).
    private static IEnumerable<KeyValuePair<string, long>> Faults(FaultCounters counters) =>
    [
        new("UserTcpFaultTransmitted", counters.Transmitted),
        new("UserTcpFaultForwarded", counters.Forwarded),
        new("UserTcpFaultDropped", counters.DroppedByRule + counters.DroppedAtRandom),
        new("UserTcpFaultDelayed", counters.Delayed),
        new("UserTcpFaultHeldBack", counters.HeldBack),
        new("UserTcpFaultDuplicated", counters.Duplicated),
        new("UserTcpFaultCorrupted", counters.Corrupted),
        new("UserTcpFaultMarked", counters.Marked),
        new("UserTcpFaultWriteFailures", counters.WriteFailures),
    ];
}
