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
    /// MSG_MORE: more data follows soon. A segment smaller than the MSS at the end of this write waits for the next
    /// write (or <see cref="UserTcpConnection.NoDelay"/> set, or the FIN) instead of going now, and is not pushed.
    /// </summary>
    More = 2,
}
