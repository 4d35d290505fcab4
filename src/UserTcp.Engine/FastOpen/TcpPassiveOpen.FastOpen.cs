namespace UserTcp.Engine;

/// <summary>A listener's Fast Open queue (RFC 7413 §5.1; Linux's fastopen_queue): how many Fast Open connections may be unfinished at once.</summary>
public sealed partial class TcpPassiveOpen
{
    /// <summary>How long a Fast Open connection reset after accept() still counts against the queue (reqsk_fastopen_remove: 60 s).</summary>
    internal static readonly TimeSpan ResetHold = TimeSpan.FromSeconds(60);

    // When each Fast Open connection reset after accept() stops counting, oldest first; null until the first such reset.
    private Queue<TimeSpan>? _resetHeld;

    /// <summary>
    /// TCP_FASTOPEN's queue length (Linux's fastopenq.max_qlen): the most Fast Open connections still in SYN-RECEIVED
    /// (and those reset after accept() in the last 60 s); beyond it a SYN with data gets an ordinary handshake
    /// (TcpExtTCPFastOpenListenOverflow). 0 (the default): this listener takes no data in SYNs and hands out no cookies.
    /// Applies to the SYNs that arrive after it changes.
    /// </summary>
    public int FastOpenQueueLength
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(FastOpenQueueLength), value, "a queue length is not negative");
    }

    /// <summary>Fast Open connections counted against <see cref="FastOpenQueueLength"/> now (Linux's fastopenq.qlen).</summary>
    public int FastOpenQueued => FastOpenChildren + (_resetHeld?.Count ?? 0);

    /// <summary>Fast Open connections made by this listener still in SYN-RECEIVED.</summary>
    internal int FastOpenChildren { get; private set; }

    /// <summary>
    /// tcp_fastopen_queue_check: false (and counted) when Fast Open is off for this listener or its queue is full; a
    /// reset connection whose 60 s are over makes room first.
    /// </summary>
    internal bool HasFastOpenRoom(TimeSpan now, EngineCounters counters)
    {
        if (FastOpenQueueLength == 0) return false;
        if (FastOpenQueued < FastOpenQueueLength) return true;
        // Linux frees at most one held reset per SYN, the oldest, and only once its time is over.
        if (_resetHeld is { Count: > 0 } held && held.Peek() <= now)
        {
            held.Dequeue();
            return true;
        }
        counters.Count(MibCounter.TcpExtTCPFastOpenListenOverflow);
        return false;
    }

    /// <summary>
    /// A Fast Open connection left SYN-RECEIVED. Reset by the peer after accept() it keeps its place for
    /// <see cref="ResetHold"/>, so a spoofer cannot empty the queue with RSTs (reqsk_fastopen_remove; the CoNEXT'11 paper).
    /// </summary>
    internal void FastOpenChildLeft(TimeSpan now, bool resetAfterAccept)
    {
        FastOpenChildren--;
        if (resetAfterAccept && !IsClosed) (_resetHeld ??= new Queue<TimeSpan>()).Enqueue(now + ResetHold);
    }
}
