using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The bytes the application has queued, addressed by sequence number: from <see cref="Start"/> (ISS+1 until the SYN
/// is acknowledged, then SND.UNA) to <see cref="End"/>, unacknowledged then unsent. Never holds SYN or FIN; a queued
/// FIN sits at <see cref="End"/>.
/// </summary>
internal sealed class SendBuffer
{
    private readonly PooledByteQueue _bytes;
    // Data the buffer may hold beyond its capacity: a Linux write's last chunk (SendBufferAccounting.LinuxTruesize).
    private readonly int _overshoot;
    private int _capacity;

    /// <param name="pool">Where its chunks come from.</param>
    /// <param name="capacity">SO_SNDBUF.</param>
    /// <param name="start">The sequence number of its first byte.</param>
    /// <param name="overshoot">Data it takes beyond <paramref name="capacity"/> when the sender's accounting says so.</param>
    public SendBuffer(BufferPool pool, int capacity, SeqNumber start, int overshoot = 0)
    {
        _overshoot = overshoot;
        _capacity = capacity;
        _bytes = new PooledByteQueue(pool, capacity + overshoot);
        Start = start;
    }

    /// <summary>Sequence number of the first byte held.</summary>
    public SeqNumber Start { get; private set; }
    /// <summary>Sequence number just past the last byte held; a queued FIN takes this number.</summary>
    public SeqNumber End => Start + _bytes.Count;
    public int Count => _bytes.Count;
    /// <summary>Room for data: up to <see cref="Capacity"/>, plus the overshoot Linux's accounting allows.</summary>
    public int Free => _bytes.Free;
    /// <summary>SO_SNDBUF: the most bytes it holds (or, under Linux's accounting, the skb memory); lowering it below <see cref="Count"/> keeps what is queued and takes no more until it drains.</summary>
    public int Capacity
    {
        get => _capacity;
        set
        {
            _capacity = value;
            _bytes.Capacity = value + _overshoot;
        }
    }
    /// <summary>Whether the buffer holds pool memory (only while it holds bytes).</summary>
    public bool HoldsMemory => _bytes.HoldsMemory;
    /// <summary>The application has shut sending down: a FIN follows the data.</summary>
    public bool FinQueued { get; set; }

    public int Write(ReadOnlySpan<byte> data) => _bytes.Write(data);

    /// <summary>The connection is done sending: drop what is held, so its chunks go back to the pool.</summary>
    public void Release()
    {
        Start += _bytes.Count; // End stays where it was
        _bytes.Discard(_bytes.Count);
    }

    // MSG_EOR: where records end, oldest first; new data is never coalesced across one (Linux's skb eor mark).
    private Queue<SeqNumber>? _recordEnds;
    private SeqNumber _lastRecordEnd;

    /// <summary>MSG_EOR: the data queued so far ends a record; the segment that carries its last byte carries no later data.</summary>
    public void EndRecord()
    {
        if (_recordEnds is { Count: > 0 } && _lastRecordEnd == End) return;
        (_recordEnds ??= new Queue<SeqNumber>()).Enqueue(End);
        _lastRecordEnd = End;
    }

    /// <summary>The first record end beyond <paramref name="sent"/> (ends at or below it are forgotten); null when none.</summary>
    public SeqNumber? NextRecordEnd(SeqNumber sent)
    {
        if (_recordEnds is not { } ends) return null;
        while (ends.Count > 0 && ends.Peek() <= sent) ends.Dequeue();
        return ends.Count > 0 ? ends.Peek() : null;
    }

    /// <summary>The peer acknowledged up to <paramref name="ack"/>: those bytes are gone.</summary>
    public void AcknowledgeUpTo(SeqNumber ack)
    {
        int acked = Math.Clamp(ack - Start, 0, _bytes.Count);
        _bytes.Discard(acked);
        Start += acked;
    }

    /// <summary>The bytes [seq, seq + length), straight from the ring when they do not wrap, else copied to <paramref name="scratch"/>.</summary>
    public ReadOnlySpan<byte> Payload(SeqNumber seq, int length, Span<byte> scratch)
    {
        int offset = seq - Start;
        ReadOnlySpan<byte> payload = _bytes.Contiguous(offset, length);
        if (payload.Length == length) return payload;
        _bytes.Peek(offset, scratch[..length]);
        return scratch[..length];
    }
}
