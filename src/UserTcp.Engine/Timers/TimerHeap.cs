namespace UserTcp.Engine;

/// <summary>Anything the engine must wake at a deadline: a connection's timers, or a TIME-WAIT record.</summary>
public abstract class TimedEntry
{
    private protected TimedEntry() { }

    /// <summary>Position in the engine's <see cref="TimerHeap"/>; -1 when not in it.</summary>
    internal int HeapIndex = -1;
    /// <summary>The deadline the entry is filed under: never later than <see cref="NextDeadline"/> (it may be earlier).</summary>
    internal TimeSpan HeapKey;

    /// <summary>The earliest armed deadline; null when nothing is armed.</summary>
    internal abstract TimeSpan? NextDeadline { get; }
}

/// <summary>
/// The engine's deadlines across connections: a binary min-heap with one entry per connection (or TIME-WAIT record)
/// that has a timer armed, so its size is bounded by the connections, and a closed connection leaves it at once
/// (docs/design.md "The engine", timers). An entry's key may be early, never late: a deadline pushed later (the RTO on every ACK)
/// costs nothing until the early key comes up, when the entry is re-filed under its real deadline.
/// </summary>
internal sealed class TimerHeap
{
    // Each entry in a one-field struct: storing a reference into a TimedEntry[] (an abstract class) costs a covariance
    // check per store (CastHelpers.StelemRef, ~1.5 % of a same-vCPU request/response); a struct's field does not.
    private struct Slot
    {
        public TimedEntry Entry;
    }

    private Slot[] _items = new Slot[16];

    public int Count { get; private set; }

    /// <summary>The earliest deadline; early keys on top are corrected on the way.</summary>
    public TimeSpan? Next => SettleTop() ? _items[0].Entry.HeapKey : null;

    /// <summary>Takes the next entry due at <paramref name="now"/> out of the heap; the caller fires it and reschedules it.</summary>
    public bool TryTakeDue(TimeSpan now, out TimedEntry entry)
    {
        if (SettleTop() && _items[0].Entry.HeapKey <= now)
        {
            entry = _items[0].Entry;
            RemoveAt(0);
            return true;
        }
        entry = null!;
        return false;
    }

    /// <summary>Files <paramref name="entry"/> under its next deadline when that moved earlier (or it was not filed); removes it when nothing is armed.</summary>
    public void Reschedule(TimedEntry entry)
    {
        if (entry.NextDeadline is not TimeSpan next)
        {
            Remove(entry);
            return;
        }
        if (entry.HeapIndex < 0)
        {
            if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
            entry.HeapKey = next;
            entry.HeapIndex = Count;
            _items[Count++].Entry = entry;
            SiftUp(entry.HeapIndex);
        }
        else if (next < entry.HeapKey)
        {
            entry.HeapKey = next;
            SiftUp(entry.HeapIndex);
        }
    }

    /// <summary>
    /// <paramref name="entry"/> just armed a deadline at <paramref name="at"/>: as <see cref="Reschedule"/>, without asking
    /// for its next deadline. Filed, its other deadlines are no earlier than its key, so only <paramref name="at"/> can lower it.
    /// </summary>
    public void OnArmed(TimedEntry entry, TimeSpan at)
    {
        if (entry.HeapIndex < 0)
        {
            Reschedule(entry);
        }
        else if (at < entry.HeapKey)
        {
            entry.HeapKey = at;
            SiftUp(entry.HeapIndex);
        }
    }

    public void Remove(TimedEntry entry)
    {
        if (entry.HeapIndex >= 0) RemoveAt(entry.HeapIndex);
    }

    // Until the top's key is its real deadline: drop entries with nothing armed, re-file early ones.
    private bool SettleTop()
    {
        while (Count > 0)
        {
            TimedEntry top = _items[0].Entry;
            // A connection's timers mostly know their earliest deadline without a scan: then no virtual call (a pass asks twice).
            if (top is ConnectionTimers timers && timers.KnownNextTicks == top.HeapKey.Ticks) return true;
            if (top.NextDeadline is not TimeSpan next)
            {
                RemoveAt(0);
                continue;
            }
            if (next == top.HeapKey) return true;
            top.HeapKey = next; // later than filed: a timer was pushed back or cancelled
            SiftDown(0);
        }
        return false;
    }

    private void RemoveAt(int index)
    {
        TimedEntry removed = _items[index].Entry;
        removed.HeapIndex = -1;
        Count--;
        if (index != Count)
        {
            TimedEntry last = _items[Count].Entry;
            _items[index].Entry = last;
            last.HeapIndex = index;
            if (index > 0 && last.HeapKey < _items[(index - 1) / 2].Entry.HeapKey) SiftUp(index);
            else SiftDown(index);
        }
        _items[Count].Entry = null!;
    }

    private void SiftUp(int index)
    {
        TimedEntry entry = _items[index].Entry;
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (_items[parent].Entry.HeapKey <= entry.HeapKey) break;
            Place(_items[parent].Entry, index);
            index = parent;
        }
        Place(entry, index);
    }

    private void SiftDown(int index)
    {
        TimedEntry entry = _items[index].Entry;
        while (true)
        {
            int child = 2 * index + 1;
            if (child >= Count) break;
            if (child + 1 < Count && _items[child + 1].Entry.HeapKey < _items[child].Entry.HeapKey) child++;
            if (entry.HeapKey <= _items[child].Entry.HeapKey) break;
            Place(_items[child].Entry, index);
            index = child;
        }
        Place(entry, index);
    }

    private void Place(TimedEntry entry, int index)
    {
        _items[index].Entry = entry;
        entry.HeapIndex = index;
    }
}
