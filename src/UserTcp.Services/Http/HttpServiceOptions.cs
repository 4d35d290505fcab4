namespace UserTcp.Services;

/// <summary>How <see cref="HttpService"/> treats its connections (Kestrel's limits, set from these).</summary>
public sealed record HttpServiceOptions
{
    /// <summary>How long a connection may stay idle between requests before the server closes it (Kestrel's KeepAliveTimeout).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>The largest request line plus headers accepted; a larger head is answered 431 (or 414 for the line) and the connection closed.</summary>
    public int MaxRequestHeadBytes { get; init; } = 8 * 1024;
    /// <summary>How long stopping waits for requests in progress to finish; connections still busy then are reset.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(3);
}
