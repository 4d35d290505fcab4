namespace UserTcp.Engine;

/// <summary>
/// The engine's deadlines across connections: a priority queue of (connection, version) by each connection's
/// earliest timer. Entries are invalidated lazily: one counts only while its version is the connection's
/// <see cref="ConnectionTimers.QueueVersion"/>, so re-arming never searches the queue; an entry may be early, never late.
/// </summary>
internal sealed class TimerQueue
{
    private readonly PriorityQueue<(TcpConnection Connection, long Version), TimeSpan> _queue = new();
    private long _version;

    /// <summary>The earliest live deadline; stale entries on top are discarded on the way.</summary>
    public TimeSpan? Next
    {
        get
        {
            while (_queue.TryPeek(out var entry, out TimeSpan at))
            {
                ConnectionTimers timers = entry.Connection.Timers;
                if (entry.Version == timers.QueueVersion)
                {
                    if (timers.Next == at) return at;
                    // A timer was cancelled without a reschedule, so this current entry is early: queue the real one.
                    _queue.Dequeue();
                    timers.QueueVersion = 0;
                    Reschedule(entry.Connection);
                    continue;
                }
                _queue.Dequeue(); // stale: superseded by a later entry for the same connection
            }
            return null;
        }
    }

    /// <summary>Takes the next connection with an entry due at <paramref name="now"/>; its entry is used up.</summary>
    public bool TryTakeDue(TimeSpan now, out TcpConnection connection)
    {
        while (_queue.TryPeek(out var entry, out TimeSpan at) && at <= now)
        {
            _queue.Dequeue();
            if (entry.Version != entry.Connection.Timers.QueueVersion) continue;
            entry.Connection.Timers.QueueVersion = 0;
            connection = entry.Connection;
            return true;
        }
        connection = null!;
        return false;
    }

    /// <summary>Pushes the connection's next deadline into the queue when it changed.</summary>
    public void Reschedule(TcpConnection connection)
    {
        ConnectionTimers timers = connection.Timers;
        TimeSpan? next = timers.Next;
        if (next is null)
        {
            timers.QueueVersion = 0;
            return;
        }
        // An entry at or before the next deadline can stay: when it comes up early, Next re-queues the real one. So a
        // timer pushed later (the RTO or probe timer on every ACK) costs nothing here.
        if (timers.QueueVersion != 0 && timers.QueuedAt <= next) return;
        timers.QueuedAt = next.Value;
        timers.QueueVersion = ++_version;
        _queue.Enqueue((connection, timers.QueueVersion), next.Value);
    }
}
