namespace UserTcp.Interop;

// Values from the Linux x86_64/arm64 UAPI headers named beside each group.
internal static partial class Libc
{
    // <fcntl.h>
    internal const int O_RDONLY = 0x0;           // open for reading only
    internal const int O_RDWR = 0x2;             // open for reading and writing
    internal const int O_CLOEXEC = 0x80000;      // close the descriptor across execve, so child processes never inherit it
    internal const int O_NONBLOCK = 0x800;       // read and write return EAGAIN instead of blocking

    // <sys/socket.h>
    internal const int AF_INET = 2;              // IPv4 address family
    internal const int SOCK_DGRAM = 2;           // datagram socket: the cheapest socket that accepts SIOCSIF* ioctls
    internal const int SOCK_CLOEXEC = 0x80000;   // same as O_CLOEXEC, for socket(2)

    // <linux/if.h>
    internal const int IFNAMSIZ = 16;            // interface name buffer size, including the terminating NUL
    internal const short IFF_UP = 0x1;           // interface is administratively up
    internal const short IFF_RUNNING = 0x40;     // interface has its resources allocated (the kernel manages it; setting it is harmless)

    // <linux/if_tun.h>
    internal const nuint TUNSETIFF = 0x400454ca; // _IOW('T', 202, int): attach the descriptor to a new TUN/TAP interface
    internal const short IFF_TUN = 0x0001;       // layer-3 device: reads and writes are bare IP packets
    internal const short IFF_NO_PI = 0x1000;     // no 4-byte packet-information header before each packet
    internal const short IFF_TUN_EXCL = unchecked((short)0x8000); // fail with EBUSY instead of attaching to an existing interface

    // <linux/sockios.h>
    internal const nuint SIOCGIFFLAGS = 0x8913;  // get interface flags (ifr_flags)
    internal const nuint SIOCSIFFLAGS = 0x8914;  // set interface flags (ifr_flags)
    internal const nuint SIOCSIFADDR = 0x8916;   // set the interface's IPv4 address (ifr_addr)
    internal const nuint SIOCSIFNETMASK = 0x891c; // set the interface's IPv4 netmask (ifr_netmask)
    internal const nuint SIOCSIFMTU = 0x8922;    // set the interface MTU (ifr_mtu)

    // <poll.h>
    internal const short POLLIN = 0x1;           // data is ready to read

    // <sched.h>
    internal const int CLONE_NEWNET = 0x40000000; // setns(2) namespace type: network namespace
}
