using System.Runtime.InteropServices;

namespace UserTcp.Interop;

internal static partial class Libc
{
    /// <summary>ioctl(2) with a struct ifreq argument (TUNSETIFF, SIOCSIF*, SIOCGIF*); -1 and errno on failure.</summary>
    [LibraryImport(LibraryName, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(SafeFileDescriptor fd, nuint request, ref IfReq ifr);
}
