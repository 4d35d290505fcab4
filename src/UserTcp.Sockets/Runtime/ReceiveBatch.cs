using UserTcp.Link;

namespace UserTcp.Sockets.Runtime;

/// <summary>
/// The packets one reader pass took from the device: read back to back into one arena until the device is empty,
/// the batch is full, or there is no room left for another frame of the largest size the device may deliver (the MTU,
/// or with TSO a 64 KiB super-segment, after the device's headroom). Each packet keeps the offload metadata its device
/// read beside it. Owned by the reader thread (or the caller of <see cref="NetStack.Pump"/>); never allocates after
/// construction.
/// </summary>
internal sealed class ReceiveBatch
{
    /// <summary>The most packets one batch holds; the engine lock is taken once per batch.</summary>
    public const int MaxPackets = 64;

    // Invariant: packet i is _arena[_offsets[i] .. _offsets[i] + _lengths[i]] with _offloads[i] beside it, packets in
    // arrival order, i < Count; the device's header of each frame lies just before its packet.
    private readonly byte[] _arena;
    private readonly int[] _offsets = new int[MaxPackets];
    private readonly int[] _lengths = new int[MaxPackets];
    private readonly PacketOffload[] _offloads = new PacketOffload[MaxPackets];
    private readonly int _headroom;
    // Room one read needs: the headroom and the largest packet.
    private readonly int _frame;
    private int _used;

    public ReceiveBatch(IPacketDevice device)
    {
        DeviceOffloads offloads = device.Offloads;
        _headroom = offloads.Headroom;
        _frame = _headroom + Math.Max(Math.Max(device.Mtu, offloads.MaxReceivePacket), 1500);
        // Room for a full batch at MTU 1500 and for at least eight frames of the largest size: 96 KiB to 512 KiB.
        _arena = GC.AllocateArray<byte>(Math.Max(MaxPackets * (_headroom + 1500), 8 * _frame), pinned: true);
    }

    public int Count { get; private set; }

    public ReadOnlySpan<byte> this[int index] => _arena.AsSpan(_offsets[index], _lengths[index]);

    /// <summary>What the device said about packet <paramref name="index"/> (its checksum, whether it is a super-segment).</summary>
    public PacketOffload Offload(int index) => _offloads[index];

    /// <summary>
    /// The last <see cref="Fill"/> stopped because the device had nothing more (not because the batch was full): the
    /// reader's next step is to wait, not to read again (a read that would only say "empty" costs a syscall).
    /// </summary>
    public bool Drained { get; private set; }

    /// <summary>
    /// Empties the batch, then takes packets from <paramref name="device"/> until it has none waiting, the batch is full,
    /// or it holds <paramref name="limit"/> packets (the reader's <see cref="AdaptiveReadLimit"/>).
    /// </summary>
    public int Fill(IPacketDevice device, int limit = MaxPackets)
    {
        Count = 0;
        _used = 0;
        return FillMore(device, limit);
    }

    /// <summary>
    /// Takes more packets after those the batch holds, as <see cref="Fill"/> does, until it holds <paramref name="limit"/>;
    /// returns how many it holds in all.
    /// </summary>
    public int FillMore(IPacketDevice device, int limit = MaxPackets)
    {
        Drained = false;
        limit = Math.Min(limit, MaxPackets);
        while (Count < limit && _arena.Length - _used >= _frame)
        {
            if (!device.TryReadFrame(_arena.AsSpan(_used, _frame), out int length, out PacketOffload offload))
            {
                Drained = true;
                break;
            }
            _offsets[Count] = _used + _headroom;
            _lengths[Count] = length;
            _offloads[Count] = offload;
            _used += _headroom + length;
            Count++;
        }
        return Count;
    }
}
