namespace UserTcp.Engine;

/// <summary>The eleven connection states of RFC 9293 §3.3.2 (Figure 5).</summary>
public enum TcpState : byte
{
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

public static class TcpStateExtensions
{
    /// <summary>The RFC's spelling: "FIN-WAIT-2".</summary>
    public static string ToRfcName(this TcpState state) => state switch
    {
        TcpState.Closed => "CLOSED",
        TcpState.Listen => "LISTEN",
        TcpState.SynSent => "SYN-SENT",
        TcpState.SynReceived => "SYN-RECEIVED",
        TcpState.Established => "ESTABLISHED",
        TcpState.FinWait1 => "FIN-WAIT-1",
        TcpState.FinWait2 => "FIN-WAIT-2",
        TcpState.CloseWait => "CLOSE-WAIT",
        TcpState.Closing => "CLOSING",
        TcpState.LastAck => "LAST-ACK",
        TcpState.TimeWait => "TIME-WAIT",
        _ => state.ToString(),
    };

    /// <summary>States in which both sequence spaces are synchronized (RFC 9293 §3.5.2 "synchronized states").</summary>
    public static bool IsSynchronized(this TcpState state) => state >= TcpState.Established;
}
