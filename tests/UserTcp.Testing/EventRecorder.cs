using System.Collections.Concurrent;
using UserTcp.Engine;
using UserTcp.Wire;

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

    /// <summary>The connections this stack had to <paramref name="port"/> (its local port for a server, the remote for a client).</summary>
    public IReadOnlyList<FourTuple> Connections(ushort port) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.Established
            && (e.Connection.Local.Port == port || e.Connection.Remote.Port == port)).Select(e => e.Connection).Distinct()];

    /// <summary>The segments this stack sent on <paramref name="connection"/> that carry <paramref name="flag"/>, retransmissions included.</summary>
    public int Sent(FourTuple connection, TcpFlags flag) =>
        Events.Count(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == connection && (e.Segment.Flags & flag) != 0);

    /// <summary>The retransmissions (timeout, fast retransmit, loss probe) this stack made on <paramref name="connection"/> that carry <paramref name="flag"/>.</summary>
    public int Retransmitted(FourTuple connection, TcpFlags flag) =>
        Events.Count(e => e.Kind == TcpEventKind.Retransmission && e.Connection == connection && (e.Segment.Flags & flag) != 0);

    /// <summary>
    /// The RSTs this stack sent on <paramref name="connection"/> after the ACK of its FIN had closed it from LAST-ACK, each
    /// in answer to a later, repeated ACK of that FIN: a peer in TIME-WAIT acknowledges every copy of a FIN sent twice, and
    /// a segment for no connection draws a RST (RFC 9293 §3.10.7.1; Linux's tcp_v4_send_reset). The connection was not
    /// reset: it had ended.
    /// </summary>
    public int ResetsAnsweringLateAcksOfFin(FourTuple connection)
    {
        TcpEvent[] events = [.. Events.Where(e => e.Connection == connection)];
        int closed = Array.FindIndex(events, e => e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.Closed && e.Cause == TcpCause.AckOfOurFin);
        if (closed < 0 || FinSequenceNumbers(connection) is not [SeqNumber fin]) return 0;
        int answers = 0;
        for (int i = closed + 2; i < events.Length; i++)
        {
            // The segment as the engine dropped it for want of a connection (or at the listener on its port), then the RST.
            if (events[i - 1] is { Kind: TcpEventKind.Dropped, Cause: TcpCause.NoConnection or TcpCause.AckInListen, Segment: var ack }
                && ack.Flags == TcpFlags.Ack && ack.PayloadLength == 0 && ack.Ack == fin + 1
                && events[i] is { Kind: TcpEventKind.SegmentOut, Segment: var rst } && rst.Flags == TcpFlags.Rst && rst.Seq == fin + 1)
            {
                answers++;
            }
        }
        return answers;
    }

    /// <summary>The distinct sequence numbers of the FINs this stack sent on <paramref name="connection"/> (one, however often it went out).</summary>
    public IReadOnlyList<SeqNumber> FinSequenceNumbers(FourTuple connection) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == connection && (e.Segment.Flags & TcpFlags.Fin) != 0)
            .Select(e => e.Segment.Seq + e.Segment.PayloadLength).Distinct()];
}
