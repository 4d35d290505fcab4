namespace UserTcp.Engine;

/// <summary>
/// The RFC's view of <see cref="TcpState"/>, the BCL's System.Net.NetworkInformation enum that UserTcp uses for the
/// eleven connection states of RFC 9293 §3.3.2 (Figure 5). The BCL adds <see cref="TcpState.Unknown"/> (its
/// default) and <see cref="TcpState.DeleteTcb"/>; the engine never enters either.
/// </summary>
public static class TcpStateExtensions
{
    /// <summary>The eleven states of RFC 9293 §3.3.2, in the enum's order (CLOSED to TIME-WAIT).</summary>
    public static IReadOnlyList<TcpState> Rfc9293States { get; } =
    [
        TcpState.Closed, TcpState.Listen, TcpState.SynSent, TcpState.SynReceived, TcpState.Established,
        TcpState.FinWait1, TcpState.FinWait2, TcpState.CloseWait, TcpState.Closing, TcpState.LastAck, TcpState.TimeWait,
    ];

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
        // Not RFC 9293 states: the BCL's default and the TCP-MIB's deleteTCB (RFC 4022), never entered by the engine.
        TcpState.Unknown => "UNKNOWN",
        TcpState.DeleteTcb => "DELETE-TCB",
        _ => state.ToString(),
    };

    /// <summary>States in which both sequence spaces are synchronized (RFC 9293 §3.5.2 "synchronized states").</summary>
    public static bool IsSynchronized(this TcpState state) => state is >= TcpState.Established and <= TcpState.TimeWait;
}
