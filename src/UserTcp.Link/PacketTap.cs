namespace UserTcp.Link;

/// <summary>What a fault injector did to a packet a tap records: the action, in words, and the rule responsible (null for random faults).</summary>
public readonly record struct FaultNote(FaultAction Action, string Text, FaultRule? Rule = null)
{
    /// <summary>
    /// For a packet a delay or hold-back rule held: the instant the link took it from its sender, on the device's clock
    /// (the tap records it later, when the link hands it on); null for any other fault.
    /// </summary>
    public TimeSpan? TookAt { get; init; }
}

/// <summary>
/// Sees every packet that crosses a device, as a capture on the link would: the device's clock, the direction, and
/// what a fault injector did to it (a dropped packet is recorded too, marked). Called from the device's reader and
/// writer threads at once, so implementations serialize themselves.
/// </summary>
public interface IPacketTap
{
    /// <summary>Records one packet that went <paramref name="direction"/> at <paramref name="at"/>, with the fault applied to it, if any.</summary>
    void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault);
}

/// <summary>Records every packet read from and written to a device in a tap, stamped by the given clock; faults none.</summary>
public sealed class CapturingDevice : IPacketDevice
{
    private readonly IPacketDevice _inner;
    private readonly IPacketTap _tap;
    private readonly Func<TimeSpan> _clock;

    /// <param name="inner">The device whose packets are recorded.</param>
    /// <param name="tap">Where each packet goes, with its direction and instant.</param>
    /// <param name="clock">Time since the capture's epoch; the live stack passes the stack's clock.</param>
    public CapturingDevice(IPacketDevice inner, IPacketTap tap, Func<TimeSpan> clock)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(tap);
        ArgumentNullException.ThrowIfNull(clock);
        _inner = inner;
        _tap = tap;
        _clock = clock;
    }

    /// <inheritdoc/>
    public int Mtu => _inner.Mtu;
    /// <inheritdoc/>
    public bool WaitReadable(TimeSpan timeout) => _inner.WaitReadable(timeout);

    /// <inheritdoc/>
    public bool TryRead(Span<byte> packet, out int length)
    {
        if (!_inner.TryRead(packet, out length)) return false;
        _tap.Record(packet[..length], PacketDirection.Inbound, _clock(), null);
        return true;
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> packet)
    {
        _tap.Record(packet, PacketDirection.Outbound, _clock(), null);
        _inner.Write(packet);
    }

    /// <summary>The inner device's offloads: super-segments are recorded whole, as tcpdump on the interface shows them.</summary>
    public DeviceOffloads Offloads => _inner.Offloads;
    /// <summary>The inner device's: the tap serializes its records itself.</summary>
    public bool ReadsMayOverlapWait => _inner.ReadsMayOverlapWait;
    /// <summary>The inner device's: what its queue refuses never reaches the tap, as tcpdump never sees what a qdisc dropped.</summary>
    public bool RefusesTransmit(ReadOnlySpan<byte> packet) => _inner.RefusesTransmit(packet);

    /// <inheritdoc/>
    public bool TryReadFrame(Span<byte> frame, out int length, out PacketOffload offload)
    {
        if (!_inner.TryReadFrame(frame, out length, out offload)) return false;
        int headroom = _inner.Offloads.Headroom;
        _tap.Record(frame.Slice(headroom, length), PacketDirection.Inbound, _clock(), null);
        return true;
    }

    /// <inheritdoc/>
    public void WriteFrame(Span<byte> frame, PacketOffload offload)
    {
        _tap.Record(frame[_inner.Offloads.Headroom..], PacketDirection.Outbound, _clock(), null);
        _inner.WriteFrame(frame, offload);
    }

    /// <inheritdoc/>
    public void Dispose() => _inner.Dispose();
}
