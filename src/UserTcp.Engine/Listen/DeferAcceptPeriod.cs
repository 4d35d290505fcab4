namespace UserTcp.Engine;

/// <summary>
/// TCP_DEFER_ACCEPT's period as Linux keeps it: a count of SYN-ACK timeouts, the RTO doubling from the initial RTO up
/// to the largest (secs_to_retrans), so the period getsockopt reports is the whole timeouts it covers (retrans_to_secs).
/// </summary>
public static class DeferAcceptPeriod
{
    /// <summary>The SYN-ACK timeouts that cover <paramref name="period"/> (0 when it is zero; at most 255, as Linux's u8).</summary>
    public static int Timeouts(TimeSpan period, TimeSpan initialRto, TimeSpan maxRto)
    {
        if (period <= TimeSpan.Zero) return 0;
        TimeSpan timeout = initialRto, covered = initialRto;
        int timeouts = 1;
        while (period > covered && timeouts < 255)
        {
            timeouts++;
            timeout = timeout * 2 > maxRto ? maxRto : timeout * 2;
            covered += timeout;
        }
        return timeouts;
    }

    /// <summary>The time <paramref name="timeouts"/> SYN-ACK timeouts take: what getsockopt(TCP_DEFER_ACCEPT) reports.</summary>
    public static TimeSpan Of(int timeouts, TimeSpan initialRto, TimeSpan maxRto)
    {
        if (timeouts <= 0) return TimeSpan.Zero;
        TimeSpan timeout = initialRto, covered = initialRto;
        for (int i = 1; i < timeouts; i++)
        {
            timeout = timeout * 2 > maxRto ? maxRto : timeout * 2;
            covered += timeout;
        }
        return covered;
    }

    /// <summary>The period <paramref name="config"/>'s listener really defers for, rounded up to whole SYN-ACK timeouts.</summary>
    public static TimeSpan Rounded(TcpConfig config) =>
        Of(Timeouts(config.DeferAccept, config.InitialRto, config.MaxRto), config.InitialRto, config.MaxRto);
}
