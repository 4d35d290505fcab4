using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

/// <summary>
/// A Linux file descriptor, closed exactly once when released; -1 is the invalid value. The calls in
/// <see cref="Syscalls"/> hold a reference on it for their duration, so a concurrent dispose cannot close (and the
/// kernel reuse) the number while a call still uses it.
/// </summary>
internal sealed class SafeFileDescriptor : SafeHandle
{
    /// <summary>Takes ownership of what open(2) or socket(2) returned (-1 on failure).</summary>
    public SafeFileDescriptor(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => LibC.close((int)handle) == 0;
}
