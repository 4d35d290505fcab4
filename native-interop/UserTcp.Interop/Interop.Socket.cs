using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    // socket(2) returns a 32-bit int, so it cannot be marshalled straight into a pointer-sized SafeHandle (-1 would not stay -1).
    [LibraryImport(LibraryName, EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketDescriptor(int domain, int type, int protocol);

    /// <summary>socket(2); an invalid handle and errno on failure.</summary>
    internal static SafeFileDescriptor Socket(int domain, int type, int protocol) => new(SocketDescriptor(domain, type, protocol));
}
