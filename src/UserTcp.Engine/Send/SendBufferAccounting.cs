namespace UserTcp.Engine;

/// <summary>What the send buffer's limit (SO_SNDBUF, <see cref="TcpConfig.SendBufferSize"/>) counts (<see cref="TcpConfig.SendBufferAccounting"/>).</summary>
public enum SendBufferAccounting : byte
{
    /// <summary>
    /// Data bytes: the buffer holds exactly its size in data, a write takes what fits, and a write that waits resumes as
    /// soon as an ACK frees any room. The default.
    /// </summary>
    DataBytes,
    /// <summary>
    /// Linux's sk_wmem_queued: each buffered byte plus the fixed truesize of every skb that holds them (one per TSO packet
    /// in flight, one per size-goal chunk unsent); a write starts a new chunk only while that is below the limit, so it
    /// may overshoot by up to a chunk (tcp_sendmsg_locked), and a write that waited resumes only when a third of the
    /// limit is free (sk_stream_write_space). For scripts written against Linux (<c>usertcp script --relaxed</c>).
    /// </summary>
    LinuxTruesize,
}
