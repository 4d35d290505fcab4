using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>socket(2); an invalid handle and errno on failure.</summary>
    internal static SafeFileDescriptor Socket(int domain, int type, int protocol) => new(LibC.socket(domain, type, protocol));
}
