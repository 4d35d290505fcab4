using Microsoft.Extensions.Logging;

namespace UserTcp.Engine;

/// <summary>The engine's log messages: source-generated, with stable event IDs (1xx) that tools can filter on.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Trace, Message = "{Connection} in {Segment}")]
    public static partial void SegmentIn(ILogger logger, FourTuple connection, SegmentSummary segment);

    [LoggerMessage(EventId = 102, Level = LogLevel.Trace, Message = "{Connection} out {Segment}")]
    public static partial void SegmentOut(ILogger logger, FourTuple connection, SegmentSummary segment);

    [LoggerMessage(EventId = 103, Level = LogLevel.Debug, Message = "{Connection} {OldState} -> {NewState} ({Description})")]
    public static partial void StateChanged(ILogger logger, FourTuple connection, string oldState, string newState, string description);

    [LoggerMessage(EventId = 104, Level = LogLevel.Trace, Message = "{Connection} timer {Timer} set for {Deadline}")]
    public static partial void TimerSet(ILogger logger, FourTuple connection, TcpTimer timer, TimeSpan deadline);

    [LoggerMessage(EventId = 105, Level = LogLevel.Trace, Message = "{Connection} timer {Timer} fired")]
    public static partial void TimerFired(ILogger logger, FourTuple connection, TcpTimer timer);

    [LoggerMessage(EventId = 106, Level = LogLevel.Debug, Message = "{Connection} retransmission #{Attempt} {Segment}: {Description}")]
    public static partial void Retransmission(ILogger logger, FourTuple connection, int attempt, SegmentSummary segment, string description);

    [LoggerMessage(EventId = 107, Level = LogLevel.Debug, Message = "{Connection} dropped {Segment}: {Description}")]
    public static partial void Dropped(ILogger logger, FourTuple connection, SegmentSummary segment, string description);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "{Connection} failed with {Error}: {Description}")]
    public static partial void ConnectionError(ILogger logger, FourTuple connection, TcpError error, string description);

    [LoggerMessage(EventId = 109, Level = LogLevel.Warning,
        Message = "{Connection} sat in CLOSE-WAIT without the application closing or writing: closed for it (CloseWaitTimeout); the application may be leaking connections")]
    public static partial void ClosedIdleCloseWait(ILogger logger, FourTuple connection);

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "{Endpoint}: {Description}")]
    public static partial void Warning(ILogger logger, IpEndpoint endpoint, string description);

    [LoggerMessage(EventId = 111, Level = LogLevel.Debug, Message = "{Connection} {Description}")]
    public static partial void CongestionUndo(ILogger logger, FourTuple connection, string description);
}

/// <summary>Writes every engine event to an <see cref="ILogger"/>; segments and timers at Trace, state changes at Debug.</summary>
public sealed class LoggingEventSink : ITcpEventSink
{
    private readonly ILogger _logger;

    /// <summary>A sink that logs to <paramref name="logger"/>.</summary>
    public LoggingEventSink(ILogger logger) => _logger = logger;

    /// <inheritdoc/>
    /// <remarks>The kinds logged at a level the logger has enabled when asked (the engine asks once, as it is made).</remarks>
    public bool Consumes(TcpEventKind kind) => kind switch
    {
        TcpEventKind.SegmentIn or TcpEventKind.SegmentOut or TcpEventKind.TimerSet or TcpEventKind.TimerFired => _logger.IsEnabled(LogLevel.Trace),
        TcpEventKind.Retransmission or TcpEventKind.Dropped or TcpEventKind.CongestionUndo or TcpEventKind.CongestionWindowReduced => _logger.IsEnabled(LogLevel.Debug),
        // Debug, but a CLOSE-WAIT closed for the application is a warning (event 109).
        TcpEventKind.StateChanged => _logger.IsEnabled(LogLevel.Debug) || _logger.IsEnabled(LogLevel.Warning),
        TcpEventKind.ConnectionError => _logger.IsEnabled(LogLevel.Information),
        TcpEventKind.Warning => _logger.IsEnabled(LogLevel.Warning),
        _ => false, // MemoryAvailable is not logged
    };

