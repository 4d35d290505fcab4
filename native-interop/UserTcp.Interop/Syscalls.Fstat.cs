using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>
    /// The inode number of an open file (fstat(2)'s st_ino), null on failure. For a handle on a namespace's nsfs file it is
    /// the namespace's own number, the one /proc/PID/ns/net links to as net:[INODE].
    /// </summary>
    internal static unsafe ulong? InodeOf(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            stat buffer;
            return LibC.fstat((int)handle.DangerousGetHandle(), &buffer) == 0 ? (ulong)buffer.st_ino : null;
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }
}
