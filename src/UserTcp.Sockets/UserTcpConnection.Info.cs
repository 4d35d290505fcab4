using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>What a connection reports about itself: TCP_INFO, TCP_MAXSEG and the queue lengths of ioctl(SIOCINQ, SIOCOUTQ, SIOCOUTQNSD).</summary>
public sealed partial class UserTcpConnection
{
    /// <summary>The largest payload this side sends now, cut to half the peer's largest window (getsockopt TCP_MAXSEG on a connection, Linux's mss_cache).</summary>
    public int SendMss => _tcb.SegmentMss;

    /// <summary>FIONREAD / SIOCINQ: bytes a read would return now (as <see cref="System.Net.Sockets.Socket.Available"/>; the peer's FIN is not a byte).</summary>
    public int Available => Read(static tcb => tcb.BytesToRead);

    /// <summary>The peer's FIN has arrived: once <see cref="Available"/> is read, reads return end-of-stream.</summary>
    public bool FinReceived => Read(static tcb => tcb.FinReceived);

    /// <summary>SIOCOUTQ: bytes written and not yet acknowledged by the peer, sent or not.</summary>
    public int BytesNotAcknowledged => Read(static tcb => tcb.BytesUnacknowledged);

    /// <summary>SIOCOUTQNSD: bytes written and never sent yet.</summary>
    public int BytesNotSent => Read(static tcb => tcb.BytesNotSent);

    /// <summary>The connection's state as Linux's TCP_INFO reports it (a consistent snapshot under the engine lock).</summary>
    public TcpConnectionInfo Info() => Read(static tcb => tcb.Info());

    private T Read<T>(Func<TcpConnection, T> read)
    {
        _shard.Enter();
        try
        {
            return read(_tcb);
        }
        finally
        {
            _shard.Exit();
        }
    }
}
