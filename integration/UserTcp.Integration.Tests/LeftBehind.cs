using System.Globalization;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>
/// What this test run made that must be gone by its end: namespaces (by name and by the kernel's identity of the
/// namespace, <see cref="ScratchNamespace.IdentityOf"/>), and processes (by pid and start time, so a reused pid is not mistaken for ours). The final check
/// (<see cref="FinalCheckTests"/>) reads it.
/// </summary>
internal static class LeftBehind
{
    private static readonly Lock s_gate = new();
    private static readonly HashSet<string> s_namespaces = [];
    private static readonly HashSet<string> s_namespaceIdentities = [];
    private static readonly Dictionary<int, string> s_processes = [];
    private static readonly HashSet<int> s_namespaceOwners = [Environment.ProcessId];

    public static void Record(string namespaceName)
    {
        string? identity = ScratchNamespace.IdentityOf(namespaceName);
        lock (s_gate)
        {
            s_namespaces.Add(namespaceName);
            if (identity is not null)
            {
                s_namespaceIdentities.Add(identity);
            }
        }
    }

    /// <summary>Records a process we started; the usertcp commands among them make namespaces named after their pid.</summary>
    public static void Record(int pid)
    {
        string? identity = Identity(pid);
        lock (s_gate)
        {
            s_namespaceOwners.Add(pid);
            if (identity is not null)
            {
                s_processes[pid] = identity;
            }
        }
    }

    /// <summary>Everything recorded that still exists, one line each; empty when the run cleaned up after itself.</summary>
    public static IReadOnlyList<string> Survivors()
    {
        string[] namespaces;
        string[] identities;
        KeyValuePair<int, string>[] processes;
        int[] owners;
        lock (s_gate)
        {
            namespaces = [.. s_namespaces];
            identities = [.. s_namespaceIdentities];
            processes = [.. s_processes];
            owners = [.. s_namespaceOwners];
        }
        var found = new List<string>();
        foreach (string name in ScratchNamespace.ListAll())
        {
            bool ours = namespaces.Contains(name)
                || name.StartsWith("utcp-it-", StringComparison.Ordinal)
                || (ScratchNamespace.TryParseName(name, out _, out int owner, out _) && owners.Contains(owner));
            if (ours)
            {
                found.Add($"namespace {name}");
            }
        }
        foreach ((int pid, string identity) in processes)
        {
            if (Identity(pid) == identity)
            {
                found.Add($"process {pid}: {Describe(pid)}");
            }
        }
        // A process that outlived its namespace's deletion keeps the namespace alive, unnamed.
        foreach (int pid in ScratchNamespace.ProcessesIn(identities))
        {
            found.Add($"process {pid} in a namespace of this run: {Describe(pid)}");
        }
        // Interfaces: every TUN device lives in a namespace; one in the host's would be a bug.
        foreach (string iface in Directory.Exists("/sys/class/net") ? Directory.EnumerateFileSystemEntries("/sys/class/net") : [])
        {
            string name = Path.GetFileName(iface);
            if (name.StartsWith("utcp", StringComparison.Ordinal))
            {
                found.Add($"interface {name} in the host's namespace");
            }
        }
        return found;
    }

    // Start time in clock ticks since boot (field 22 of /proc/PID/stat): with the pid it names one process for good.
    private static string? Identity(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // A zombie has exited; only its parent's wait is missing.
            return fields[0] == "Z" ? null : fields[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static string Describe(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "(gone)";
        }
    }
}
