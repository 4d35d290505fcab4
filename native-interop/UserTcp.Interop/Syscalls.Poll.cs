using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>
    /// poll(2) on one descriptor: 1 when an event (or an error condition) is pending, 0 on timeout, -1 and errno on
    /// failure. A negative timeout waits forever.
    /// </summary>
    internal static unsafe int Poll(SafeFileDescriptor fd, short events, int timeoutMilliseconds)
    {
        using var held = new Held(fd);
        var request = new pollfd { fd = held.Fd, events = events };
        // Tmds.LibC binds poll without SetLastError: errno is read at once, before anything else can change it.
        return KeepErrno(LibC.poll(&request, 1, timeoutMilliseconds));
    }
}
