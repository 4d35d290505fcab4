using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>setsockopt(2) of an int option (SO_REUSEADDR, say); -1 and errno on failure.</summary>
    internal static unsafe int SetSocketOptionInt(SafeFileDescriptor socket, int level, int name, int value)
    {
        using var held = new Held(socket);
        return KeepErrno(LibC.setsockopt(held.Fd, level, name, &value, sizeof(int)));
    }
}
