namespace UserTcp.Engine;

/// <summary>
/// What the layer below did with a segment the engine handed it (<see cref="IPacketTransmitter.TransmitSegment"/>), as
/// Linux's qdisc answers __tcp_transmit_skb: taken, or refused by a full local queue (NET_XMIT_DROP).
/// </summary>
public enum TransmitResult : byte
{
    /// <summary>Taken: it is on its way to the link.</summary>
    Sent,
    /// <summary>
    /// Refused by the local device's queue (full, or a <c>pfifo limit 0</c>): it never left. The engine reacts as Linux
    /// does: unsent data stays unsent, a refused retransmission is not one, the probe timer retries every 500 ms.
    /// </summary>
    Refused,
}
