namespace UserTcp.Engine;

/// <summary>How the retransmission timeout follows from the RTT samples (<see cref="TcpConfig.RtoFormula"/>).</summary>
public enum RtoFormula : byte
{
    /// <summary>
    /// RFC 6298 §2: RTO = SRTT + max(G, 4·RTTVAR), then raised to <see cref="TcpConfig.MinRto"/> — on a LAN path the
    /// floor itself (200 ms). The default.
    /// </summary>
    Rfc6298,
    /// <summary>
    /// Linux's tcp_rtt_estimator and tcp_set_rto: the minimum bounds the variance term, not the sum — RTO = SRTT + rttvar,
    /// rttvar the largest 4·mdev of the last round trip and never below <see cref="TcpConfig.MinRto"/>, so about
    /// SRTT + max(4·mdev, 200 ms). Gains per sample as Linux's (no RFC 7323 Appendix G spreading; mdev grows only by
    /// 1/32 on samples below SRTT). For scripts written against Linux (<c>usertcp script --relaxed</c>).
    /// </summary>
    Linux,
}
