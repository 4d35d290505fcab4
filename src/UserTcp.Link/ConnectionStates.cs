using UserTcp.Engine;

namespace UserTcp.Link;

/// <summary>Tells a fault injector the state of a connection on the stack's side, so rules can select by it.</summary>
public interface IConnectionStateSource
{
    /// <summary>The connection's state now; null when the stack has no such connection.</summary>
    TcpState? StateOf(FourTuple connection);
}

/// <summary>
/// Follows every connection's state from the engine's events (an <see cref="ITcpEventSink"/>), for fault rules that
/// select by state. The engine calls it on its own thread; an injector reads it from the device's threads.
/// A connection that reaches CLOSED is forgotten.
/// </summary>
public sealed class ConnectionStateTracker : ITcpEventSink, IConnectionStateSource
{
    private readonly Lock _gate = new();
    // Invariant: the last state each open connection changed to; CLOSED connections are removed.
    private readonly Dictionary<FourTuple, TcpState> _states = [];

    /// <inheritdoc/>
    public bool Consumes(TcpEventKind kind) => kind == TcpEventKind.StateChanged;

    /// <inheritdoc/>
    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (tcpEvent.Kind != TcpEventKind.StateChanged) return;
        lock (_gate)
        {
            if (tcpEvent.NewState == TcpState.Closed) _states.Remove(tcpEvent.Connection);
            else _states[tcpEvent.Connection] = tcpEvent.NewState;
        }
    }

    /// <inheritdoc/>
    public TcpState? StateOf(FourTuple connection)
    {
        lock (_gate)
        {
            return _states.TryGetValue(connection, out TcpState state) ? state : null;
        }
    }
}
