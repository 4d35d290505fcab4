namespace UserTcp.Link;

/// <summary>
/// Wraps a device and records every packet transmitted and received through it into a <see cref="PcapFile"/>,
/// stamped with the instant passed in. Where it sits decides what it sees: outside a fault injector it records what
/// the stack sent (drops included, as tcpdump on the sending host would); inside it records what went on the wire.
/// The caller owns and disposes the file.
/// </summary>
public sealed class PcapWriter : ILinkDevice
{
    private readonly ILinkDevice _inner;

    /// <summary>A link that records every packet <paramref name="inner"/> carries, both ways, in <paramref name="file"/>.</summary>
    public PcapWriter(ILinkDevice inner, PcapFile file)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(file);
        _inner = inner;
        File = file;
    }

    /// <summary>The capture being written.</summary>
    public PcapFile File { get; }

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;

    /// <inheritdoc/>
    public TimeSpan? NextArrival => _inner.NextArrival;

    /// <inheritdoc/>
    public void Transmit(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        File.Write(packet, now);
        _inner.Transmit(packet, now);
    }

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, TimeSpan now, out int length)
    {
        if (!_inner.TryReceive(buffer, now, out length)) return false;
        File.Write(buffer[..length], now);
        return true;
    }
}
