using UserTcp.Interop;

namespace UserTcp.Lab;

/// <summary>
/// Gives the calling thread alone nice -20, so a lab thread whose timing is what it measures keeps its pace while curl,
/// nc, the stack or a build keep the cores busy; threads it starts (a thread-pool worker, say) begin at 0. .NET ignores thread priorities on Linux; as non-root (no CAP_SYS_NICE)
/// the call fails and the thread stays at its nice value, which only costs the lab its margin on a loaded machine.
/// </summary>
internal static class Renice
{
    private const int HighestPriority = -20;

    /// <summary>Raises the calling thread's priority; returns false when the kernel refused (not root).</summary>
    public static bool CurrentThread() => Syscalls.RaiseCurrentThread(HighestPriority) == 0;
}
