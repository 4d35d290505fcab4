namespace UserTcp.Link;

/// <summary>What stands in a packet's TCP checksum field, as its device reports it (a TUN device's virtio_net_hdr flags).</summary>
public enum PacketChecksum : byte
{
    /// <summary>A whole checksum, to verify on arrival (every packet of a plain device).</summary>
    Complete,
    /// <summary>
    /// Only the pseudo-header sum (VIRTIO_NET_HDR_F_NEEDS_CSUM): the packet was made on this host and has crossed no
    /// wire, so on arrival there is nothing to verify, and on the way out the device (or the kernel) completes it.
    /// </summary>
    Partial,
    /// <summary>The kernel validated it already (VIRTIO_NET_HDR_F_DATA_VALID): nothing to verify.</summary>
    Validated,
}

/// <summary>
/// Offload metadata beside one packet: its checksum state and, for a TCP super-segment, the payload size of the
/// segments it stands for (VIRTIO_NET_HDR_GSO_TCPV4's gso_size; 0 for an ordinary packet). The default is a plain packet.
/// </summary>
public readonly record struct PacketOffload(PacketChecksum Checksum, ushort SegmentSize = 0)
{
    /// <summary>The checksum needs no verification: partial (made on this host) or validated by the kernel.</summary>
    public bool ChecksumTrusted => Checksum != PacketChecksum.Complete;
}

/// <summary>
/// What a device does for the stack beyond carrying whole packets of at most its MTU (a TUN device with IFF_VNET_HDR
/// and TUNSETOFFLOAD). The default is none: frames are bare packets of at most the MTU, checksums complete.
/// </summary>
public readonly record struct DeviceOffloads
{
    /// <summary>Bytes before the packet in every frame (the virtio_net_hdr); the device fills them on a write.</summary>
    public int Headroom { get; init; }
    /// <summary>The largest packet a read may return: a super-segment of up to 64 KiB with TSO, else the MTU (0: the MTU).</summary>
    public int MaxReceivePacket { get; init; }
    /// <summary>Arriving TCP packets may carry only a partial checksum the device vouches for (TUN_F_CSUM).</summary>
    public bool ReceiveChecksum { get; init; }
    /// <summary>Arriving TCP packets may be super-segments the kernel did not cut (TUN_F_TSO4).</summary>
    public bool ReceiveSegmentation { get; init; }
    /// <summary>Outgoing TCP packets may carry a partial checksum (the kernel completes or skips it).</summary>
    public bool TransmitChecksum { get; init; }
    /// <summary>The largest TCP payload one outgoing super-segment may carry for the kernel to cut (0: none), TSO's limit.</summary>
    public int TransmitSegmentation { get; init; }

    /// <summary>Anything beyond a plain device.</summary>
    public bool Any => Headroom > 0 || ReceiveChecksum || ReceiveSegmentation || TransmitChecksum || TransmitSegmentation > 0;
}
