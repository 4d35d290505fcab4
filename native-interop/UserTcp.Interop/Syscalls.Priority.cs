using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    // <sys/resource.h>: the nice value of a process (on Linux, of one thread: see SetCurrentThreadNice).
    private const int PrioProcess = 0;

    /// <summary>
    /// setpriority(2) for the calling thread alone: on Linux the nice value is a thread's, and PRIO_PROCESS with who 0
    /// names the caller (setpriority(2), "BUGS"). Lower is more CPU; below 0 needs CAP_SYS_NICE. -1 and errno on failure.
    /// Tmds.LibC does not bind it.
    /// </summary>
    internal static int SetCurrentThreadNice(int nice) => setpriority(PrioProcess, 0, nice);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int prio);
}
