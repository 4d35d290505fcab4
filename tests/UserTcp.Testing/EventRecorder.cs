using System.Collections.Concurrent;
using UserTcp.Engine;

namespace UserTcp.Testing;

/// <summary>Keeps every engine event, in order (the engine calls it under the stack's lock).</summary>
public sealed class EventRecorder : ITcpEventSink
{
    private readonly ConcurrentQueue<TcpEvent> _events = new();

    public IReadOnlyList<TcpEvent> Events => [.. _events];

    public void OnEvent(in TcpEvent tcpEvent) => _events.Enqueue(tcpEvent);

    /// <summary>The states a connection entered, in order.</summary>
    public IReadOnlyList<TcpState> StatesOf(FourTuple connection) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection).Select(e => e.NewState)];
}
