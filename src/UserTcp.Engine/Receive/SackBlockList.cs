using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The receiver's SACK blocks in the order RFC 2018 §4 asks for: the block holding the most recently received
/// segment first, then the others by how recently they changed. Entries are sequence numbers inside held blocks;
/// the blocks' current edges come from the reassembly queue, so merges and growth need no bookkeeping here.
/// </summary>
internal sealed class SackBlockList
{
    // More than the 4 an option can carry, so older blocks can move up when newer ones are delivered.
    private const int Capacity = 8;

    private readonly ReassemblyQueue _held;
    // Invariant: most recent first; each entry lies inside a distinct held block (checked when used).
    private readonly List<SeqNumber> _recent = new(Capacity);

    public SackBlockList(ReassemblyQueue held) => _held = held;

    /// <summary>A segment was just held at <paramref name="seq"/>: its block goes first.</summary>
    public void Touch(SeqNumber seq)
    {
        (SeqNumber Start, SeqNumber End)? block = _held.BlockContaining(seq);
        if (block is not (SeqNumber start, SeqNumber end)) return;
        for (int i = _recent.Count - 1; i >= 0; i--)
        {
            if (_recent[i].IsInRange(start, (uint)(end - start))) _recent.RemoveAt(i);
        }
        _recent.Insert(0, seq);
        if (_recent.Count > Capacity) _recent.RemoveAt(_recent.Count - 1);
    }

    /// <summary>RCV.NXT moved to <paramref name="rcvNxt"/>: blocks it passed are delivered and no longer reported.</summary>
    public void Forget(SeqNumber rcvNxt)
    {
        // A loop, not RemoveAll with a lambda: this runs per delivered segment and must not allocate.
        for (int i = _recent.Count - 1; i >= 0; i--)
        {
            if (_recent[i] < rcvNxt) _recent.RemoveAt(i);
        }
    }

    /// <summary>Adds up to <paramref name="room"/> blocks to <paramref name="options"/>, most recent first.</summary>
    public void AddTo(ref TcpOptions options, int room)
    {
        SeqNumber? previousStart = null;
        foreach (SeqNumber seq in _recent)
        {
            if (room <= 0) return;
            if (_held.BlockContaining(seq) is not (SeqNumber start, SeqNumber end) || start == previousStart) continue;
            options.AddSackBlock(new SackBlock(start, end));
            previousStart = start;
            room--;
        }
    }
}