    /// <inheritdoc/>
    public void OnEvent(in TcpEvent tcpEvent)
    {
        switch (tcpEvent.Kind)
        {
            case TcpEventKind.SegmentIn:
                EngineLog.SegmentIn(_logger, tcpEvent.Connection, tcpEvent.Segment);
                break;
            case TcpEventKind.SegmentOut:
                EngineLog.SegmentOut(_logger, tcpEvent.Connection, tcpEvent.Segment);
                break;
            case TcpEventKind.StateChanged:
                if (tcpEvent.Cause == TcpCause.CloseWaitIdle) EngineLog.ClosedIdleCloseWait(_logger, tcpEvent.Connection);
                if (_logger.IsEnabled(LogLevel.Debug))
                {
#pragma warning disable CA1873 // guarded by IsEnabled just above; the analyzer does not see through it
                    EngineLog.StateChanged(_logger, tcpEvent.Connection, tcpEvent.DiagramOldState.ToRfcName(), tcpEvent.NewState.ToRfcName(), tcpEvent.Description);
#pragma warning restore CA1873
                }
                break;
            case TcpEventKind.TimerSet:
                EngineLog.TimerSet(_logger, tcpEvent.Connection, tcpEvent.Timer, tcpEvent.Deadline);
                break;
            case TcpEventKind.TimerFired:
                EngineLog.TimerFired(_logger, tcpEvent.Connection, tcpEvent.Timer);
                break;
            case TcpEventKind.Retransmission:
                EngineLog.Retransmission(_logger, tcpEvent.Connection, tcpEvent.Attempt, tcpEvent.Segment, tcpEvent.Description);
                break;
            case TcpEventKind.Dropped:
                EngineLog.Dropped(_logger, tcpEvent.Connection, tcpEvent.Segment, tcpEvent.Description);
                break;
            case TcpEventKind.ConnectionError:
                EngineLog.ConnectionError(_logger, tcpEvent.Connection, tcpEvent.Error, tcpEvent.Description);
                break;
            case TcpEventKind.Warning:
                EngineLog.Warning(_logger, tcpEvent.Connection.Local, tcpEvent.Description);
                break;
            case TcpEventKind.CongestionUndo or TcpEventKind.CongestionWindowReduced:
                EngineLog.CongestionUndo(_logger, tcpEvent.Connection, tcpEvent.Description);
                break;
        }
    }
}

/// <summary>Delivers each event to several sinks in order (a log, the lab's recorder, counters).</summary>
public sealed class FanOutEventSink : ITcpEventSink
{
    private readonly ITcpEventSink[] _sinks;
    // What each sink consumes, asked once, here.
    private readonly TcpEventKindSet[] _consumed;

    /// <summary>A sink that passes each event to every one of <paramref name="sinks"/> that consumes its kind, in order.</summary>
    public FanOutEventSink(params ITcpEventSink[] sinks)
    {
        _sinks = sinks;
        _consumed = [.. sinks.Select(TcpEventKindSet.ConsumedBy)];
    }

    /// <inheritdoc/>
    public bool Consumes(TcpEventKind kind) => _consumed.Any(set => set.Contains(kind));

    /// <inheritdoc/>
    public void OnEvent(in TcpEvent tcpEvent)
    {
        for (int i = 0; i < _sinks.Length; i++)
        {
            if (_consumed[i].Contains(tcpEvent.Kind)) _sinks[i].OnEvent(tcpEvent);
        }
    }
}

/// <summary>A set of event kinds: what a sink consumes, asked once (<see cref="ITcpEventSink.Consumes"/>) and then looked up without a call.</summary>
internal readonly struct TcpEventKindSet
{
    private readonly uint _bits;

    private TcpEventKindSet(uint bits) => _bits = bits;

    /// <summary>The kinds <paramref name="sink"/> consumes; none without a sink.</summary>
    public static TcpEventKindSet ConsumedBy(ITcpEventSink? sink)
    {
        uint bits = 0;
        if (sink is not null)
        {
            foreach (TcpEventKind kind in Enum.GetValues<TcpEventKind>())
            {
                if (sink.Consumes(kind)) bits |= 1u << (int)kind;
            }
        }
        return new TcpEventKindSet(bits);
    }

    public bool Contains(TcpEventKind kind) => (_bits & (1u << (int)kind)) != 0;
}
