namespace UserTcp.Sockets;

/// <summary>
/// Readiness of a connection or listener, as poll(2) and epoll(7) report it; the values are Linux's POLL*/EPOLL* bits,
/// so a mask from C code means the same here.
/// </summary>
[Flags]
public enum UserTcpPollEvents
{
    /// <summary>Nothing is ready.</summary>
    None = 0,
    /// <summary>POLLIN: a read would not block (data, the peer's FIN, or a shut-down receive side); on a listener, a connection to accept.</summary>
    In = 0x1,
    /// <summary>POLLOUT: a write would find room (<see cref="UserTcpConnection.NotSentLowWatermark"/> included), or would fail at once after a shutdown.</summary>
    Out = 0x4,
    /// <summary>POLLERR: the connection failed and the error is not yet reported (<see cref="UserTcpConnection.TakeError"/>).</summary>
    Error = 0x8,
    /// <summary>POLLHUP: both directions are shut down, or the connection has closed.</summary>
    Hangup = 0x10,
    /// <summary>POLLRDHUP: the peer's FIN arrived (or this side shut reading down).</summary>
    ReadHangup = 0x2000,
}

/// <summary>How an <see cref="UserTcpEventPoll"/> reports a registration (epoll_ctl's EPOLLET and EPOLLONESHOT).</summary>
[Flags]
public enum UserTcpPollMode
{
    /// <summary>Level-triggered: reported by every wait while ready.</summary>
    Level = 0,
    /// <summary>EPOLLET: reported once per wakeup (new data, write room after a full buffer, a state change).</summary>
    EdgeTriggered = 1,
    /// <summary>EPOLLONESHOT: reported once, then disabled until <see cref="UserTcpEventPoll.Modify(UserTcpConnection, UserTcpPollEvents, UserTcpPollMode)"/> re-arms it.</summary>
    OneShot = 2,
}

/// <summary>One ready registration: the connection or listener, and the events it reported.</summary>
public readonly record struct UserTcpPollResult(object Target, UserTcpPollEvents Events);
