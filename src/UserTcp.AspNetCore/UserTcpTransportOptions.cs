using UserTcp.Sockets;

namespace UserTcp.AspNetCore;

/// <summary>How the UserTcp transport listens and buffers; the defaults are those of Kestrel's own Sockets transport.</summary>
public sealed class UserTcpTransportOptions
{
    /// <summary>Connections the stack may hold established but not yet accepted, per endpoint (listen(2)'s backlog).</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// Socket options for every accepted connection (buffer sizes, keepalive). NoDelay is on by default, as Kestrel sets it:
    /// the last segment of a response should not wait for the ACK of the one before.
    /// </summary>
    public UserTcpConnectionOptions ConnectionOptions { get; set; } = new() { NoDelay = true };

    /// <summary>
    /// Received bytes the transport holds before it stops reading the connection (1 MiB; null or 0: no limit). Once it
    /// stops, the connection's receive buffer fills and its TCP window closes: the client is slowed down, not buffered.
    /// </summary>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes of response the transport holds before the application's writes wait (64 KiB; null or 0: no limit). They
    /// drain as fast as the connection's send buffer does, which is as fast as the client's window allows.
    /// </summary>
    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// After our FIN, how long the transport goes on reading (and dropping) while it waits for the client's FIN before it
    /// closes (2 s). The lingering close of RFC 9112 §9.6: data the client sent after our last read cannot reset the
    /// connection and lose the response.
    /// </summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
