using UserTcp.Engine;

namespace UserTcp.Cli.Demo;

/// <summary>
/// UserTcp's side of each connection, from its engine's events: every segment in and out and every state change,
/// kept per connection. Called on the engine's thread, read from the demo's.
/// </summary>
internal sealed class EngineTrace : ITcpEventSink
{
    private readonly Lock _gate = new();
    // Events per connection in the order the engine emitted them; connections in order of first appearance.
    private readonly Dictionary<FourTuple, List<TcpEvent>> _connections = [];
    private readonly List<FourTuple> _order = [];

    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (tcpEvent.Kind is not (TcpEventKind.SegmentIn or TcpEventKind.SegmentOut or TcpEventKind.StateChanged
            or TcpEventKind.Retransmission or TcpEventKind.ConnectionError))
        {
            return;
        }
        lock (_gate)
        {
            if (!_connections.TryGetValue(tcpEvent.Connection, out List<TcpEvent>? events))
            {
                _connections[tcpEvent.Connection] = events = [];
                _order.Add(tcpEvent.Connection);
            }
            events.Add(tcpEvent);
        }
    }

    /// <summary>The connections on a local port, oldest first.</summary>
    public IReadOnlyList<FourTuple> Connections(ushort localPort)
    {
        lock (_gate)
        {
            return [.. _order.Where(c => c.Local.Port == localPort)];
        }
    }

    public IReadOnlyList<TcpEvent> Events(FourTuple connection)
    {
        lock (_gate)
        {
            return _connections.TryGetValue(connection, out List<TcpEvent>? events) ? [.. events] : [];
        }
    }

    /// <summary>The states the connection passed through, from the one it left first (LISTEN for a passive open).</summary>
    public IReadOnlyList<TcpState> States(FourTuple connection)
    {
        TcpEvent[] changes = [.. Events(connection).Where(e => e.Kind == TcpEventKind.StateChanged)];
        if (changes.Length == 0)
        {
            return [];
        }
        TcpState first = changes[0].Cause == TcpCause.SynInListen ? TcpState.Listen : changes[0].OldState;
        return [first, .. changes.Select(e => e.NewState)];
    }

    /// <summary>Waits, at most <paramref name="timeout"/>, until the connection has entered <paramref name="state"/>.</summary>
    public async Task<bool> WaitForStateAsync(FourTuple connection, TcpState state, TimeSpan timeout, CancellationToken cancellationToken)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!Events(connection).Any(e => e.Kind == TcpEventKind.StateChanged && e.NewState == state))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }
}
