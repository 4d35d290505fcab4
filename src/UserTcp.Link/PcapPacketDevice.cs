namespace UserTcp.Link;

/// <summary>Records every packet read from and written to a device in a pcap file, stamped by the given clock.</summary>
public sealed class PcapPacketDevice : IPacketDevice
{
    private readonly IPacketDevice _inner;
    private readonly PcapFile _file;
    private readonly Func<TimeSpan> _clock;

    /// <param name="clock">Time since the capture's epoch; the runtime passes its own clock.</param>
    public PcapPacketDevice(IPacketDevice inner, PcapFile file, Func<TimeSpan> clock)
    {
        _inner = inner;
        _file = file;
        _clock = clock;
    }

    public int Mtu => _inner.Mtu;
    public bool WaitReadable(TimeSpan timeout) => _inner.WaitReadable(timeout);

    public bool TryRead(Span<byte> packet, out int length)
    {
        if (!_inner.TryRead(packet, out length)) return false;
        Record(packet[..length]);
        return true;
    }

    public void Write(ReadOnlySpan<byte> packet)
    {
        Record(packet);
        _inner.Write(packet);
    }

    // The reader thread and application threads both come through here; the file takes one record at a time.
    private void Record(ReadOnlySpan<byte> packet)
    {
        lock (_file) _file.Write(packet, _clock());
    }

    public void Dispose()
    {
        _inner.Dispose();
        lock (_file) _file.Dispose();
    }
}
