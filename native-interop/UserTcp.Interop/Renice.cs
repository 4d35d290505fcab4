namespace UserTcp.Interop;

/// <summary>
/// Gives the calling thread alone nice -20, so a thread whose timing matters keeps its pace while curl, nc, a build or
/// the rest of the stack keep the cores busy: the lab's kernel-side threads, a fault link's delay line, a stack's timer
/// threads and, when asked, its readers. Threads it starts (a thread-pool worker, say) begin at 0. .NET ignores thread
/// priorities on Linux; as non-root (no CAP_SYS_NICE) the call fails and the thread stays at its nice value, which
/// only costs its margin on a loaded machine.
/// </summary>
internal static class Renice
{
    private const int HighestPriority = -20;

    /// <summary>Raises the calling thread's priority; returns false when the kernel refused (not root).</summary>
    public static bool CurrentThread() => Syscalls.RaiseCurrentThread(HighestPriority) == 0;
}
