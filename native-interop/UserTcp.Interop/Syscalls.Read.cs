using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>read(2) into the span, pinned for the call only: no allocation. -1 and errno on failure.</summary>
    internal static unsafe nint Read(SafeFileDescriptor fd, Span<byte> buffer)
    {
        using var held = new Held(fd);
        fixed (byte* start = buffer)
        {
            return (nint)(long)LibC.read(held.Fd, start, buffer.Length);
        }
    }
}
