using System.Runtime.InteropServices;

namespace UserTcp.Interop;

/// <summary>
/// A Linux file descriptor, closed exactly once when released; -1 is the invalid value.
/// Passed to libc as a pointer-sized integer, which 64-bit Linux ABIs read as the int it holds.
/// </summary>
internal sealed class SafeFileDescriptor : SafeHandle
{
    /// <summary>Takes ownership of what open(2) or socket(2) returned (-1 on failure).</summary>
    public SafeFileDescriptor(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
