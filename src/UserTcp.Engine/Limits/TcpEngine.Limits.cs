namespace UserTcp.Engine;

/// <summary>
/// The stack's caps (docs/design.md "Limits"): connections, TIME-WAIT records and buffer sizes; each counted, and
/// warned about once per episode, when it bites. Buffer memory is <see cref="BufferPool"/>'s.
/// </summary>
public sealed partial class TcpEngine
{
    // Connections whose write the buffer budget cut short, each once (TcpConnection.WaitsForMemory).
    private readonly List<TcpConnection> _memoryWaiters = [];
    private bool _connectionLimitWarned;
    private bool _timeWaitOverflowWarned;

    /// <summary>Room for one more connection under <see cref="TcpConfig.MaxConnections"/>.</summary>
    private bool HasRoomForConnection(TimeSpan now, FourTuple id)
    {
        if ((_shards is null ? _connections.Count : _shards.Sum(static e => e._connections.Count)) < Config.MaxConnections)
        {
            _connectionLimitWarned = false;
            return true;
        }
        WarnOnce(ref _connectionLimitWarned, now, id, TcpCause.ConnectionLimit);
        return false;
    }

    /// <summary>
    /// A connection's buffer sizes cut to <see cref="TcpConfig.MaxSendBufferSize"/> and <see cref="TcpConfig.MaxReceiveBufferSize"/>
    /// (counted when cut). The engine's own sizes always pass, as Linux's tcp_rmem/tcp_wmem default is used even above the maximum.
    /// </summary>
    private TcpConfig CapBufferSizes(TcpConfig config)
    {
        TcpConfig capped = CappedBufferSizes(config);
        if (!ReferenceEquals(capped, config)) Counters.Count(MibCounter.UserTcpBufferSizesCapped);
        return capped;
    }

    /// <summary>The sizes <see cref="CapBufferSizes"/> gives, uncounted: a cookie SYN-ACK must offer the connection's window scale.</summary>
    private TcpConfig CappedBufferSizes(TcpConfig config)
    {
        int maxSend = Math.Max(Config.MaxSendBufferSize, Config.SendBufferSize);
        int maxReceive = Math.Max(Config.MaxReceiveBufferSize, Config.ReceiveBufferSize);
        if (config.SendBufferSize <= maxSend && config.ReceiveBufferSize <= maxReceive) return config;
        return config with
        {
            SendBufferSize = Math.Min(config.SendBufferSize, maxSend),
            ReceiveBufferSize = Math.Min(config.ReceiveBufferSize, maxReceive),
        };
    }

    /// <summary>
    /// A connection whose last ACK is out enters TIME-WAIT as a compact record, or — with <see cref="TcpConfig.MaxTimeWait"/>
    /// records held — closes at once, as Linux's tcp_time_wait does past tcp_max_tw_buckets ("time wait bucket table overflow").
    /// </summary>
    private void EnterTimeWaitOrOverflow(TimeSpan now, TcpConnection connection)
    {
        if ((_shards is null ? _timeWaits.Count : _shards.Sum(static e => e._timeWaits.Count)) < Config.MaxTimeWait)
        {
            _timeWaitOverflowWarned = false;
            HandOverToTimeWait(connection);
            return;
        }
        Counters.Count(MibCounter.TcpExtTCPTimeWaitOverflow);
        WarnOnce(ref _timeWaitOverflowWarned, now, connection.Id, TcpCause.TimeWaitOverflow);
        connection.SkipTimeWait();
        Forget(connection);
    }

    private void WarnOnce(ref bool warned, TimeSpan now, FourTuple id, TcpCause cause)
    {
        if (warned) return;
        warned = true;
        Emit(new TcpEvent(now, TcpEventKind.Warning, new FourTuple(id.Local, default), Cause: cause));
    }

    /// <summary>A write found the stack's buffer memory used up, or it held the window back: the connection hears when chunks free.</summary>
    internal void WaitForMemory(TcpConnection connection)
    {
        if (connection.WaitsForMemory) return;
        connection.WaitsForMemory = true;
        _memoryWaiters.Add(connection);
    }

    // Like Linux's sk_stream_wait_memory, a writer waits for memory anyone frees: each waiting writer gets an event (which
    // the runtime takes as "retry the write") once the pool has a chunk to lend again. A receiver whose window memory held
    // back sends the window update memory now allows, rather than leave the peer to its persist probes; one whose window
    // is still held back keeps waiting.
    private void WakeMemoryWaiters(TimeSpan now)
    {
        if (_memoryWaiters.Count == 0 || BufferPool.ChunksAvailable == 0) return;
        for (int i = _memoryWaiters.Count - 1; i >= 0; i--)
        {
            TcpConnection connection = _memoryWaiters[i];
            bool updated = connection.State != TcpState.Closed && connection.OnMemoryAvailable();
            if (connection.WriteWaitsForMemory)
            {
                connection.WriteWaitsForMemory = false;
                if (connection.State != TcpState.Closed) Emit(new TcpEvent(now, TcpEventKind.MemoryAvailable, connection.Id, connection.State, connection.State));
            }
            if (!updated && connection.WindowLimitedByMemory) continue;
            connection.WaitsForMemory = false;
            _memoryWaiters[i] = _memoryWaiters[^1];
            _memoryWaiters.RemoveAt(_memoryWaiters.Count - 1);
        }
    }

    /// <summary>
    /// The engines of one multi-queue stack (<see cref="CreateShard"/>). A cap over the stack adds up their tables'
    /// counts, each read without its owner's lock (a count a moment old: shards admitting their last connection at the
    /// same instant may pass the cap by one each), so no lock is shared between shards.
    /// </summary>
    private sealed class ShardGroup(TcpEngine first)
    {
        private volatile TcpEngine[] _engines = [first];

        public void Add(TcpEngine engine) => _engines = [.. _engines, engine];

        public int Sum(Func<TcpEngine, int> count)
        {
            int sum = 0;
            foreach (TcpEngine engine in _engines) sum += count(engine);
            return sum;
        }
    }
}
