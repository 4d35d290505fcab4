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

/// <summary>The names the command line and reports give <see cref="RtoFormula"/>: "rfc6298" and "linux".</summary>
public static class RtoFormulas
{
    /// <summary>"rfc6298" or "linux", as <c>--rto-formula</c> takes them.</summary>
    public static string Name(this RtoFormula formula) => formula == RtoFormula.Linux ? "linux" : "rfc6298";

    /// <summary>Parses "rfc6298" or "linux", case-insensitively.</summary>
    public static bool TryParse(string? name, out RtoFormula formula)
    {
        switch (name?.Trim().ToUpperInvariant())
        {
            case "RFC6298":
                formula = RtoFormula.Rfc6298;
                return true;
            case "LINUX":
                formula = RtoFormula.Linux;
                return true;
            default:
                formula = default;
                return false;
        }
    }
}
