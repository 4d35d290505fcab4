using UserTcp.Link;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// The packets one reader pass took from the device: read back to back into one arena until the device is empty,
/// the batch is full, or there is no room left for another packet of the device's MTU. Owned by the reader thread
/// (or the caller of <see cref="NetStack.Pump"/>); never allocates after construction.
/// </summary>
internal sealed class ReceiveBatch
{
    /// <summary>The most packets one batch holds; the engine lock is taken once per batch.</summary>
    public const int MaxPackets = 64;

    // Invariant: packet i is _arena[_offsets[i] .. _offsets[i] + _lengths[i]], packets in arrival order, i < Count.
    private readonly byte[] _arena;
    private readonly int[] _offsets = new int[MaxPackets];
    private readonly int[] _lengths = new int[MaxPackets];
    private readonly int _mtu;
    private int _used;

    public ReceiveBatch(int mtu)
    {
        _mtu = Math.Max(mtu, 1500);
        // Room for a full batch at MTU 1500 and for at least two packets at the largest MTU: 96 KiB to 128 KiB.
        _arena = GC.AllocateArray<byte>(Math.Max(MaxPackets * 1500, 2 * _mtu), pinned: true);
    }

    public int Count { get; private set; }

    public ReadOnlySpan<byte> this[int index] => _arena.AsSpan(_offsets[index], _lengths[index]);

    /// <summary>Empties the batch, then takes packets from <paramref name="device"/> until it has none waiting or the batch is full.</summary>
    public int Fill(IPacketDevice device)
    {
        Count = 0;
        _used = 0;
        while (Count < MaxPackets && _arena.Length - _used >= _mtu && device.TryRead(_arena.AsSpan(_used, _mtu), out int length))
        {
            _offsets[Count] = _used;
            _lengths[Count] = length;
            _used += length;
            Count++;
        }
        return Count;
    }
}
