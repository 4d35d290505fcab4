namespace UserTcp.Link;

/// <summary>
/// A device the real-time runtime drives: a TUN interface, or an in-memory pipe in tests.
/// (<see cref="ILinkDevice"/> is its counterpart for simulations, where the caller supplies every instant.)
/// The runtime's reader takes packets with <see cref="TryRead"/> until it returns false, and only then waits with
/// <see cref="WaitReadable"/>: a burst costs one wait, not one per packet. Read and wait belong to one reader
/// thread; writes may come from any thread.
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
}
