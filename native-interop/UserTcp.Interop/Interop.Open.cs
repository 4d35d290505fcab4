using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    // open(2) returns a 32-bit int, so it cannot be marshalled straight into a pointer-sized SafeHandle (-1 would not stay -1).
    [LibraryImport(LibraryName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenDescriptor(string path, int flags);

    /// <summary>open(2) without O_CREAT; an invalid handle and errno on failure.</summary>
    internal static SafeFileDescriptor Open(string path, int flags) => new(OpenDescriptor(path, flags));
}
