using System.Diagnostics;
using System.Runtime.InteropServices;
using Tmds.Linux;
using UserTcp.Interop;
using UserTcp.Link;

namespace UserTcp.Tun;

/// <summary>
/// A TUN interface (IFF_TUN | IFF_NO_PI): every read returns one whole IPv4 packet the kernel
/// routed to the interface, every write hands one whole packet to the kernel. The interface
/// lives in the network namespace of the thread that opened it, and disappears when the
/// device is disposed. The descriptor is non-blocking: <see cref="TryRead"/> takes what is
/// waiting and <see cref="WaitReadable"/> polls, so a reader polls only when the queue is empty.
/// </summary>
public sealed class TunDevice : IPacketDevice
{
    private const string ControlDevice = "/dev/net/tun";
    private const string MissingCapability = "missing CAP_NET_ADMIN: run as root or grant cap_net_admin";

    // Open while the device is; closing it makes the kernel remove the interface.
    private readonly SafeFileDescriptor _fd;
    private long _writesDropped;

    private TunDevice(SafeFileDescriptor fd, string name, int mtu)
    {
        _fd = fd;
        Name = name;
        Mtu = mtu;
    }

    /// <summary>The interface name the kernel registered.</summary>
    public string Name { get; }

    /// <summary>The interface MTU: the largest packet <see cref="Read"/> returns and <see cref="Write"/> should send.</summary>
    public int Mtu { get; }

