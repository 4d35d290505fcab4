namespace UserTcp.Engine;

/// <summary>How the receive window is sized (<see cref="TcpConfig.ReceiveWindowModel"/>).</summary>
public enum ReceiveWindowModel : byte
{
    /// <summary>
    /// Data bytes: the window is the receive buffer's free space in bytes, offered whole (Linux 6.18's rounding and
    /// receiver SWS avoidance, no rcv_ssthresh stage). The default.
    /// </summary>
    Bytes,
    /// <summary>
    /// Linux 6.18's: the buffer's memory (twice SO_RCVBUF, what getsockopt reports) less the truesize of the skbs queued,
    /// scaled by the data's share of truesize that arriving segments show (scaling_ratio, half until data comes), and
    /// offered stepwise through rcv_ssthresh (tcp_grow_window). For scripts written against Linux
    /// (<c>usertcp script --relaxed</c>).
    /// </summary>
    Linux,
}
