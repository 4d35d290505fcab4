using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>One row of the connection table, as `ss -tan` shows it plus UserTcp's timers and retransmissions.</summary>
public sealed record ConnectionSnapshot(
    TcpState State,
    IpEndpoint Local,
    IpEndpoint Remote,
    int ReceiveQueue,
    int SendQueue,
    TcpTimer Timer,
    TimeSpan? TimerLeft,
    int Retransmissions,
    TimeSpan Rto,
    int CongestionWindow)
{
    private static readonly TcpTimer[] TimerOrder =
        [TcpTimer.Retransmission, TcpTimer.Persist, TcpTimer.TimeWait, TcpTimer.FinWait2, TcpTimer.KeepAlive, TcpTimer.DelayedAck];

    internal static ConnectionSnapshot Of(TcpConnection c, TimeSpan now)
    {
        // Like ss's "timer:(on,200ms,0)": the first armed timer in order of interest.
        TcpTimer timer = TimerOrder.FirstOrDefault(t => c.TimerDeadline(t) is not null);
        TimeSpan? left = timer == TcpTimer.None ? null : c.TimerDeadline(timer) - now;
        return new ConnectionSnapshot(c.State, c.LocalEndpoint, c.RemoteEndpoint, c.BytesToRead, c.BytesUnacknowledged,
            timer, left, c.Retransmissions, c.Rto, c.CongestionWindow);
    }

    public override string ToString() =>
        $"{State.ToRfcName(),-12} {ReceiveQueue,6} {SendQueue,6} {Local,-21} {Remote,-21} "
        + (TimerLeft is TimeSpan t ? $"timer:({Timer},{t.TotalMilliseconds:F0}ms,{Retransmissions})" : $"retrans:{Retransmissions}");
}
