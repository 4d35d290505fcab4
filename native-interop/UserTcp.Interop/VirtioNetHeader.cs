using System.Buffers.Binary;

namespace UserTcp.Interop;

/// <summary>
/// struct virtio_net_hdr from &lt;linux/virtio_net.h&gt;, 10 bytes, which an IFF_VNET_HDR TUN device puts before every
/// packet both ways: u8 flags, u8 gso_type, then hdr_len, gso_size, csum_start and csum_offset as 16-bit values in the
/// legacy virtio byte order, which TUN takes to be the host's (little-endian on x86_64 and arm64).
/// </summary>
internal readonly record struct VirtioNetHeader(byte Flags, byte GsoType, ushort HeaderLength, ushort GsoSize, ushort ChecksumStart, ushort ChecksumOffset)
{
    public const int Size = 10;

    // flags
    public const byte NeedsChecksum = 1;   // VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the pseudo-header sum
    public const byte DataValid = 2;       // VIRTIO_NET_HDR_F_DATA_VALID: the kernel has validated the checksum already

    // gso_type
    public const byte GsoNone = 0;         // VIRTIO_NET_HDR_GSO_NONE: one packet
    public const byte GsoTcpV4 = 1;        // VIRTIO_NET_HDR_GSO_TCPV4: an IPv4 TCP super-segment, cut into gso_size payloads
    public const byte GsoEcn = 0x80;       // VIRTIO_NET_HDR_GSO_ECN: the super-segment carries CWR (not offered here)

    /// <summary>Reads the header at the start of <paramref name="frame"/>, which holds at least <see cref="Size"/> bytes.</summary>
    public static VirtioNetHeader Read(ReadOnlySpan<byte> frame) => new(
        frame[0],
        frame[1],
        BinaryPrimitives.ReadUInt16LittleEndian(frame[2..]),
        BinaryPrimitives.ReadUInt16LittleEndian(frame[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(frame[6..]),
        BinaryPrimitives.ReadUInt16LittleEndian(frame[8..]));

    /// <summary>Writes the header into the first <see cref="Size"/> bytes of <paramref name="frame"/>.</summary>
    public void Write(Span<byte> frame)
    {
        frame[0] = Flags;
        frame[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(frame[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(frame[8..], ChecksumOffset);
    }
}
