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
    // Invariant: most recent first; each entry lies inside a distinct held block (checked when used). Made when the first
    // segment is held out of order: most connections never see one, and a short or idle one should not carry it.
    private List<SeqNumber>? _recent;

    public SackBlockList(ReassemblyQueue held) => _held = held;

    /// <summary>False when <see cref="AddTo"/> would add nothing (no block was ever held, or all were delivered).</summary>
    public bool MayHaveBlocks => _recent is { Count: > 0 };

    /// <summary>A segment was just held at <paramref name="seq"/>: its block goes first.</summary>
    public void Touch(SeqNumber seq)
    {
        (SeqNumber Start, SeqNumber End)? block = _held.BlockContaining(seq);
        if (block is not (SeqNumber start, SeqNumber end)) return;
        List<SeqNumber> recent = _recent ??= new(Capacity);
        for (int i = recent.Count - 1; i >= 0; i--)
        {
            if (recent[i].IsInRange(start, (uint)(end - start))) recent.RemoveAt(i);
        }
        recent.Insert(0, seq);
        if (recent.Count > Capacity) recent.RemoveAt(recent.Count - 1);
    }

    /// <summary>RCV.NXT moved to <paramref name="rcvNxt"/>: blocks it passed are delivered and no longer reported.</summary>
    public void Forget(SeqNumber rcvNxt)
    {
        if (_recent is not { } recent) return;
        // A loop, not RemoveAll with a lambda: this runs per delivered segment and must not allocate.
        for (int i = recent.Count - 1; i >= 0; i--)
        {
            if (recent[i] < rcvNxt) recent.RemoveAt(i);
        }
    }

    /// <summary>Adds up to <paramref name="room"/> blocks to <paramref name="options"/>, most recent first.</summary>
    public void AddTo(ref TcpOptions options, int room)
    {
        if (_recent is not { } recent) return;
        SeqNumber? previousStart = null;
        foreach (SeqNumber seq in recent)
        {
            if (room <= 0) return;
            if (_held.BlockContaining(seq) is not (SeqNumber start, SeqNumber end) || start == previousStart) continue;
            options.AddSackBlock(new SackBlock(start, end));
            previousStart = start;
            room--;
        }
    }
}
