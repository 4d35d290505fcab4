using UserTcp.Live;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>The addressing every namespace test uses, the live stack's defaults (<see cref="LiveDefaults"/>): the kernel on .1, UserTcp's side on .2.</summary>
internal static class Addresses
{
    public const string Interface = LiveDefaults.InterfaceName;
    public const string KernelCidr = LiveDefaults.KernelAddressText;
    public const string Stack = LiveDefaults.StackAddressText;

    public static readonly Ipv4Address KernelAddress = LiveDefaults.KernelHost;
    public static readonly Ipv4Address StackAddress = LiveDefaults.StackAddress;

    public static TunOptions Options(int mtu = LiveDefaults.Mtu) => new(Interface, LiveDefaults.KernelAddress, mtu);

    /// <summary>A kernel TCP connect to the stack's port 80, with nothing but bash; it gives up after 5 s.</summary>
    public static readonly string[] KernelConnect = ["timeout", "5", "bash", "-c", $"exec 3<>/dev/tcp/{Stack}/80"];
}
