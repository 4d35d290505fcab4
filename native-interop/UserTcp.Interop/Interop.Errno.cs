namespace UserTcp.Interop;

// errno values from <asm-generic/errno-base.h> that callers turn into specific advice.
internal static partial class Libc
{
    internal const int EPERM = 1;    // operation not permitted: a capability is missing
    internal const int ENOENT = 2;   // no such file or directory
    internal const int EINTR = 4;    // interrupted by a signal before anything happened: retry
    internal const int ENXIO = 6;    // no such device or address: a device node without its driver
    internal const int EAGAIN = 11;  // nothing to read (or no room to write) on a non-blocking descriptor: poll, then retry
    internal const int EACCES = 13;  // permission denied by file mode
    internal const int EBUSY = 16;   // device or resource busy
    internal const int ENODEV = 19;  // no such device: a device node without its driver
}
