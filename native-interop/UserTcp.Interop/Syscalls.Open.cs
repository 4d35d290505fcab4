using System.Text;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>open(2) without O_CREAT (no mode); an invalid handle and errno on failure.</summary>
    internal static unsafe SafeFileDescriptor Open(string path, int flags)
    {
        // A NUL-terminated UTF-8 copy of the path (paths here are short: /dev/net/tun, /var/run/netns/NAME).
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        fixed (byte* start = bytes)
        {
            return new SafeFileDescriptor(LibC.open(start, flags, default));
        }
    }
}
