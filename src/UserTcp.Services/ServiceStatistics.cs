namespace UserTcp.Services;

/// <summary>What one service has done so far; updated from every connection's task, read at any time.</summary>
public sealed class ServiceStatistics
{
    private long _accepted;
    private long _active;
    private long _failed;
    private long _received;
    private long _sent;
    private long _writes;
    private long _requests;

    /// <summary>Connections accepted since the service started.</summary>
    public long ConnectionsAccepted => Volatile.Read(ref _accepted);
    /// <summary>Connections being served now.</summary>
    public long ActiveConnections => Volatile.Read(ref _active);
    /// <summary>Connections that ended with an error (reset, timed out) rather than a close.</summary>
    public long ConnectionsFailed => Volatile.Read(ref _failed);
    /// <summary>Application bytes read from peers.</summary>
    public long BytesReceived => Volatile.Read(ref _received);
    /// <summary>Application bytes handed to TCP for peers.</summary>
    public long BytesSent => Volatile.Read(ref _sent);
    /// <summary>Writes that handed those bytes to TCP (each one a wake-up of the connection's task when it had to wait for room).</summary>
    public long Writes => Volatile.Read(ref _writes);
    /// <summary>Requests answered (HTTP only).</summary>
    public long Requests => Volatile.Read(ref _requests);

    internal void Accepted()
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Increment(ref _active);
    }

    /// <summary>Returns the number of connections still active.</summary>
    internal long Finished() => Interlocked.Decrement(ref _active);

    internal void Failed() => Interlocked.Increment(ref _failed);
    internal void Received(long bytes) => Interlocked.Add(ref _received, bytes);
    internal void Sent(long bytes) => Interlocked.Add(ref _sent, bytes);

    /// <summary>One write of <paramref name="bytes"/> finished.</summary>
    internal void Wrote(long bytes)
    {
        Interlocked.Increment(ref _writes);
        Sent(bytes);
    }
    internal void Answered() => Interlocked.Increment(ref _requests);
}
