namespace UserTcp.Sockets;

/// <summary>How a write treats the data it queues (the TCP flags of send(2) that UserTcp has).</summary>
[Flags]
public enum UserTcpSendFlags
{
    None = 0,
    /// <summary>
    /// MSG_EOR: the data ends a record. The segment carrying its last byte carries no later data and is pushed, and
    /// later writes start a new segment (Linux: the skb is marked EOR and never coalesced, tcp(7)).
    /// </summary>
    EndOfRecord = 1,
}
