namespace UserTcp.Engine;

/// <summary>The stack's caps as they touch one connection (docs/design.md "Limits").</summary>
public sealed partial class TcpConnection
{
    /// <summary>On the engine's list of connections waiting for buffer memory.</summary>
    internal bool WaitsForMemory { get => Has(ConnectionFlags.WaitsForMemory); set => Set(ConnectionFlags.WaitsForMemory, value); }
    /// <summary>A write was cut short by the stack's buffer memory: the application hears (an event) when chunks free.</summary>
    internal bool WriteWaitsForMemory { get => Has(ConnectionFlags.WriteWaitsForMemory); set => Set(ConnectionFlags.WriteWaitsForMemory, value); }

    /// <summary>The window this connection offers is less than its free buffer space because the stack's buffer memory is short.</summary>
    internal bool WindowLimitedByMemory =>
        State is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 && !_receiver.FinReceived && _receiver.WindowLimitedByMemory;

    /// <summary>
    /// Memory came back: the window update it allows goes out at this dispatch (RFC 9293 §3.8.6.2.2's test decides);
    /// true when one was queued.
    /// </summary>
    internal bool OnMemoryAvailable()
    {
        if (State is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2) || !_receiver.WindowUpdateWorthSending) return false;
        _receiver.AckNow = true;
        _engine.MarkPending(this);
        return true;
    }

    /// <summary>Queues what the send buffer and the stack's buffer memory take; a write cut short by memory waits for it.</summary>
    private int WriteWithinMemory(ReadOnlySpan<byte> data)
    {
        int room = Math.Min(data.Length, _sender.Buffer.Free);
        int accepted = _sender.Buffer.Write(data);
        if (accepted < room)
        {
            _engine.Counters.Count(MibCounter.UserTcpSendMemoryShort);
            WriteWaitsForMemory = true;
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
