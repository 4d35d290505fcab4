using System.Globalization;

namespace UserTcp.Lab;

/// <summary>
/// The kernel's TCP counters in a namespace, named as `nstat` names them ("TcpRetransSegs", "TcpExtTCPDSACKUndo"):
/// the Tcp group of /proc/net/snmp and the TcpExt group of /proc/net/netstat, read from a thread inside the namespace
/// (/proc/thread-self/net shows the thread's namespace; /proc/net, the process's).
/// </summary>
public static class KernelCounters
{
    /// <summary>Every Tcp and TcpExt counter of the namespace now.</summary>
    public static IReadOnlyDictionary<string, long> Read(ScratchNamespace ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return ns.Invoke(() =>
        {
            var counters = new Dictionary<string, long>(StringComparer.Ordinal);
            Parse(File.ReadAllLines("/proc/thread-self/net/snmp"), "Tcp", counters);
            Parse(File.ReadAllLines("/proc/thread-self/net/netstat"), "TcpExt", counters);
            return counters;
        });
    }

    /// <summary>What each counter gained from <paramref name="before"/> to <paramref name="after"/>; those that did not change are left out.</summary>
    public static IReadOnlyDictionary<string, long> Change(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var change = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach ((string name, long value) in after)
        {
            long gained = value - before.GetValueOrDefault(name);
            if (gained != 0) change[name] = gained;
        }
        return change;
    }

    /// <summary>The pairs of lines "Group: names..." then "Group: values..." of one group, as "GroupName" = value.</summary>
    internal static void Parse(IReadOnlyList<string> lines, string group, Dictionary<string, long> into)
    {
        string prefix = group + ":";
        for (int i = 0; i + 1 < lines.Count; i++)
        {
            if (!lines[i].StartsWith(prefix, StringComparison.Ordinal) || !lines[i + 1].StartsWith(prefix, StringComparison.Ordinal)) continue;
            string[] names = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            string[] values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int column = 1; column < Math.Min(names.Length, values.Length); column++)
            {
                if (long.TryParse(values[column], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)) into[group + names[column]] = value;
            }
            i++;
        }
    }
}
