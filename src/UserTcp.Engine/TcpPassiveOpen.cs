namespace UserTcp.Engine;

/// <summary>
/// A passive open (RFC 9293 §3.10.1, LISTEN). Connections in SYN-RECEIVED count against the SYN queue; those that
/// reached ESTABLISHED wait in the accept queue. Each holds one more than the backlog, as Linux's do: a queue is full
/// only once its length passes sk_max_ack_backlog (sk_acceptq_is_full; inet_csk_reqsk_queue_is_full since 6.13,
/// "tcp/dccp: allow a connection when sk_max_ack_backlog is zero"), so listen(fd, 0) still takes one. A SYN beyond
/// the SYN queue gets a cookie or is dropped, so the peer retries.
/// </summary>
public sealed partial class TcpPassiveOpen
{
    private readonly TcpEngine _engine;
    // Established connections not yet accepted, oldest first; Count <= Backlog + 1.
    private readonly Queue<TcpConnection> _acceptQueue = new();

    internal TcpPassiveOpen(TcpEngine engine, IpEndpoint local, int backlog, TcpConfig connectionConfig)
    {
        _engine = engine;
        LocalEndpoint = local;
        Backlog = backlog;
        ConnectionConfig = connectionConfig;
    }

    /// <summary>The configuration the connections this listener makes start with; a change applies to the SYNs that arrive after it.</summary>
    public TcpConfig ConnectionConfig { get; set; }

    /// <summary>The address and port it listens on.</summary>
    public IpEndpoint LocalEndpoint { get; }
    /// <summary>listen()'s backlog: each of the SYN queue and the accept queue holds one connection more than this.</summary>
    public int Backlog { get; }
    /// <summary>True once <see cref="Close"/> was called.</summary>
    public bool IsClosed { get; private set; }
    /// <summary>Connections established and waiting for <see cref="TryAccept"/>.</summary>
    public int PendingAccepts => _acceptQueue.Count;
    /// <summary>Connections in SYN-RECEIVED made by this listener.</summary>
    public int SynQueueLength { get; internal set; }

    /// <summary>When this listener last answered a SYN with a cookie; ACKs are checked for cookies until two minutes after.</summary>
    internal TimeSpan? LastCookieSent { get; set; }
    /// <summary>The SYN-flood warning has been logged for this listener (once, as Linux's synflood_warned).</summary>
    internal bool SynFloodWarned { get; set; }

    internal bool HasRoomToAccept => _acceptQueue.Count <= Backlog;
    internal bool HasRoomForSyn => SynQueueLength <= Backlog;

    /// <summary>Takes the oldest established connection (or Fast Open connection still in SYN-RECEIVED); false when none is waiting.</summary>
    public bool TryAccept(out TcpConnection connection)
    {
        while (_acceptQueue.TryDequeue(out TcpConnection? next))
        {
            // One reset or timed out while it waited is gone, as with Linux's accept().
            if (next.State != TcpState.Closed || next.BytesToRead > 0)
            {
                next.OnAccepted();
                connection = next;
                return true;
            }
        }
        connection = null!;
        return false;
    }

    /// <summary>Stops listening; connections still waiting to be accepted are reset (as Linux does on close()).</summary>
    public void Close()
    {
        if (IsClosed) return;
        IsClosed = true;
        while (_acceptQueue.TryDequeue(out TcpConnection? waiting)) waiting.Abort();
        _engine.RemoveListener(this);
    }

    internal void Enqueue(TcpConnection connection)
    {
        SynQueueLength--;
        _acceptQueue.Enqueue(connection);
    }

    /// <summary>A Fast Open connection goes to the accept queue at once, never having been in the SYN queue (tcp_conn_request).</summary>
    internal void EnqueueFastOpen(TcpConnection connection)
    {
        FastOpenChildren++;
        _acceptQueue.Enqueue(connection);
    }
}
