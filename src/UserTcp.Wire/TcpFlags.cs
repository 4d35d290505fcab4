namespace UserTcp.Wire;

/// <summary>The eight TCP control bits in their on-the-wire positions (RFC 9293 §3.1, RFC 3168 for ECE/CWR).</summary>
[Flags]
public enum TcpFlags : byte
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>FIN: the sender has no more data.</summary>
    Fin = 0x01,
    /// <summary>SYN: synchronize sequence numbers (opens a connection).</summary>
    Syn = 0x02,
    /// <summary>RST: reset the connection.</summary>
    Rst = 0x04,
    /// <summary>PSH: push the data to the application.</summary>
    Psh = 0x08,
    /// <summary>ACK: the acknowledgment number is valid.</summary>
    Ack = 0x10,
    /// <summary>URG: the urgent pointer is valid.</summary>
    Urg = 0x20,
    /// <summary>ECE: ECN echo (RFC 3168).</summary>
    Ece = 0x40,
    /// <summary>CWR: congestion window reduced (RFC 3168).</summary>
    Cwr = 0x80,
}
