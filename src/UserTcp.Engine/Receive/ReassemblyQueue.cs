using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Which sequence ranges beyond RCV.NXT are held (RFC 9293 §3.10.7.4 "seventh, process the segment text" allows
/// holding segments beyond RCV.NXT). The bytes themselves are written once, straight into the receive buffer at their
/// place in the window (<see cref="PooledByteQueue.WriteAt"/>), so holding, merging and delivering copy nothing and allocate
/// nothing; this class only keeps the ranges, in a fixed array: each segment costs at most one pass over at most
/// <see cref="MaxRanges"/> entries, whatever the order segments arrive in.
/// </summary>
internal sealed class ReassemblyQueue
{
    /// <summary>
    /// Disjoint ranges held at most. Random loss of p over a 256 KiB window leaves about 180·p holes (18 at 10 %); a
    /// segment that would open one more is not held (the sender resends it), which bounds the work per segment.
    /// </summary>
    public const int MaxRanges = 64;

    // Allocated by the first segment held, so a connection that never sees one (a half-open one in a SYN flood among
    // them) costs nothing here (docs/design.md "Security").
    private SeqNumber[] _starts = [];
    private SeqNumber[] _ends = [];
    // Invariant: ranges [0, _count) sorted by start, non-overlapping and non-adjacent (adjacent ones are merged).
    private int _count;

    /// <summary>Bytes held.</summary>
    public int Count { get; private set; }

    /// <summary>The sequence number just past a FIN that arrived ahead of the data before it; null when none.</summary>
    public SeqNumber? FinSeq { get; set; }

    public bool IsEmpty => _count == 0;

    /// <summary>The sequence number just past the highest byte held; null when none is.</summary>
    public SeqNumber? HighestEnd => _count == 0 ? null : _ends[_count - 1];

    /// <summary>Disjoint ranges held.</summary>
    public int RangeCount => _count;

    /// <summary>Segments not held because they would have opened a range beyond <see cref="MaxRanges"/>.</summary>
    public long Refused { get; private set; }

    /// <summary>Range entries visited or moved so far: the work, which tests bound (no pass is quadratic).</summary>
    internal long Steps { get; private set; }

    /// <summary>The held ranges, in order, for tests.</summary>
    public IEnumerable<(SeqNumber Start, SeqNumber End)> Ranges => Enumerable.Range(0, _count).Select(i => (_starts[i], _ends[i]));

    /// <summary>The held range that contains <paramref name="seq"/>; null when none does.</summary>
    public (SeqNumber Start, SeqNumber End)? BlockContaining(SeqNumber seq)
    {
        int i = FirstEndingAfter(seq);
        return i < _count && _starts[i] <= seq ? (_starts[i], _ends[i]) : null;
    }

    /// <summary>The first part of [start, end) already held (a duplicate, for a D-SACK); null when none is.</summary>
    public (SeqNumber From, SeqNumber To)? Overlap(SeqNumber start, SeqNumber end)
    {
        int i = FirstEndingAfter(start);
        if (i == _count || _starts[i] >= end) return null;
        return (SeqNumber.Max(start, _starts[i]), SeqNumber.Min(end, _ends[i]));
    }

    /// <summary>
    /// Records [start, end) as held, merging it with the ranges it touches. False when it would need a range beyond
    /// <see cref="MaxRanges"/>: then nothing is recorded and the caller must not keep the bytes.
    /// </summary>
    public bool Add(SeqNumber start, SeqNumber end)
    {
        if (end <= start) return true;
        // The ranges [first, last) overlap or touch [start, end).
        int first = FirstEndingAfter(start - 1);
        int last = first;
        while (last < _count && _starts[last] <= end)
        {
            last++;
            Steps++;
        }
        if (first == last)
        {
            if (_starts.Length == 0)
            {
                _starts = new SeqNumber[MaxRanges];
                _ends = new SeqNumber[MaxRanges];
            }
            if (_count == MaxRanges)
            {
                Refused++;
                return false;
            }
            Shift(first, 1);
            _starts[first] = start;
            _ends[first] = end;
            Count += end - start;
            return true;
        }
        SeqNumber mergedStart = SeqNumber.Min(start, _starts[first]);
        SeqNumber mergedEnd = SeqNumber.Max(end, _ends[last - 1]);
        for (int i = first; i < last; i++) Count -= _ends[i] - _starts[i];
        Count += mergedEnd - mergedStart;
        _starts[first] = mergedStart;
        _ends[first] = mergedEnd;
        Shift(last, first + 1 - last);
        return true;
    }

    /// <summary>
    /// RCV.NXT reached <paramref name="rcvNxt"/>: forgets ranges wholly below it and returns how many held bytes now
    /// follow it without a gap (removed from the queue: they are in order now).
    /// </summary>
    public int TakeAt(SeqNumber rcvNxt)
    {
        int drop = 0, contiguous = 0;
        while (drop < _count && _starts[drop] <= rcvNxt)
        {
            Steps++;
            if (_ends[drop] > rcvNxt) contiguous = _ends[drop] - rcvNxt;
            Count -= _ends[drop] - _starts[drop];
            drop++;
        }
        Shift(drop, -drop);
        return contiguous;
    }

    public void Clear()
    {
        _count = 0;
        Count = 0;
        FinSeq = null;
    }

    // The index of the first range whose end lies after seq (binary search: ends are sorted too); _count when none.
    private int FirstEndingAfter(SeqNumber seq)
    {
        int low = 0, high = _count;
        while (low < high)
        {
            Steps++;
            int middle = (low + high) >>> 1;
            if (_ends[middle] > seq) high = middle;
            else low = middle + 1;
        }
        return low;
    }

    // Moves ranges [from, _count) by `by` places (positive opens room, negative closes a gap).
    private void Shift(int from, int by)
    {
        if (by == 0) return;
        int moved = _count - from;
        Array.Copy(_starts, from, _starts, from + by, moved);
        Array.Copy(_ends, from, _ends, from + by, moved);
        Steps += moved;
        _count += by;
    }
}
