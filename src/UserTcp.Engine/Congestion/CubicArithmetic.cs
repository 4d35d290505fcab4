namespace UserTcp.Engine;

/// <summary>How CUBIC computes its congestion avoidance (<see cref="TcpConfig.CubicArithmetic"/>).</summary>
public enum CubicArithmetic : byte
{
    /// <summary>
    /// RFC 9438's equations in floating point: W_cubic aimed at one RTT ahead, growth up to 1.5 cwnd per RTT, the
    /// Reno-friendly W_est. The default.
    /// </summary>
    Rfc9438,
    /// <summary>
    /// Linux's tcp_cubic.c in its integer arithmetic (bictcp_update, cubic_root, tcp_cong_avoid_ai): whole segments, time
    /// in jiffies and 1/1024 s, at most one segment per two ACKed, 5 % per RTT before the first loss, its TCP-friendly
    /// count. For scripts written against Linux (<c>usertcp script --relaxed</c>).
    /// </summary>
    Linux,
}

/// <summary>The names the command line and reports give <see cref="CubicArithmetic"/>: "rfc9438" and "linux".</summary>
public static class CubicArithmetics
{
    /// <summary>"rfc9438" or "linux", as <c>--cubic-arithmetic</c> takes them.</summary>
    public static string Name(this CubicArithmetic arithmetic) => arithmetic == CubicArithmetic.Linux ? "linux" : "rfc9438";

    /// <summary>Parses "rfc9438" or "linux", case-insensitively.</summary>
    public static bool TryParse(string? name, out CubicArithmetic arithmetic)
    {
        switch (name?.Trim().ToUpperInvariant())
        {
            case "RFC9438":
                arithmetic = CubicArithmetic.Rfc9438;
                return true;
            case "LINUX":
                arithmetic = CubicArithmetic.Linux;
                return true;
            default:
                arithmetic = default;
                return false;
        }
    }
}
