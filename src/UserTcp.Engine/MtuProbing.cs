namespace UserTcp.Engine;

/// <summary>
/// Packetization-layer path MTU discovery (RFC 4821) and black-hole detection (RFC 2923 §2.1): Linux's
/// net.ipv4.tcp_mtu_probing, whose values these are.
/// </summary>
public enum MtuProbing : byte
{
    /// <summary>0, Linux's default: neither; the segment size follows the peer's MSS and ICMP alone.</summary>
    Off = 0,
    /// <summary>
    /// 1: a stall of retransmission timeouts lowers the segment size (black-hole detection), and from the first such
    /// lowering the connection probes back up with larger segments (Linux's tcp_mtu_probe).
    /// </summary>
    AfterBlackHole = 1,
    /// <summary>2: probing up from the start (an active open starts at <see cref="TcpConfig.BaseMss"/>), and black-hole detection.</summary>
    Always = 2,
}
