namespace UserTcp.Services;

/// <summary>How <see cref="HttpService"/> treats its connections.</summary>
public sealed record HttpServiceOptions
{
    /// <summary>How long a connection may take to send (the head of) its next request; then it is closed.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The largest request line plus headers accepted; a larger head is answered 400.</summary>
    public int MaxRequestHeadBytes { get; init; } = 8 * 1024;
    /// <summary>After our FIN, how long to read and discard what the peer still sends before closing (lingering close).</summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
