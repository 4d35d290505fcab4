using System.Diagnostics;
using UserTcp.Engine;

namespace UserTcp.Lab;

/// <summary>
/// UserTcp's side of each connection, from its engine's events: every state change, retransmission and error, and —
/// unless turned off for large transfers — every segment in and out; with <c>allKinds</c>, timers and drops too. Kept
/// in order overall and per connection. The engine calls it on its own thread; the demo, the lab and the tests read
/// it from theirs.
/// </summary>
public sealed class EngineRecorder(bool segments = true, bool allKinds = false) : ITcpEventSink
{
    // Guards both lists; pulsed on every event kept, for waiters.
    private readonly object _gate = new();
    private readonly List<TcpEvent> _events = [];
    private readonly Dictionary<FourTuple, List<TcpEvent>> _byConnection = [];
    // Connections in the order they first appeared.
    private readonly List<FourTuple> _order = [];
    // Asynchronous waits for a state: each arriving state change completes the waits it answers (continuations off the
    // engine's thread); what came before is checked once, as the wait begins. No thread-pool thread blocks for a wait: a
    // blocked one once held the fault injector's timer 200 ms past its instant on a loaded CI.
    private readonly List<(FourTuple Connection, TcpState State, TaskCompletionSource Done)> _waiters = [];

    public bool Consumes(TcpEventKind kind) => allKinds || kind switch
    {
        TcpEventKind.StateChanged or TcpEventKind.ConnectionError or TcpEventKind.Retransmission or TcpEventKind.CongestionUndo => true,
        TcpEventKind.SegmentIn or TcpEventKind.SegmentOut => segments,
        _ => false,
    };

    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (!Consumes(tcpEvent.Kind)) return;
        lock (_gate)
        {
            _events.Add(tcpEvent);
            if (!_byConnection.TryGetValue(tcpEvent.Connection, out List<TcpEvent>? events))
            {
                _byConnection[tcpEvent.Connection] = events = [];
                _order.Add(tcpEvent.Connection);
            }
            events.Add(tcpEvent);
            Monitor.PulseAll(_gate);
            if (tcpEvent.Kind != TcpEventKind.StateChanged) return;
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Connection != tcpEvent.Connection || _waiters[i].State != tcpEvent.NewState) continue;
                _waiters[i].Done.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Every event kept, in the order the engine emitted them.</summary>
    public IReadOnlyList<TcpEvent> Events
    {
        get
        {
            lock (_gate) return [.. _events];
        }
    }

    /// <summary>The events of one connection, in order.</summary>
    public IReadOnlyList<TcpEvent> EventsOf(FourTuple connection)
    {
        lock (_gate) return _byConnection.TryGetValue(connection, out List<TcpEvent>? events) ? [.. events] : [];
    }

    /// <summary>Every connection seen, oldest first.</summary>
    public IReadOnlyList<FourTuple> AllConnections
    {
        get
        {
            lock (_gate) return [.. _order];
        }
    }

    /// <summary>The connections with a given local port, oldest first.</summary>
    public IReadOnlyList<FourTuple> Connections(ushort localPort)
    {
        lock (_gate) return [.. _order.Where(c => c.Local.Port == localPort)];
    }

    /// <summary>
    /// The states a connection passed through, starting with the one it left first (LISTEN for a passive open,
    /// CLOSED for an active one).
    /// </summary>
    public IReadOnlyList<TcpState> States(FourTuple connection)
    {
        TcpEvent[] changes = [.. EventsOf(connection).Where(e => e.Kind == TcpEventKind.StateChanged)];
        if (changes.Length == 0) return [];
        return [changes[0].DiagramOldState, .. changes.Select(e => e.NewState)];
    }

    /// <summary>"LISTEN → SYN-RECEIVED → ESTABLISHED".</summary>
    public static string Format(IEnumerable<TcpState> states) => string.Join(" → ", states.Select(s => s.ToRfcName()));

    /// <summary>Everything recorded for one connection, one line each, for assertion messages.</summary>
    public string Trace(FourTuple connection) => string.Join('\n', EventsOf(connection).Select(e => e.ToString()));

    /// <summary>Waits, at most <paramref name="timeout"/>, until the connection has entered <paramref name="state"/>.</summary>
    public bool WaitForState(FourTuple connection, TcpState state, TimeSpan timeout) => WaitFor(() => HasEntered(connection, state), timeout);

    /// <summary>
    /// The same as <see cref="WaitForState"/>, without blocking a thread: true once the connection has entered
    /// <paramref name="state"/>, false after <paramref name="timeout"/>.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public async Task<bool> WaitForStateAsync(FourTuple connection, TcpState state, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (HasEntered(connection, state)) return true;
            _waiters.Add((connection, state, done));
        }
        try
        {
            await done.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        finally
        {
            lock (_gate) _waiters.RemoveAll(w => ReferenceEquals(w.Done, done));
        }
    }

    // Under the lock: whether the connection has entered the state.
    private bool HasEntered(FourTuple connection, TcpState state) =>
        _byConnection.TryGetValue(connection, out List<TcpEvent>? events)
        && events.Exists(e => e.Kind == TcpEventKind.StateChanged && e.NewState == state);

    /// <summary>Waits, at most <paramref name="timeout"/>, until a connection on <paramref name="localPort"/> appears; returns the first.</summary>
    public FourTuple? WaitForConnection(ushort localPort, TimeSpan timeout) =>
        WaitFor(() => _order.Exists(c => c.Local.Port == localPort), timeout) ? Connections(localPort)[0] : null;

    // Checks under the lock whenever an event arrives; bounded by the timeout.
    private bool WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            while (!condition())
            {
                TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_gate, left);
            }
            return true;
        }
    }
}
