using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    // <sys/resource.h>: the nice value of a process (on Linux, of one thread: see RaiseCurrentThread).
    private const int PrioProcess = 0;

    /// <summary>
    /// Gives the calling thread alone the nice value <paramref name="nice"/> (lower is more CPU; below 0 needs
    /// CAP_SYS_NICE), and keeps it from the threads it creates: sched_setscheduler(2) with SCHED_RESET_ON_FORK first, so
    /// a thread this one starts (the .NET thread pool may start a worker on the thread that queues work) begins at 0, not
    /// at the raised value. Then setpriority(2), whose PRIO_PROCESS with who 0 names the calling thread on Linux
    /// (setpriority(2), "BUGS"). -1 and errno on failure. Tmds.LibC binds neither call.
    /// </summary>
    internal static unsafe int RaiseCurrentThread(int nice)
    {
        int priority = 0; // struct sched_param { int sched_priority; }: 0 for SCHED_OTHER
        if (sched_setscheduler(0, LibC.SCHED_OTHER | LibC.SCHED_RESET_ON_FORK, &priority) < 0) return -1;
        return setpriority(PrioProcess, 0, nice);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int sched_setscheduler(int pid, int policy, int* param);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, uint who, int prio);
}
