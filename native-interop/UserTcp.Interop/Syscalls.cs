using System.Runtime.InteropServices;

namespace UserTcp.Interop;

/// <summary>
/// Safe wrappers over Tmds.LibC's raw bindings: spans instead of pointers, <see cref="SafeFileDescriptor"/> instead of
/// numbers. Each returns what the system call returns (-1 on failure) and leaves its errno for
/// <see cref="Marshal.GetLastPInvokeError"/>, however the binding marshals it. One call per file.
/// </summary>
internal static partial class Syscalls
{
    /// <summary>
    /// A reference held on a descriptor for one call, so that a concurrent dispose cannot close the number (and the
    /// kernel hand it to another file) while the call still uses it. Allocation-free: the read and write paths use it per packet.
    /// </summary>
    private readonly ref struct Held
    {
        private readonly SafeFileDescriptor _descriptor;
        private readonly bool _added;

        /// <exception cref="ObjectDisposedException">The descriptor is closed.</exception>
        public Held(SafeFileDescriptor descriptor)
        {
            _descriptor = descriptor;
            bool added = false;
            descriptor.DangerousAddRef(ref added);
            _added = added;
            Fd = (int)descriptor.DangerousGetHandle();
        }

        /// <summary>The descriptor's number, valid until <see cref="Dispose"/>.</summary>
        public int Fd { get; }

        public void Dispose()
        {
            if (_added) _descriptor.DangerousRelease();
        }
    }

    /// <summary>For bindings Tmds.LibC declares without SetLastError: carries errno over to the last P/Invoke error.</summary>
    private static int KeepErrno(int result)
    {
        if (result < 0) Marshal.SetLastPInvokeError(Marshal.GetLastSystemError());
        return result;
    }
}
