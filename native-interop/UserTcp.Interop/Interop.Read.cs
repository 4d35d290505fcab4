using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    [LibraryImport(LibraryName, EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(SafeFileDescriptor fd, byte* buffer, nuint count);

    /// <summary>read(2) into the span, pinned for the call only: no allocation. -1 and errno on failure.</summary>
    internal static unsafe nint Read(SafeFileDescriptor fd, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            return Read(fd, start, (nuint)buffer.Length);
        }
    }
}
