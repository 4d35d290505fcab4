namespace UserTcp.Interop;

/// <summary>
/// What Tmds.LibC lacks from &lt;linux/if_tun.h&gt; (the TUN ioctls and their flags), values as in the UAPI header for
/// x86_64 and arm64. Ioctl numbers are _IOW/_IOR('T', nr, int): direction in bits 30-31, size 4 in bits 16-29.
/// </summary>
internal static class TunConstants
{
    // ioctls on a /dev/net/tun descriptor
    internal const uint TUNSETIFF = 0x400454ca;          // _IOW('T', 202, int): attach the descriptor to a new (or, multi-queue, the named) interface
    internal const uint TUNGETFEATURES = 0x800454cf;     // _IOR('T', 207, unsigned int): the IFF_* flags this kernel's TUN driver supports
    internal const uint TUNSETOFFLOAD = 0x400454d0;      // _IOW('T', 208, unsigned int): the TUN_F_* offloads this reader accepts (argument by value)
    internal const uint TUNSETVNETHDRSZ = 0x400454d8;    // _IOW('T', 216, int): size of the virtio_net_hdr before each packet (10 or 12)
    internal const uint TUNSETSTEERINGEBPF = 0x800454e0; // _IOR('T', 224, int): a BPF program fd that picks the queue of each packet the kernel sends (-1 removes it)

    // TUNSETIFF ifr_flags
    internal const ushort IFF_TUN = 0x0001;               // layer-3 device: reads and writes are bare IP packets
    internal const ushort IFF_MULTI_QUEUE = 0x0100;       // one interface, one queue per open descriptor; the kernel spreads its packets by flow
    internal const ushort IFF_NO_PI = 0x1000;             // no 4-byte packet-information header before each packet
    internal const ushort IFF_VNET_HDR = 0x4000;          // a struct virtio_net_hdr before each packet, both ways (offload metadata)
    internal const ushort IFF_TUN_EXCL = 0x8000;          // fail with EBUSY instead of attaching to an existing interface

    // TUNSETOFFLOAD flags: what the reader accepts from the kernel (the kernel then offers these features on the interface)
    internal const int TUN_F_CSUM = 0x01;                // packets whose checksum is left to compute (VIRTIO_NET_HDR_F_NEEDS_CSUM)
    internal const int TUN_F_TSO4 = 0x02;                // IPv4 TCP super-segments up to 64 KiB, to be cut at gso_size (needs TUN_F_CSUM)
}
