using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>write(2) from the span, pinned for the call only: no allocation. -1 and errno on failure.</summary>
    internal static unsafe nint Write(SafeFileDescriptor fd, ReadOnlySpan<byte> buffer)
    {
        using var held = new Held(fd);
        fixed (byte* start = buffer)
        {
            return (nint)(long)LibC.write(held.Fd, start, buffer.Length);
        }
    }
}
