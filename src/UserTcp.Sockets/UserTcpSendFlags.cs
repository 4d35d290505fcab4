namespace UserTcp.Sockets;

/// <summary>How a write treats the data it queues (the TCP flags of send(2) that UserTcp has).</summary>
[Flags]
public enum UserTcpSendFlags
{
    /// <summary>A plain write.</summary>
    None = 0,
    /// <summary>
    /// MSG_EOR: the data ends a record. The segment carrying its last byte carries no later data and is pushed, and
    /// later writes start a new segment (Linux: the skb is marked EOR and never coalesced, tcp(7)).
    /// </summary>
    EndOfRecord = 1,
    /// <summary>
    /// MSG_MORE: more data follows soon. A segment smaller than the MSS at the end of this write does not go with it
    /// and is not pushed; the next write, <see cref="UserTcpConnection.NoDelay"/> set, the FIN, an ACK (under Nagle's
    /// rule) or, with nothing in flight, one RTO (Linux's probe timer) sends it, as on Linux.
    /// </summary>
    More = 2,
}
