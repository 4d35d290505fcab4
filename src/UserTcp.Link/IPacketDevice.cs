namespace UserTcp.Link;

/// <summary>
/// A device a real-time runtime drives with blocking calls: a TUN interface, or an in-memory pipe in tests.
/// (<see cref="ILinkDevice"/> is its counterpart for simulations, where the caller supplies every instant.)
/// Read and wait belong to one reader thread; writes may come from any thread.
/// </summary>
public interface IPacketDevice : IDisposable
{
    /// <summary>Largest packet the device carries; buffers passed to <see cref="Read"/> hold at least this much.</summary>
    int Mtu { get; }

    /// <summary>Waits until a packet can be read, at most <paramref name="timeout"/>; false when the time ran out.</summary>
    bool WaitReadable(TimeSpan timeout);

    /// <summary>Reads one whole packet; blocks if none is waiting.</summary>
    int Read(Span<byte> packet);

    /// <summary>Sends one whole packet.</summary>
    void Write(ReadOnlySpan<byte> packet);
}
