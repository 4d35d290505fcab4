using System.Globalization;

namespace UserTcp.Cli;

/// <summary>
/// Standard descriptors that whoever started usertcp closed (`usertcp ... >&-`). The runtime's startup takes the lowest
/// free numbers, so by Main a closed 0, 1 or 2 holds one of the runtime's own descriptors (a pipe of its signal
/// handling, seen here): output written there would go into it, input read from it would steal from it. What the
/// runtime opens is close-on-exec, and an inherited descriptor never is (exec would have closed it): that tells them apart.
/// </summary>
internal static class StandardDescriptors
{
    private const int CloseOnExec = 0x80000; // O_CLOEXEC in /proc/self/fdinfo's flags
    private const int AccessMode = 3, ReadOnly = 0; // O_ACCMODE, O_RDONLY

    /// <summary>The standard descriptors (0 stdin, 1 stdout, 2 stderr) that were closed when the process started.</summary>
    public static IReadOnlyList<int> ClosedAtStart()
    {
        var closed = new List<int>();
        for (int fd = 0; fd <= 2; fd++)
        {
            // Not open, the runtime's own, or (1 and 2) not open for writing at all.
            if (Flags(fd) is not int flags || (flags & CloseOnExec) != 0 || (fd > 0 && (flags & AccessMode) == ReadOnly)) closed.Add(fd);
        }
        return closed;
    }

    // /proc/self/fdinfo/N's "flags:" line: the open flags, in octal; null when the descriptor is not open.
    private static int? Flags(int fd)
    {
        try
        {
            foreach (string line in File.ReadLines(string.Create(CultureInfo.InvariantCulture, $"/proc/self/fdinfo/{fd}")))
            {
                if (line.StartsWith("flags:", StringComparison.Ordinal)) return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
