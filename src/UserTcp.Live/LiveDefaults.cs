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

    /// <summary>
    /// Names the environment variable that sets <see cref="LiveStackBuilder"/>'s default device mode (plain or offload), so
    /// the same tests run in every mode (README "Tests").
    /// </summary>
    public const string ModeVariable = "USERTCP_TUN_MODE";

    /// <summary>The builder's default mode: <see cref="ModeVariable"/> when set, else plain (what every scenario and test expects).</summary>
    public static TunDeviceMode Mode => Environment.GetEnvironmentVariable(ModeVariable)?.Trim().ToUpperInvariant() switch
    {
        null or "" or "PLAIN" => TunDeviceMode.Plain,
        "OFFLOAD" => TunDeviceMode.Offload,
        string other => throw new InvalidOperationException($"{ModeVariable}={other}: use plain or offload"),
    };

    /// <summary>
    /// Names the environment variable that sets <see cref="LiveStackBuilder"/>'s default number of device queues (one
    /// shard each), so the same tests run multi-queue (README "Tests").
    /// </summary>
    public const string QueuesVariable = "USERTCP_TUN_QUEUES";

    /// <summary>The builder's default queues: <see cref="QueuesVariable"/> when set, else 1 (what every scenario and test expects).</summary>
    public static int Queues => Environment.GetEnvironmentVariable(QueuesVariable)?.Trim() switch
    {
        null or "" => 1,
        string text when int.TryParse(text, out int n) && n is >= 1 and <= TunOptions.MaxQueues => n,
        string other => throw new InvalidOperationException($"{QueuesVariable}={other}: use a number of queues from 1 to {TunOptions.MaxQueues}"),
    };

    /// <summary>The kernel's side of the interface: 10.77.0.1/24.</summary>
    public static InterfaceAddress KernelAddress => InterfaceAddress.Parse(KernelAddressText);

    /// <summary>The kernel's address alone: 10.77.0.1.</summary>
    public static Ipv4Address KernelHost => Ipv4Address.Parse(KernelAddress.Address.ToString());

    /// <summary>UserTcp's address: 10.77.0.2.</summary>
    public static Ipv4Address StackAddress => Ipv4Address.Parse(StackAddressText);
}

/// <summary>
/// How the TUN device carries packets: one plain packet per read and write, or with the kernel's offloads (super-segments
/// of up to 64 KiB both ways, partial checksums). A larger MTU (up to 65535) is the simple alternative to offloads.
/// </summary>
public enum TunDeviceMode
{
    /// <summary>Whole IPv4 packets of at most the MTU each way, every checksum computed and verified.</summary>
    Plain,
    /// <summary>
    /// IFF_VNET_HDR with TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4): the kernel hands over TCP super-segments of up to 64 KiB
    /// with partial checksums, which are trusted, and takes ours (TSO, gso_size = the MSS); what the kernel refuses is
    /// left out (falling back to plain when it refuses the header itself). Fault injection needs plain packets: with
    /// --fault the device runs plain.
    /// </summary>
    Offload,
}
