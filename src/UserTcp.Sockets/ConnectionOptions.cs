namespace UserTcp.Sockets;

/// <summary>
/// Per-connection socket options set before the connection exists (for ConnectAsync, or on a listener for the
/// connections it accepts): what SO_SNDBUF, SO_RCVBUF, TCP_NODELAY and SO_KEEPALIVE do. Null keeps the stack's value.
/// </summary>
public sealed record ConnectionOptions
{
    /// <summary>Bytes the application may queue for sending.</summary>
    public int? SendBufferSize { get; init; }
    /// <summary>Bytes held for the application to read; the receive window (and its scale) follows from it.</summary>
    public int? ReceiveBufferSize { get; init; }
    public bool? NoDelay { get; init; }
    public bool? KeepAlive { get; init; }

    internal Engine.TcpConfig Apply(Engine.TcpConfig config) => config with
    {
        SendBufferSize = SendBufferSize ?? config.SendBufferSize,
        ReceiveBufferSize = ReceiveBufferSize ?? config.ReceiveBufferSize,
        NoDelay = NoDelay ?? config.NoDelay,
        KeepAlive = KeepAlive ?? config.KeepAlive,
    };

    internal void Validate()
    {
        if (SendBufferSize is < 1) throw new ArgumentOutOfRangeException(nameof(SendBufferSize), SendBufferSize, "a send buffer needs at least one byte");
        if (ReceiveBufferSize is < 1) throw new ArgumentOutOfRangeException(nameof(ReceiveBufferSize), ReceiveBufferSize, "a receive buffer needs at least one byte");
    }
}
