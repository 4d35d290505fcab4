using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Live;

/// <summary>
/// The one place the live stack's defaults live: the TUN interface's name, the kernel's address on it (with the
/// prefix it routes through it), UserTcp's address behind it, and the MTU. The commands, the demo, the bench, the
/// lab and the tests take them from here.
/// </summary>
public static class LiveDefaults
{
    /// <summary>The TUN interface's name.</summary>
    public const string InterfaceName = "utcp0";
    /// <summary>The kernel's address and prefix on the interface, as text.</summary>
    public const string KernelAddressText = "10.77.0.1/24";
    /// <summary>UserTcp's address, as text.</summary>
    public const string StackAddressText = "10.77.0.2";
    /// <summary>The interface's MTU.</summary>
    public const int Mtu = TunOptions.DefaultMtu;

    /// <summary>The kernel's side of the interface: 10.77.0.1/24.</summary>
    public static InterfaceAddress KernelAddress => InterfaceAddress.Parse(KernelAddressText);

    /// <summary>The kernel's address alone: 10.77.0.1.</summary>
    public static Ipv4Address KernelHost => Ipv4Address.Parse(KernelAddress.Address.ToString());

    /// <summary>UserTcp's address: 10.77.0.2.</summary>
    public static Ipv4Address StackAddress => Ipv4Address.Parse(StackAddressText);
}

/// <summary>
/// How the TUN device carries packets. Only plain mode exists today (one queue, one packet per read and write, no
/// offloads); TUN offload (IFF_VNET_HDR with TSO super-segments) and multi-queue modes are to join it here.
/// </summary>
public enum TunDeviceMode
{
    /// <summary>One queue; whole IPv4 packets of at most the MTU each way.</summary>
    Plain,
}
