using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace UserTcp.Interop;

/// <summary>
/// struct ifreq from &lt;linux/if.h&gt;: a NUL-terminated name in 16 bytes, then a 24-byte union
/// (struct sockaddr, int ifr_mtu, short ifr_flags, ...): 40 bytes on 64-bit Linux.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
internal unsafe struct IfReq
{
    // <linux/if.h>, which Tmds.LibC lacks
    public const int IFNAMSIZ = 16;            // interface name buffer size, including the terminating NUL
    public const short IFF_UP = 0x1;           // interface is administratively up
    public const short IFF_RUNNING = 0x40;     // interface has its resources allocated (the kernel manages it; setting it is harmless)

    public const int Size = IFNAMSIZ + UnionSize;
    private const int UnionSize = 24;

    private fixed byte _name[IFNAMSIZ];
    private fixed byte _union[UnionSize];

    /// <summary>A request for the named interface; the name must be ASCII and at most 15 bytes.</summary>
    public static IfReq ForName(string name)
    {
        var request = default(IfReq);
        Span<byte> nameBytes = request.NameBytes;
        int written = Encoding.ASCII.GetBytes(name, nameBytes[..(IFNAMSIZ - 1)]);
        nameBytes[written] = 0;
        return request;
    }

    /// <summary>ifr_name, as filled in by the kernel (for example after TUNSETIFF).</summary>
    public string Name
    {
        get
        {
            Span<byte> name = NameBytes;
            int end = name.IndexOf((byte)0);
            return Encoding.ASCII.GetString(end < 0 ? name : name[..end]);
        }
    }

    /// <summary>ifr_flags: a host-order short at the start of the union.</summary>
    public short Flags
    {
        get => MemoryMarshal.Read<short>(Union);
        set => MemoryMarshal.Write(Union, value);
    }

    /// <summary>Sets ifr_mtu: a host-order int at the start of the union.</summary>
    public void SetMtu(int mtu) => MemoryMarshal.Write(Union, mtu);

    /// <summary>ifr_ifindex (SIOCGIFINDEX): a host-order int at the start of the union.</summary>
    public int Index => MemoryMarshal.Read<int>(Union);

    /// <summary>Sets ifr_qlen (SIOCSIFTXQLEN): a host-order int at the start of the union, where ifr_mtu is.</summary>
    public void SetQueueLength(int length) => MemoryMarshal.Write(Union, length);

    /// <summary>
    /// ifr_addr as a struct sockaddr_in: sin_family in host order, sin_port (zero) and sin_addr in
    /// network order, then zero padding.
    /// </summary>
    /// <param name="address">The IPv4 address as four bytes in network order.</param>
    public void SetIpv4Address(ReadOnlySpan<byte> address)
    {
        Span<byte> union = Union;
        union.Clear();
        MemoryMarshal.Write(union, (ushort)(int)LibC.AF_INET);
        address[..4].CopyTo(union[4..8]);
    }

    [UnscopedRef]
    private Span<byte> NameBytes => MemoryMarshal.CreateSpan(ref _name[0], IFNAMSIZ);

    [UnscopedRef]
    private Span<byte> Union => MemoryMarshal.CreateSpan(ref _union[0], UnionSize);
}
