namespace UserTcp.Link;

/// <summary>
/// A link that carries whole IPv4 packets. Time is an argument (a <see cref="TimeSpan"/> since an arbitrary epoch),
/// so simulated devices never read a clock and a harness can jump straight to <see cref="NextArrival"/>.
/// </summary>
public interface ILinkDevice
{
    /// <summary>Largest IPv4 packet the link carries.</summary>
    int Mtu { get; }
    /// <summary>Hands one whole IPv4 packet to the link at instant <paramref name="now"/>.</summary>
    void Transmit(ReadOnlySpan<byte> packet, TimeSpan now);
    /// <summary>Takes the next packet that has arrived by <paramref name="now"/>; false when none has.</summary>
    bool TryReceive(Span<byte> buffer, TimeSpan now, out int length);
    /// <summary>The earliest instant a packet already in flight towards this device arrives; null when nothing is in flight (or, for real devices, unknown).</summary>
    TimeSpan? NextArrival { get; }
}
