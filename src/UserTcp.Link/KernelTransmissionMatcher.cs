namespace UserTcp.Link;

/// <summary>
/// Finds, for each packet UserTcp read from the kernel, the kernel's record of sending it (a packet socket's, which
/// sees the packet before the TUN device queues it): one TUN queue is first in, first out, so it is the oldest pending
/// transmission with the packet's TCP fields, and the ones before it are transmissions the tap never saw (the device's
/// queue overflowed), dropped. A kernel instant later than the read (plus <see cref="ClockSlack"/>) is not taken: the
/// clocks' conversion failed, and a packet cannot arrive before it left. Bounded by <see cref="Capacity"/> and
/// <see cref="MaxAge"/>, so a live capture's list cannot grow without end. Not thread-safe.
/// </summary>
public sealed class KernelTransmissionMatcher
{
    /// <summary>
    /// How far a kernel instant may fall after the read before it is taken as a failed conversion: the realtime clock
    /// and the stack's monotonic one are read back to back, a microsecond or two apart.
    /// </summary>
    public static readonly TimeSpan ClockSlack = TimeSpan.FromMilliseconds(1);

    // Pending transmissions are _pending[_head..], oldest first; the consumed front is cut off now and then.
    private readonly List<KernelTransmission> _pending = [];
    private int _head;

    /// <param name="capacity">At most this many transmissions wait; beyond it the oldest is dropped.</param>
    /// <param name="maxAge">A transmission older than this at a read is dropped; null keeps it until a later one matches.</param>
    public KernelTransmissionMatcher(int capacity = int.MaxValue, TimeSpan? maxAge = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (maxAge is TimeSpan age) ArgumentOutOfRangeException.ThrowIfLessThan(age, TimeSpan.Zero);
        Capacity = capacity;
        MaxAge = maxAge;
    }

    /// <summary>The most transmissions that wait for their packet.</summary>
    public int Capacity { get; }
    /// <summary>How long a transmission waits for its packet (by the read instants), or null for as long as nothing later matches.</summary>
    public TimeSpan? MaxAge { get; }
    /// <summary>Transmissions waiting for their packet.</summary>
    public int Pending => _pending.Count - _head;
    /// <summary>Transmissions dropped unmatched: never seen by the tap, too old, or beyond the capacity.</summary>
    public long Dropped { get; private set; }

    /// <summary>Adds the kernel's next transmission (in the order the kernel sent them).</summary>
    public void Add(KernelTransmission transmission)
    {
        if (Pending == Capacity) Skip(1);
        _pending.Add(transmission);
    }

    /// <summary>
    /// The instant the kernel sent the packet with <paramref name="segment"/>'s fields that UserTcp read at
    /// <paramref name="readAt"/>, or null when no pending transmission is it (then nothing but too old ones is dropped).
    /// </summary>
    public TimeSpan? Take(TcpSegmentInfo segment, TimeSpan readAt)
    {
        if (MaxAge is TimeSpan age)
        {
            int old = 0;
            while (old < Pending && _pending[_head + old].At < readAt - age) old++;
            Skip(old);
        }
        for (int i = _head; i < _pending.Count; i++)
        {
            if (_pending[i].Segment != segment) continue;
            KernelTransmission match = _pending[i];
            if (match.At > readAt + ClockSlack) return null;
            Skip(i - _head);
            Skip(1, dropped: false);
            return match.At;
        }
        return null;
    }

    private void Skip(int count, bool dropped = true)
    {
        if (count == 0) return;
        if (dropped) Dropped += count;
        _head += count;
        if (_head == _pending.Count)
        {
            _pending.Clear();
            _head = 0;
        }
        else if (_head >= 1024 && _head * 2 >= _pending.Count)
        {
            _pending.RemoveRange(0, _head);
            _head = 0;
        }
    }
}
