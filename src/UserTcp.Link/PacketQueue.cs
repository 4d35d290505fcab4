namespace UserTcp.Link;

/// <summary>
/// Copies of packets waiting for an instant, earliest first and first-in first-out among equal instants.
/// Copies live in arrays the queue reuses, so in steady state it does not allocate per packet. Its own free list
/// rather than ArrayPool: the shared pool keeps only a few dozen arrays per size and core, and a link with a
/// large bandwidth-delay product holds hundreds of packets in flight.
/// </summary>
public sealed class PacketQueue
{
    // Invariant: the length of every array on _free; packets up to this size are copied into one.
    private readonly int _arrayLength;
    // Invariant: arrays of _arrayLength bytes holding no queued packet; grows to the peak queue length, never shrinks.
    private readonly Stack<byte[]> _free = new();
    // Invariant: ordered by (due instant, enqueue order); each element's Length <= its Buffer's length.
    private readonly PriorityQueue<Copy, Due> _queue = new();
    // Invariant: strictly increases with each Enqueue, so equal instants keep their enqueue order.
    private long _enqueued;

    /// <summary>A queue that reuses arrays for packets up to <paramref name="largestPacket"/> bytes; larger ones get arrays of their own.</summary>
    public PacketQueue(int largestPacket) => _arrayLength = largestPacket;

    /// <summary>Packets waiting.</summary>
    public int Count => _queue.Count;

    /// <summary>The earliest due instant, or null when empty.</summary>
    public TimeSpan? NextDue => _queue.TryPeek(out _, out Due due) ? due.At : null;

    /// <summary>Queues a copy of <paramref name="packet"/> and returns the copy, which the caller may still change.</summary>
    public Span<byte> Enqueue(ReadOnlySpan<byte> packet, TimeSpan due)
    {
        byte[] buffer = packet.Length <= _arrayLength
            ? _free.TryPop(out byte[]? spare) ? spare : new byte[_arrayLength]
            : new byte[packet.Length];
        packet.CopyTo(buffer);
        _queue.Enqueue(new Copy(buffer, packet.Length), new Due(due, _enqueued++));
        return buffer.AsSpan(0, packet.Length);
    }

    /// <summary>The earliest packet and its instant, left in place; false when empty.</summary>
    public bool TryPeek(out ReadOnlySpan<byte> packet, out TimeSpan due)
    {
        if (!_queue.TryPeek(out Copy copy, out Due key))
        {
            packet = default;
            due = default;
            return false;
        }
        packet = copy.Buffer.AsSpan(0, copy.Length);
        due = key.At;
        return true;
    }

    /// <summary>Removes the earliest packet and keeps its array for reuse; spans from <see cref="TryPeek"/> are then stale.</summary>
    public void Dequeue()
    {
        byte[] buffer = _queue.Dequeue().Buffer;
        if (buffer.Length == _arrayLength) _free.Push(buffer);
    }

    private readonly record struct Copy(byte[] Buffer, int Length);

    private readonly record struct Due(TimeSpan At, long Order) : IComparable<Due>
    {
        public int CompareTo(Due other)
        {
            int byTime = At.CompareTo(other.At);
            return byTime != 0 ? byTime : Order.CompareTo(other.Order);
        }
    }
}
