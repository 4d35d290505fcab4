namespace UserTcp.Engine;

/// <summary>
/// Whether connections use Explicit Congestion Notification (RFC 3168), as Linux's net.ipv4.tcp_ecn: the values are
/// the sysctl's.
/// </summary>
public enum EcnMode : byte
{
    /// <summary>0: never request ECN, and answer a SYN that requests it without agreeing.</summary>
    Off = 0,
    /// <summary>1: request ECN on connections this side opens (SYN with ECE and CWR) and accept it when a peer requests it.</summary>
    Request = 1,
    /// <summary>2, Linux's default: accept ECN when a peer's SYN requests it, never request it.</summary>
    Accept = 2,
}
