namespace UserTcp.Engine;

/// <summary>The stack's caps as they touch one connection (docs/design.md "Limits").</summary>
public sealed partial class TcpConnection
{
    /// <summary>
    /// TIME-WAIT is full (<see cref="TcpConfig.MaxTimeWait"/>): the connection, whose ACK of the peer's FIN has gone out,
    /// closes now instead of waiting 2MSL, and lets its timers and memory go.
    /// </summary>
    internal void SkipTimeWait()
    {
        Timers.CancelAll();
        _sender.ReleaseMemory();
        _receiver.Clear();
        SetState(TcpState.Closed, TcpCause.TimeWaitOverflow);
    }
}
