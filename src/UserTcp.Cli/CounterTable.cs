using System.Globalization;
using System.Text;
using System.Text.Json;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Cli;

/// <summary>`usertcp ss --stats`: the engine's counters, one per line as `nstat -a` prints them (name, then value).</summary>
internal static class CounterTable
{
    /// <summary>Every counter that is not zero (all of them with <paramref name="zeros"/>), in the engine's order.</summary>
    public static string Format(NetStack stack, bool zeros)
    {
        var text = new StringBuilder();
        text.AppendLine("#UserTcp");
        foreach ((string name, long value) in All(stack))
        {
            if (value != 0 || zeros) text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{name,-40}{value,12}"));
        }
        return text.ToString();
    }

    /// <summary>Every counter, zeros included, as one JSON object {"IpInReceives": 12, ...}.</summary>
    public static string ToJson(NetStack stack) =>
        JsonSerializer.Serialize(All(stack).ToDictionary(c => c.Key, c => c.Value)) + "\n";

    // The engine's counters, then the runtime's: packets whose processing threw, each logged and dropped (the read loop goes on).
    private static IEnumerable<KeyValuePair<string, long>> All(NetStack stack) =>
        stack.Counters.Snapshot().Append(new("UserTcpProcessingErrors", stack.ProcessingErrors));
}
