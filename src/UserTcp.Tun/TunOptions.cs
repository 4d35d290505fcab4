using System.Diagnostics.CodeAnalysis;

namespace UserTcp.Tun;

/// <summary>
/// What <see cref="TunDevice.Open"/> creates: the interface name, the kernel side's address, the MTU, whether to ask for
/// offloads (<see cref="Offloads"/>) and how many queues (<see cref="Queues"/>).
/// </summary>
public sealed record TunOptions
{
    /// <summary>The most queues one interface may have (the kernel's MAX_TAP_QUEUES).</summary>
    public const int MaxQueues = 256;

    /// <summary>The MTU unless one is given: Ethernet's.</summary>
    public const int DefaultMtu = 1500;

    /// <summary>IPv4's minimum MTU (RFC 791); the kernel refuses less on an interface with an address.</summary>
    public const int MinMtu = 68;

    /// <summary>The largest MTU a TUN device accepts.</summary>
    public const int MaxMtu = 65535;


    /// <summary>An interface named <paramref name="name"/> with the kernel's <paramref name="address"/> and <paramref name="mtu"/>.</summary>
    public TunOptions(string name, InterfaceAddress address, int mtu = DefaultMtu)
    {
        if (!TryValidateName(name, out string? problem))
        {
            throw new ArgumentException(problem, nameof(name));
        }
        if (address.Address is null)
        {
            throw new ArgumentException("an address is required, e.g. 10.77.0.1/24", nameof(address));
        }
        if (mtu is < MinMtu or > MaxMtu)
        {
            throw new ArgumentOutOfRangeException(nameof(mtu), mtu, $"MTU must be between {MinMtu} and {MaxMtu}");
        }
        Name = name;
        Address = address;
        Mtu = mtu;
    }

    /// <summary>The interface name, e.g. utcp0.</summary>
    public string Name { get; }

    /// <summary>The address the kernel side of the interface gets; the prefix also gives the kernel its route.</summary>
    public InterfaceAddress Address { get; }

    /// <summary>The interface's MTU.</summary>
    public int Mtu { get; }

    /// <summary>
    /// Ask for IFF_VNET_HDR with TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4): super-segments of up to 64 KiB both ways and
    /// partial checksums. Whatever the kernel refuses is left out (<see cref="TunDevice.Offloads"/> says what was granted).
    /// </summary>
    public bool Offloads { get; init; }

    /// <summary>Queues of the interface: 1 is a plain single-queue device; more opens it IFF_MULTI_QUEUE, one descriptor per queue.</summary>
    public int Queues
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxQueues);
            field = value;
        }
    } = 1;

    /// <summary>
    /// The interface's txqueuelen (SIOCSIFTXQLEN): packets the kernel may hold for the stack to read; null leaves the
    /// kernel's default (500 for TUN). What overflows it the kernel drops (the interface's TX dropped), and TCP recovers
    /// only by retransmitting, in step for connections that lost packets together; many connections want it deep
    /// (docs/design.md, issue 10). A deep queue also delays ACKs behind it when the reader falls behind.
    /// </summary>
    public int? QueueLength
    {
        get;
        init
        {
            if (value is int length) ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(QueueLength));
            field = value;
        }
    }

    /// <summary>
    /// Write batches of packets (<see cref="TunDevice.QueueFrame"/>, <see cref="TunDevice.FlushFrames"/>) with one
    /// io_uring_enter each instead of one write(2) per packet (default). Where the kernel offers no io_uring
    /// (/proc/sys/kernel/io_uring_disabled, seccomp, a kernel before 5.7) or this is false, every packet is its own write.
    /// </summary>
    public bool BatchWrites { get; init; } = true;

    /// <summary>Test seam: extra TUN_F_* bits to ask for, so a test can make the kernel refuse and see the fallback.</summary>
    internal int ExtraOffloadFlags { get; init; }

    /// <summary>Checks a name the way the kernel does (dev_valid_name), so mistakes are reported before any system call.</summary>
    public static bool TryValidateName(string? name, [NotNullWhen(false)] out string? problem)
    {
        problem = name switch
        {
            null or "" => "the interface name is empty: give a name such as utcp0",
            "." or ".." => $"'{name}' cannot be an interface name: give a name such as utcp0",
            { Length: >= 16 } => $"interface name '{name}' is {name.Length} characters: Linux allows at most 15",
            _ when !name.All(c => char.IsAscii(c) && c > ' ' && c != '/' && c != ':' && c != 0x7f)
                => $"interface name '{name}' may not contain spaces, '/', ':' or non-ASCII characters",
            _ => null,
        };
        return problem is null;
    }
}
