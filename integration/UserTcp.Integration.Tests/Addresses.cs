using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>The addressing every namespace test uses: the kernel on .1, UserTcp's side on .2.</summary>
internal static class Addresses
{
    public const string Interface = "utcp0";
    public const string KernelCidr = "10.77.0.1/24";
    public const string Stack = "10.77.0.2";

    public static readonly Ipv4Address KernelAddress = new(10, 77, 0, 1);
    public static readonly Ipv4Address StackAddress = new(10, 77, 0, 2);

    public static TunOptions Options(int mtu = TunOptions.DefaultMtu) => new(Interface, InterfaceAddress.Parse(KernelCidr), mtu);

    /// <summary>A kernel TCP connect to the stack's port 80, with nothing but bash; it gives up after 5 s.</summary>
    public static readonly string[] KernelConnect = ["timeout", "5", "bash", "-c", $"exec 3<>/dev/tcp/{Stack}/80"];
}
