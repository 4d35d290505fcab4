using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>One row of the connection table, as `ss -tan` shows it plus UserTcp's timers and retransmissions (the fields of TCP_INFO scripts assert on).</summary>
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
            timer, left, c.Retransmissions, c.Rto, c.CongestionWindow)
        {
            SendMss = c.SegmentMss,
            SlowStartThreshold = c.SlowStartThreshold,
            SmoothedRtt = c.SmoothedRtt,
            Info = c.Info(),
        };
    }

    /// <summary>A TIME-WAIT row, from the engine's compact record: no queues, the 2MSL timer.</summary>
    internal static ConnectionSnapshot Of(TimeWaitRecord t, TimeSpan now) =>
        new(t.State, t.Id.Local, t.Id.Remote, 0, 0, TcpTimer.TimeWait, t.Deadline - now, 0, TimeSpan.Zero, 0);

    /// <summary>A LISTEN row: accept queue length as the receive queue, the backlog as the send queue, remote 0.0.0.0:0.</summary>
    internal static ConnectionSnapshot OfListener(TcpPassiveOpen l) =>
        new(TcpState.Listen, l.LocalEndpoint, default, l.PendingAccepts, l.Backlog, TcpTimer.None, null, 0, TimeSpan.Zero, 0);

    /// <summary>The device queue (shard) whose engine holds the connection: 0 with one queue.</summary>
    public int Queue { get; init; }
    /// <summary>The largest segment this side sends now, cut to half the peer's largest window (tcpi_snd_mss).</summary>
    public int SendMss { get; init; }
    /// <summary>ssthresh in bytes; <see cref="int.MaxValue"/> until the first loss (tcpi_snd_ssthresh).</summary>
    public int SlowStartThreshold { get; init; } = int.MaxValue;
    /// <summary>SRTT (tcpi_rtt); zero before the first sample.</summary>
    public TimeSpan SmoothedRtt { get; init; }
    /// <summary>TCP_INFO at the same moment; null for a listener's row and for a connection already gone.</summary>
    public TcpConnectionInfo? Info { get; init; }

    /// <summary>One line in the style of ss -ti.</summary>
    public override string ToString() =>
        $"{State.ToRfcName(),-12} {ReceiveQueue,6} {SendQueue,6} {Local,-21} {Remote,-21} "
        + (TimerLeft is TimeSpan t ? $"timer:({Timer},{t.TotalMilliseconds:F0}ms,{Retransmissions})" : $"retrans:{Retransmissions}");
}
