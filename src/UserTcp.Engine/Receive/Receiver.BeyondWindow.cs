using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Data past the window's right edge under Linux 6.17's rule (TcpConfig.DropBeyondWindow, tcp_sequence and
/// tcp_data_queue): dropped whole while data waits to be read, taken whole when nothing does (docs/design.md
/// "The engine", its Zero window item).
/// </summary>
internal sealed partial class Receiver
{
    /// <summary>
    /// Linux 6.17's tcp_sequence (TcpConfig.DropBeyondWindow): <paramref name="length"/> octets from <paramref name="seq"/>
    /// end past the window's right edge while in-order data waits to be read (SKB_DROP_REASON_TCP_INVALID_END_SEQUENCE;
    /// with the queue empty Linux takes it, "to not freeze flows from buggy peers").
    /// </summary>
    public bool EndsBeyondWindowWithDataQueued(SeqNumber seq, int length) =>
        BytesToRead > 0 && seq + length > RightEdge;

    /// <summary>
    /// Linux 6.17's tcp_sequence and tcp_data_queue (TcpConfig.DropBeyondWindow): with nothing waiting to be read, a
    /// segment that starts inside an open window is taken whole, its bytes past the edge too (in order or held out of
    /// order), where RFC 9293 §3.10.7.4 trims them; only as far as the buffer holds them (else trimmed as by default).
    /// </summary>
    private bool TakenWholePastEdge(SeqNumber seq, int length, int room) =>
        _config.DropBeyondWindow && room > 0 && BytesToRead == 0 && _buffer.CanWriteAt(seq - RcvNxt, length);
}
