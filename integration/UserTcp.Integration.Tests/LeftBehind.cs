using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
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
    // Each identity's namespaces by cookie: an identity is an inode number, which the kernel gives to the next namespace
    // made once one is freed (another program's, as like as not), where a cookie names one namespace for good.
    private static readonly Dictionary<string, HashSet<ulong>> s_namespaceCookies = [];
    private static readonly Dictionary<int, string> s_processes = [];
    private static readonly HashSet<int> s_namespaceOwners = [Environment.ProcessId];

    public static void Record(string namespaceName)
    {
        string? identity = ScratchNamespace.IdentityOf(namespaceName);
        lock (s_gate)
        {
            s_namespaces.Add(namespaceName);
        }
        if (identity is not null)
        {
            RecordIdentity(identity, CookieOf(namespaceName));
        }
    }

    /// <summary>Records a namespace of this run by its identity and, when known, its cookie.</summary>
    public static void RecordIdentity(string identity, ulong? cookie)
    {
        lock (s_gate)
        {
            s_namespaceIdentities.Add(identity);
            if (cookie is ulong known)
            {
                if (!s_namespaceCookies.TryGetValue(identity, out HashSet<ulong>? cookies)) s_namespaceCookies[identity] = cookies = [];
                cookies.Add(known);
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
        Dictionary<string, HashSet<ulong>> cookies;
        KeyValuePair<int, string>[] processes;
        int[] owners;
        lock (s_gate)
        {
            namespaces = [.. s_namespaces];
            identities = [.. s_namespaceIdentities];
            cookies = s_namespaceCookies.ToDictionary(c => c.Key, c => new HashSet<ulong>(c.Value));
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
            // In a namespace that took the number of one of ours after it was freed: not ours (when both cookies are known).
            if (ProcessNamespace(pid) is string identity && cookies.TryGetValue(identity, out HashSet<ulong>? ours)
                && ProcessCookie(pid) is ulong theirs && !ours.Contains(theirs))
            {
                continue;
            }
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

    // SO_NETNS_COOKIE (Linux 5.14) at SOL_SOCKET, Linux's numbers (a raw option; .NET's SocketOptionLevel.Socket is Windows'):
    // the namespace's cookie, read from a socket made in it.
    private const int SolSocket = 1;
    private const int SoNetnsCookie = 71;

    private static ulong? CookieOf(string namespaceName)
    {
        try
        {
            return NetworkNamespace.Invoke(namespaceName, () =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                byte[] value = new byte[sizeof(ulong)];
                return socket.GetRawSocketOption(SolSocket, SoNetnsCookie, value) == value.Length
                    ? BinaryPrimitives.ReadUInt64LittleEndian(value)
                    : (ulong?)null;
            });
        }
        catch (Exception e) when (e is TunException or SocketException)
        {
            return null;
        }
    }

    // The cookie of a process's namespace, read by a python3 entered into it (nsenter); null when it cannot be read.
    private static ulong? ProcessCookie(int pid)
    {
        if (ExternalProgram.Find("nsenter") is not string nsenter || ExternalProgram.Find("python3") is not string python) return null;
        ToolOutcome read = ExternalProgram.Run(nsenter, TimeSpan.FromSeconds(10), "-t", pid.ToString(CultureInfo.InvariantCulture), "-n", python, "-c",
            "import socket; print(int.from_bytes(socket.socket(socket.AF_INET, socket.SOCK_DGRAM).getsockopt(socket.SOL_SOCKET, 71, 8), 'little'))");
        return read.Succeeded && ulong.TryParse(read.Output.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong cookie) ? cookie : null;
    }

    private static string? ProcessNamespace(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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
