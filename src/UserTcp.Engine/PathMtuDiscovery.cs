namespace UserTcp.Engine;

/// <summary>
/// IP_MTU_DISCOVER: whether a connection's packets carry Don't Fragment and whether ICMP "fragmentation needed" lowers
/// its path MTU (RFC 1191). The values are Linux's IP_PMTUDISC_*.
/// </summary>
public enum PathMtuDiscovery : byte
{
    /// <summary>IP_PMTUDISC_DONT: DF clear, and ICMP does not lower the path MTU.</summary>
    Dont = 0,
    /// <summary>IP_PMTUDISC_WANT (Linux's default for TCP): DF set, ICMP lowers the path MTU.</summary>
    Want = 1,
    /// <summary>IP_PMTUDISC_DO: DF set, ICMP lowers the path MTU.</summary>
    Do = 2,
    /// <summary>IP_PMTUDISC_PROBE: DF set, ICMP lowers the path MTU.</summary>
    Probe = 3,
    /// <summary>IP_PMTUDISC_INTERFACE: DF set, the path MTU stays the interface's (ICMP ignored).</summary>
    Interface = 4,
    /// <summary>IP_PMTUDISC_OMIT: DF set, ICMP ignored.</summary>
    Omit = 5,
}
