using System.Globalization;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>
/// What this test run made that must be gone by its end: namespaces (by name and by the kernel's namespace
/// inode), and processes (by pid and start time, so a reused pid is not mistaken for ours). The final check
/// (<see cref="FinalCheckTests"/>) reads it.
/// </summary>
internal static class LeftBehind
{
    private static readonly Lock s_gate = new();
    private static readonly HashSet<string> s_namespaces = [];
    private static readonly HashSet<ulong> s_namespaceInodes = [];
    private static readonly Dictionary<int, string> s_processes = [];
    private static readonly HashSet<int> s_namespaceOwners = [Environment.ProcessId];

    public static void Record(string namespaceName)
    {
        ulong? inode = NamespaceInode(namespaceName);
        lock (s_gate)
        {
            s_namespaces.Add(namespaceName);
            if (inode is ulong value)
            {
                s_namespaceInodes.Add(value);
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
        ulong[] inodes;
        KeyValuePair<int, string>[] processes;
        int[] owners;
        lock (s_gate)
        {
            namespaces = [.. s_namespaces];
            inodes = [.. s_namespaceInodes];
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
        foreach (string proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }
            ulong? inode = ProcessNamespaceInode(pid);
            if (inode is ulong value && inodes.Contains(value))
            {
                found.Add($"process {pid} in a namespace of this run: {Describe(pid)}");
            }
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

    /// <summary>The nsfs inode behind a named namespace (what /proc/PID/ns/net links to as net:[INODE]).</summary>
    public static ulong? NamespaceInode(string name) =>
        NetworkNamespace.Invoke(name, () => ParseNamespaceLink(new FileInfo("/proc/thread-self/ns/net").LinkTarget));

    private static ulong? ProcessNamespaceInode(int pid)
    {
        try
        {
            return ParseNamespaceLink(new FileInfo($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net").LinkTarget);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // net:[4026532177]
    private static ulong? ParseNamespaceLink(string? target) =>
        target is not null && target.StartsWith("net:[", StringComparison.Ordinal) && target.EndsWith(']')
        && ulong.TryParse(target.AsSpan(5, target.Length - 6), NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode)
            ? inode
            : null;

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
