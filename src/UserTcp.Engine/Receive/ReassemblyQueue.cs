using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Out-of-order data held until the gap before it fills (RFC 9293 §3.10.7.4 "seventh, process the segment text"
/// allows holding segments beyond RCV.NXT). Ranges are kept sorted and merged, so overlapping retransmissions
/// cost no extra memory; the owner bounds everything by the receive window.
/// </summary>
internal sealed class ReassemblyQueue
{
    private sealed class Block
    {
        public SeqNumber Start;
        // Capacity may exceed Length (grown by doubling); bytes past Length are unused.
        public byte[] Data = [];
        public int Length;
        public SeqNumber End => Start + Length;
    }

    // Invariant: sorted by Start, non-overlapping, non-adjacent (adjacent blocks are merged).
    private readonly List<Block> _blocks = [];

    /// <summary>Bytes held.</summary>
    public int Count { get; private set; }

    /// <summary>The sequence number just past a FIN that arrived ahead of the data before it; null when none.</summary>
    public SeqNumber? FinSeq { get; set; }

    public bool IsEmpty => _blocks.Count == 0;

    /// <summary>The held ranges, for tests.</summary>
    public IEnumerable<(SeqNumber Start, SeqNumber End)> Ranges => _blocks.Select(b => (b.Start, b.End));

    /// <summary>The held block that contains <paramref name="seq"/>; null when none does.</summary>
    public (SeqNumber Start, SeqNumber End)? BlockContaining(SeqNumber seq)
    {
        foreach (Block block in _blocks)
        {
            if (block.Start > seq) break;
            if (seq < block.End) return (block.Start, block.End);
        }
        return null;
    }

    /// <summary>The first part of [start, end) already held (a duplicate, for a D-SACK); null when none is.</summary>
    public (SeqNumber From, SeqNumber To)? Overlap(SeqNumber start, SeqNumber end)
    {
        foreach (Block block in _blocks)
        {
            if (block.Start >= end) break;
            if (block.End <= start) continue;
            return (SeqNumber.Max(start, block.Start), SeqNumber.Min(end, block.End));
        }
        return null;
    }

    /// <summary>Holds <paramref name="data"/> at <paramref name="seq"/>, merging with what is there.</summary>
    public void Add(SeqNumber seq, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        SeqNumber start = seq, end = seq + data.Length;
        int first = 0;
        while (first < _blocks.Count && _blocks[first].End < start) first++;
        int last = first;
        while (last < _blocks.Count && _blocks[last].Start <= end) last++;

        // The common case behind a hole: segments arriving in order after one block extend it at its end.
        // Arrays grow by doubling, so a run of N segments costs O(N) copying, not O(N²).
        if (last - first == 1 && _blocks[first].Start <= start)
        {
            Block block = _blocks[first];
            int grownLength = Math.Max(block.Length, end - block.Start);
            if (grownLength > block.Data.Length) Array.Resize(ref block.Data, Math.Max(grownLength, block.Data.Length * 2));
            data.CopyTo(block.Data.AsSpan(start - block.Start));
            Count += grownLength - block.Length;
            block.Length = grownLength;
            return;
        }

        // Otherwise blocks [first, last) touch or overlap the new range: merge them all into one.
        SeqNumber mergedStart = first < last ? SeqNumber.Min(start, _blocks[first].Start) : start;
        SeqNumber mergedEnd = first < last ? SeqNumber.Max(end, _blocks[last - 1].End) : end;
        var merged = new Block { Start = mergedStart, Length = mergedEnd - mergedStart };
        merged.Data = new byte[merged.Length];
        for (int i = first; i < last; i++)
        {
            Block old = _blocks[i];
            old.Data.AsSpan(0, old.Length).CopyTo(merged.Data.AsSpan(old.Start - mergedStart));
            Count -= old.Length;
        }
        data.CopyTo(merged.Data.AsSpan(start - mergedStart));
        _blocks.RemoveRange(first, last - first);
        _blocks.Insert(first, merged);
        Count += merged.Length;
    }

    /// <summary>
    /// If data is held at <paramref name="rcvNxt"/> (or overlapping it), removes and returns the block's bytes
    /// from rcvNxt on; empty when the gap is still open. Blocks wholly before rcvNxt are discarded.
    /// </summary>
    public ReadOnlySpan<byte> TakeAt(SeqNumber rcvNxt)
    {
        while (_blocks.Count > 0)
        {
            Block block = _blocks[0];
            if (block.Start > rcvNxt) return default;
            _blocks.RemoveAt(0);
            Count -= block.Length;
            if (block.End > rcvNxt) return block.Data.AsSpan((int)(rcvNxt - block.Start), block.End - rcvNxt);
        }
        return default;
    }

    public void Clear()
    {
        _blocks.Clear();
        Count = 0;
        FinSeq = null;
    }
}
