using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    [LibraryImport(LibraryName, EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(SafeFileDescriptor fd, byte* buffer, nuint count);

    /// <summary>write(2) from the span, pinned for the call only: no allocation. -1 and errno on failure.</summary>
    internal static unsafe nint Write(SafeFileDescriptor fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            return Write(fd, start, (nuint)buffer.Length);
        }
    }
}
