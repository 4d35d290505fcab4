using UserTcp.Engine;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Keeps UserTcp's engine events for assertions: every state change and error, and — unless turned off for
/// large transfers — every segment in and out. Called on the engine's thread; read from the test's.
/// </summary>
internal sealed class EventRecorder(bool segments = true) : ITcpEventSink
{
    private readonly Lock _gate = new();
    private readonly List<TcpEvent> _events = [];

    public void OnEvent(in TcpEvent tcpEvent)
    {
        bool keep = tcpEvent.Kind switch
        {
            TcpEventKind.StateChanged or TcpEventKind.ConnectionError or TcpEventKind.Retransmission => true,
            TcpEventKind.SegmentIn or TcpEventKind.SegmentOut => segments,
            _ => false,
        };
        if (keep)
        {
            lock (_gate)
            {
                _events.Add(tcpEvent);
            }
        }
    }

    public IReadOnlyList<TcpEvent> Events
    {
        get
        {
            lock (_gate)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>The connections with a given local port, in the order they first appeared.</summary>
    public IReadOnlyList<FourTuple> Connections(ushort localPort) =>
        [.. Events.Select(e => e.Connection).Where(c => c.Local.Port == localPort).Distinct()];

    /// <summary>
    /// The states a connection passed through, starting with the one it left first
    /// (LISTEN for a passive open, CLOSED for an active one).
    /// </summary>
    public IReadOnlyList<TcpState> States(FourTuple connection)
    {
        List<TcpEvent> changes = [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection)];
        if (changes.Count == 0)
        {
            return [];
        }
        TcpState first = changes[0].Cause == TcpCause.SynInListen ? TcpState.Listen : changes[0].OldState;
        return [first, .. changes.Select(e => e.NewState)];
    }

    public static string Format(IEnumerable<TcpState> states) => string.Join(" → ", states.Select(s => s.ToRfcName()));

    /// <summary>Everything recorded for one connection, one line each, for assertion messages.</summary>
    public string Trace(FourTuple connection) =>
        string.Join('\n', Events.Where(e => e.Connection == connection).Select(e => e.ToString()));

    /// <summary>Waits (bounded) until the connection enters <paramref name="state"/> (a state change to it is recorded).</summary>
    public bool WaitForState(FourTuple connection, TcpState state, TimeSpan timeout) =>
        Poll.Until(() => Events.Any(e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection && e.NewState == state), timeout);
}
