using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    /// <summary>struct pollfd from &lt;poll.h&gt;.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport(LibraryName, EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeoutMilliseconds);

    /// <summary>
    /// poll(2) on one descriptor: 1 when an event (or an error condition) is pending, 0 on timeout,
    /// -1 and errno on failure. A negative timeout waits forever.
    /// </summary>
    internal static int Poll(SafeFileDescriptor fd, short events, int timeoutMilliseconds)
    {
        bool added = false;
        try
        {
            // The raw descriptor number must stay valid while poll holds it.
            fd.DangerousAddRef(ref added);
            var request = new PollFd { Fd = (int)fd.DangerousGetHandle(), Events = events };
            return Poll(ref request, 1, timeoutMilliseconds);
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }
}
