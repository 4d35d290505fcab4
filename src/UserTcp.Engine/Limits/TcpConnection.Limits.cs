namespace UserTcp.Engine;

/// <summary>The stack's caps as they touch one connection (docs/design.md "Limits").</summary>
public sealed partial class TcpConnection
{
    /// <summary>On the engine's list of writers waiting for buffer memory.</summary>
    internal bool WaitsForMemory { get; set; }

    /// <summary>Queues what the send buffer and the stack's buffer memory take; a write cut short by memory waits for it.</summary>
    private int WriteWithinMemory(ReadOnlySpan<byte> data)
    {
        int room = Math.Min(data.Length, _sender.Buffer.Free);
        int accepted = _sender.Buffer.Write(data);
        if (accepted < room)
        {
            _engine.Counters.Count(MibCounter.UserTcpSendMemoryShort);
            _engine.WaitForMemory(this);
        }
        return accepted;
    }

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
