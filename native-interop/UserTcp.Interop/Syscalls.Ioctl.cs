using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    /// <summary>ioctl(2) with a struct ifreq argument (TUNSETIFF, SIOCSIF*, SIOCGIF*); -1 and errno on failure.</summary>
    internal static unsafe int Ioctl(SafeFileDescriptor fd, uint request, ref IfReq ifr)
    {
        using var held = new Held(fd);
        fixed (IfReq* argument = &ifr)
        {
            return LibC.ioctl(held.Fd, unchecked((int)request), argument);
        }
    }

    /// <summary>ioctl(2) whose argument is a number passed by value (TUNSETOFFLOAD); -1 and errno on failure.</summary>
    internal static int IoctlValue(SafeFileDescriptor fd, uint request, int value)
    {
        using var held = new Held(fd);
        return LibC.ioctl(held.Fd, unchecked((int)request), value);
    }

    /// <summary>ioctl(2) whose argument points to an int the kernel reads or fills (TUNSETVNETHDRSZ, TUNGETFEATURES); -1 and errno on failure.</summary>
    internal static unsafe int IoctlInt(SafeFileDescriptor fd, uint request, ref int value)
    {
        using var held = new Held(fd);
        fixed (int* argument = &value)
        {
            return LibC.ioctl(held.Fd, unchecked((int)request), argument);
        }
    }
}
