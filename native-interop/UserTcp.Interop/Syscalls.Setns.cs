using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>setns(2): moves the calling thread (only) into the namespace the descriptor refers to.</summary>
    internal static int Setns(SafeFileDescriptor fd, int namespaceType)
    {
        using var held = new Held(fd);
        return LibC.setns(held.Fd, namespaceType);
    }
}
