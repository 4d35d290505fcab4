using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    /// <summary>setns(2): moves the calling thread (only) into the namespace the descriptor refers to.</summary>
    [LibraryImport(LibraryName, EntryPoint = "setns", SetLastError = true)]
    internal static partial int Setns(SafeFileDescriptor fd, int namespaceType);
}
