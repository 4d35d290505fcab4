using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    /// <summary>close(2); only SafeFileDescriptor calls it, so a descriptor is closed exactly once.</summary>
    [LibraryImport(LibraryName, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
