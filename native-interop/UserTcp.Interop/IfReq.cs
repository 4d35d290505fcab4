using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;

namespace UserTcp.Interop;

/// <summary>
/// struct ifreq from &lt;linux/if.h&gt;: a NUL-terminated name in 16 bytes, then a 24-byte union
/// (struct sockaddr, int ifr_mtu, short ifr_flags, ...): 40 bytes on 64-bit Linux.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
internal unsafe struct IfReq
{
    public const int Size = Libc.IFNAMSIZ + UnionSize;
    private const int UnionSize = 24;

    private fixed byte _name[Libc.IFNAMSIZ];
    private fixed byte _union[UnionSize];

    /// <summary>A request for the named interface; the name must be ASCII and at most 15 bytes.</summary>
    public static IfReq ForName(string name)
    {
        var request = default(IfReq);
        Span<byte> nameBytes = request.NameBytes;
        int written = Encoding.ASCII.GetBytes(name, nameBytes[..(Libc.IFNAMSIZ - 1)]);
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

    /// <summary>
    /// ifr_addr as a struct sockaddr_in: sin_family in host order, sin_port (zero) and sin_addr in
    /// network order, then zero padding.
    /// </summary>
    /// <param name="address">The IPv4 address as four bytes in network order.</param>
    public void SetIpv4Address(ReadOnlySpan<byte> address)
    {
        Span<byte> union = Union;
        union.Clear();
        MemoryMarshal.Write(union, (ushort)Libc.AF_INET);
        address[..4].CopyTo(union[4..8]);
    }

    [UnscopedRef]
    private Span<byte> NameBytes => MemoryMarshal.CreateSpan(ref _name[0], Libc.IFNAMSIZ);

    [UnscopedRef]
    private Span<byte> Union => MemoryMarshal.CreateSpan(ref _union[0], UnionSize);
}