    /// <summary>
    /// Creates the interface in the calling thread's network namespace, gives the kernel side
    /// its address, netmask and MTU, and brings it up. Never attaches to an existing interface.
    /// </summary>
    /// <exception cref="TunException">The kernel refused; the message says what to do.</exception>
    public static TunDevice Open(TunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SafeFileDescriptor fd = OpenControlDevice();
        try
        {
            // IFF_TUN_EXCL: a name that exists already is an error, never an interface we take over.
            IfReq request = IfReq.ForName(options.Name);
            request.Flags = TunConstants.IFF_TUN | TunConstants.IFF_NO_PI | TunConstants.IFF_TUN_EXCL;
            if (Syscalls.Ioctl(fd, TunConstants.TUNSETIFF, ref request) < 0)
            {
                throw CreateError(Marshal.GetLastPInvokeError(), options.Name);
            }
            string name = request.Name;
            Configure(name, options);
            return new TunDevice(fd, name, options.Mtu);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Opens and closes /dev/net/tun, to tell whether TUN devices can be made here at all.</summary>
    /// <exception cref="TunException">It cannot be opened; the message says what to do.</exception>
    public static void CheckControlDevice() => OpenControlDevice().Dispose();

    /// <summary>
    /// Takes the next packet the kernel has queued into <paramref name="packet"/>, which must hold
    /// at least <see cref="Mtu"/> bytes; false at once when none is waiting. Does not allocate.
    /// </summary>
    public bool TryRead(Span<byte> packet, out int length)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        if (packet.Length < Mtu)
        {
            // The kernel silently truncates a packet longer than the buffer.
            throw new ArgumentException($"the buffer holds {packet.Length} bytes, less than the MTU of {Name} ({Mtu})", nameof(packet));
        }
        while (true)
        {
            nint read = Syscalls.Read(_fd, packet);
            if (read >= 0)
            {
                length = (int)read;
                return true;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN)
            {
                length = 0;
                return false;
            }
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"reading from {Name}");
            }
        }
    }

    /// <summary>Blocks until a packet arrives (polling, the descriptor being non-blocking) and takes it; returns its length.</summary>
    public int Read(Span<byte> packet)
    {
        int length;
        while (!TryRead(packet, out length)) WaitReadable(Timeout.InfiniteTimeSpan);
        return length;
    }

    /// <summary>
    /// Waits until a packet can be read without blocking, for at most <paramref name="timeout"/>
    /// (<see cref="Timeout.InfiniteTimeSpan"/> waits forever). False when the time ran out.
    /// </summary>
    public bool WaitReadable(TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        if (!infinite)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        }
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            int result = Syscalls.Poll(_fd, LibC.POLLIN, infinite ? -1 : RemainingMilliseconds(start, timeout));
            if (result >= 0)
            {
                // An error condition also counts as readable: the next Read reports it.
                return result > 0;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"waiting for a packet on {Name}");
            }
        }
    }

    /// <summary>Writes the kernel refused with EAGAIN (its input backlog was full); each such packet was lost.</summary>
    public long WritesDropped => Interlocked.Read(ref _writesDropped);

    /// <summary>Hands one whole IP packet to the kernel, as if it had arrived on the interface.</summary>
    public void Write(ReadOnlySpan<byte> packet)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        while (true)
        {
            // A TUN write takes the whole packet or fails; there are no short writes.
            if (Syscalls.Write(_fd, packet) >= 0)
            {
                return;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN)
            {
                // The kernel's backlog is full: the packet is lost, as on a congested link, and TCP retransmits it.
                Interlocked.Increment(ref _writesDropped);
                return;
            }
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"writing a {packet.Length}-byte packet to {Name}");
            }
        }
    }

    /// <summary>Closes the descriptor; the kernel then removes the interface.</summary>
    public void Dispose() => _fd.Dispose();

    private static SafeFileDescriptor OpenControlDevice()
    {
        SafeFileDescriptor fd = Syscalls.Open(ControlDevice, LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (!fd.IsInvalid)
        {
            return fd;
        }
        int errno = Marshal.GetLastPInvokeError();
        fd.Dispose();
        int e = errno;
        throw e switch
        {
            _ when e == LibC.ENOENT => new TunException(errno,
                $"{ControlDevice} not found: load the tun module (modprobe tun) or run in a container with {ControlDevice}"),
            _ when e == LibC.ENODEV || e == LibC.ENXIO => new TunException(errno,
                $"{ControlDevice} has no driver behind it: load the tun module (modprobe tun)"),
            _ when e == LibC.EPERM => new TunException(errno, $"cannot open {ControlDevice}: {MissingCapability}"),
            _ when e == LibC.EACCES => new TunException(errno,
                $"cannot open {ControlDevice}: its file mode denies this user: run as root, or make it 0666 as most distributions ship it"),
            _ => SystemCallError(errno, $"opening {ControlDevice}"),
        };
    }

    private static TunException CreateError(int errno, string name) => errno switch
    {
        _ when errno == LibC.EPERM => new TunException(errno, $"cannot create interface {name}: {MissingCapability}"),
        _ when errno == LibC.EBUSY => new TunException(errno, $"interface {name} already in use: pick another --iface name"),
        _ => SystemCallError(errno, $"creating TUN interface {name}"),
    };

    // The SIOCSIF* ioctls go through a socket of the same network namespace as the interface.
    private static void Configure(string name, TunOptions options)
    {
        using SafeFileDescriptor socket = Syscalls.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (socket.IsInvalid)
        {
            throw SystemCallError(Marshal.GetLastPInvokeError(), $"opening a socket to configure {name}");
        }

        IfReq request = IfReq.ForName(name);
        request.SetIpv4Address(options.Address.Address.GetAddressBytes());
        Configure(socket, (uint)LibC.SIOCSIFADDR, ref request, $"setting address {options.Address.Address} on {name}");

        request = IfReq.ForName(name);
        request.SetIpv4Address(options.Address.Netmask.GetAddressBytes());
        Configure(socket, (uint)LibC.SIOCSIFNETMASK, ref request, $"setting netmask {options.Address.Netmask} on {name}");

        request = IfReq.ForName(name);
        request.SetMtu(options.Mtu);
        Configure(socket, (uint)LibC.SIOCSIFMTU, ref request, $"setting MTU {options.Mtu} on {name}");

        request = IfReq.ForName(name);
        Configure(socket, (uint)LibC.SIOCGIFFLAGS, ref request, $"reading the flags of {name}");
        request.Flags |= IfReq.IFF_UP | IfReq.IFF_RUNNING;
        Configure(socket, (uint)LibC.SIOCSIFFLAGS, ref request, $"bringing {name} up");
    }

    private static void Configure(SafeFileDescriptor socket, uint request, ref IfReq ifr, string action)
    {
        if (Syscalls.Ioctl(socket, request, ref ifr) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == LibC.EPERM
                ? new TunException(errno, $"{action}: {MissingCapability}")
                : SystemCallError(errno, action);
        }
    }

    private static TunException SystemCallError(int errno, string action) =>
        new(errno, $"{action} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    private static int RemainingMilliseconds(long start, TimeSpan timeout)
    {
        TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(start);
        return remaining <= TimeSpan.Zero ? 0 : (int)Math.Min(int.MaxValue, Math.Ceiling(remaining.TotalMilliseconds));
    }
}
