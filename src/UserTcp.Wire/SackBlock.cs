namespace UserTcp.Wire;

/// <summary>One SACK block (RFC 2018 §3): the receiver holds [Left, Right).</summary>
public readonly record struct SackBlock(SeqNumber Left, SeqNumber Right);

/// <summary>The TCP timestamps option (RFC 7323 §3): TSval and TSecr.</summary>
public readonly record struct TcpTimestamp(uint Value, uint EchoReply);
