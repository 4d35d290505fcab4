using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    // The generic system call numbers (the same on x86-64 and arm64 since Linux 5.1 and 5.3); Tmds.LibC binds neither.
    private const long SysPidfdSendSignal = 424;
    private const long SysPidfdOpen = 434;

    /// <summary>
    /// Sends SIGKILL to process <paramref name="pid"/> only if <paramref name="stillTheOne"/>, asked after the process is
    /// pinned by a pidfd (pidfd_open(2)), says it is the one meant: a pid read from /proc can name another process by the
    /// time it is signalled, a pidfd cannot, and pidfd_send_signal(2) fails if the pinned process exited before the check
    /// was answered (a kernel older than 5.3, without pidfds, gets the check and then kill(2)). True when the signal was sent.
    /// </summary>
    internal static bool KillIfStill(int pid, Func<bool> stillTheOne)
    {
        ArgumentNullException.ThrowIfNull(stillTheOne);
        int pidfd = (int)syscall(SysPidfdOpen, pid, 0);
        if (pidfd < 0)
        {
            // Before Linux 5.3 there is no pidfd: the check just before kill(2) leaves the reuse window as narrow as it gets.
            return Marshal.GetLastPInvokeError() == LibC.ENOSYS && stillTheOne() && LibC.kill(pid, LibC.SIGKILL) == 0;
        }
        try
        {
            return stillTheOne() && syscall(SysPidfdSendSignal, pidfd, LibC.SIGKILL, 0, 0) == 0;
        }
        finally
        {
            _ = LibC.close(pidfd);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int first, int second);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int first, int second, nint third, uint fourth);
}
