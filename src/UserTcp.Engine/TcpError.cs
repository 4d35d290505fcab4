namespace UserTcp.Engine;

/// <summary>Why a connection failed or a call was refused, named as socket users know them (System.Net.Sockets.SocketError).</summary>
public enum TcpError : byte
{
    /// <summary>No error.</summary>
    None,
    /// <summary>The peer answered our SYN with RST (ECONNREFUSED).</summary>
    ConnectionRefused,
    /// <summary>The peer reset a synchronized connection (ECONNRESET).</summary>
    ConnectionReset,
    /// <summary>Retransmissions or keepalive probes ran out (ETIMEDOUT).</summary>
    TimedOut,
    /// <summary>This side aborted the connection (ECONNABORTED).</summary>
    ConnectionAborted,
    /// <summary>Send after Shutdown(Send) or Close (EPIPE / SocketError.Shutdown).</summary>
    Shutdown,
    /// <summary>The call needs a connection that is not open yet or any more (ENOTCONN).</summary>
    NotConnected,
    /// <summary>No ephemeral port or address/port pair is free (EADDRINUSE).</summary>
    AddressInUse,
    /// <summary>ICMP said the peer's host cannot be reached (EHOSTUNREACH), reported when the connection times out.</summary>
    HostUnreachable,
    /// <summary>ICMP said the peer's network cannot be reached (ENETUNREACH), reported when the connection times out.</summary>
    NetworkUnreachable,
    /// <summary>The stack holds as many connections as it may (<see cref="TcpConfig.MaxConnections"/>): ENOBUFS.</summary>
    NoBufferSpace,
}

/// <summary>A user call that the connection's state refuses.</summary>
public sealed class TcpException : Exception
{
    /// <summary>An exception for <paramref name="error"/>.</summary>
    public TcpException(TcpError error, string message) : base(message) => Error = error;

    /// <summary>An exception with no particular error.</summary>
    public TcpException() : this(TcpError.None, "TCP error") { }

    /// <summary>An exception with no particular error and <paramref name="message"/>.</summary>
    public TcpException(string message) : this(TcpError.None, message) { }

    /// <summary>An exception with no particular error, caused by <paramref name="innerException"/>.</summary>
    public TcpException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>What went wrong.</summary>
    public TcpError Error { get; }
}
