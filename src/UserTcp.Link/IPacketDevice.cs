namespace UserTcp.Link;

/// <summary>
/// A device the real-time runtime drives: a TUN interface, or an in-memory pipe in tests.
/// (<see cref="ILinkDevice"/> is its counterpart for simulations, where the caller supplies every instant.)
/// The runtime's reader takes packets with <see cref="TryRead"/> and waits with <see cref="WaitReadable"/> only when a read
/// found the device empty (or, in request/response, when a read right after its answer tends to): a burst costs one wait,
/// not one per packet. Reads never overlap one another, and waits belong to one reader thread; a device that says
/// <see cref="ReadsMayOverlapWait"/> may also be read by the stack's timer while that thread waits. Writes may come from
/// any thread.
/// <para>
/// A device with offloads (<see cref="Offloads"/>) carries each packet in a frame, after <see cref="DeviceOffloads.Headroom"/>
/// bytes for its own header, with metadata beside it (<see cref="PacketOffload"/>): <see cref="TryReadFrame"/> and
/// <see cref="WriteFrame"/>. A plain device needs neither; their defaults use <see cref="TryRead"/> and <see cref="Write"/>.
/// </para>
/// </summary>
public interface IPacketDevice : IDisposable
{
    /// <summary>Largest packet the device carries; buffers passed to <see cref="TryRead"/> hold at least this much.</summary>
    int Mtu { get; }

    /// <summary>Waits until a packet can be read, at most <paramref name="timeout"/>; false when the time ran out.</summary>
    bool WaitReadable(TimeSpan timeout);

    /// <summary>Takes one whole waiting packet into <paramref name="packet"/> without blocking; false when none is waiting.</summary>
    bool TryRead(Span<byte> packet, out int length);

    /// <summary>Sends one whole packet.</summary>
    void Write(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Whether the device's transmit queue refuses <paramref name="packet"/> now (full, or a queue of no room at all, as
    /// <c>tc qdisc ... pfifo limit 0</c> makes Linux's; or a fault rule's <c>refuse</c>): it would be dropped before the
    /// link. The runtime asks before it queues each packet, drops a refused one and tells TCP at once, as Linux's qdisc
    /// answers NET_XMIT_DROP. False by default.
    /// </summary>
    bool RefusesTransmit(ReadOnlySpan<byte> packet) => false;

    /// <summary>What the device does beyond carrying whole packets of at most <see cref="Mtu"/>; none by default.</summary>
    DeviceOffloads Offloads => default;

    /// <summary>
    /// Whether <see cref="TryRead"/> and <see cref="TryReadFrame"/> may run on another thread while <see cref="WaitReadable"/>
    /// blocks (never two reads at once): the stack's timer then takes the packets waiting before it fires a timer, so ACKs
    /// a busy reader has not read yet do not draw a spurious retransmission. False by default.
    /// </summary>
    bool ReadsMayOverlapWait => false;

    /// <summary>
    /// Takes one waiting packet without blocking into <paramref name="frame"/>, which holds at least
    /// <see cref="DeviceOffloads.Headroom"/> plus the largest packet (<see cref="DeviceOffloads.MaxReceivePacket"/>, or
    /// <see cref="Mtu"/>): the packet lies at <c>frame[Headroom..(Headroom + length)]</c>, described by <paramref name="offload"/>.
    /// </summary>
    bool TryReadFrame(Span<byte> frame, out int length, out PacketOffload offload)
    {
        offload = default;
        return TryRead(frame, out length);
    }

    /// <summary>
    /// Sends the packet at <c>frame[Headroom..]</c>; the device may write its own header into <c>frame[..Headroom]</c>
    /// and send the frame as one. <paramref name="offload"/> says what the device is to finish (a partial checksum, TSO).
    /// </summary>
    void WriteFrame(Span<byte> frame, PacketOffload offload)
    {
        if (offload != default) throw new NotSupportedException("this device has no offloads");
        Write(frame);
    }

    /// <summary>
    /// Sends the frame as <see cref="WriteFrame"/> does, possibly later: a device that writes batches (TUN with io_uring)
    /// queues it until <see cref="FlushFrames"/>, so a batch costs one system call, not one per packet. The frame's memory
    /// must stay pinned and unchanged until FlushFrames returns. By default it is written at once.
    /// </summary>
    void QueueFrame(Span<byte> frame, PacketOffload offload) => WriteFrame(frame, offload);

    /// <summary>Sends, in order, every frame <see cref="QueueFrame"/> queued; nothing to do for a device that queues none.</summary>
    void FlushFrames()
    {
    }
}
