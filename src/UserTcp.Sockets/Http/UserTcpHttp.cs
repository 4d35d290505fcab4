using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Sockets.Http;

/// <summary>
/// HttpClient over UserTcp: a <see cref="SocketsHttpHandler"/> whose connections are <see cref="UserTcpConnection"/>s of a
/// <see cref="NetStack"/>. Everything above TCP — HTTP/1.1, keep-alive and the connection pool, chunked coding, HTTPS,
/// redirects, decompression — is the runtime's own code; this class only opens the connection
/// (<see cref="SocketsHttpHandler.ConnectCallback"/>) and hands back its <see cref="UserTcpConnection.Stream"/>.
/// </summary>
public static class UserTcpHttp
{
    /// <summary>
    /// A handler whose every connection goes through <paramref name="stack"/>: <c>new HttpClient(UserTcpHttp.CreateHandler(stack))</c>.
    /// Proxies are off (the stack reaches only its own link, not a proxy named by the host's environment); set other
    /// handler properties (timeouts, pool sizes, redirects) on the result as usual.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(NetStack stack, UserTcpHttpOptions? options = null) => new()
    {
        UseProxy = false,
        ConnectCallback = ConnectCallback(stack, options),
    };

    /// <summary>
    /// The <see cref="SocketsHttpHandler.ConnectCallback"/> for a handler configured by hand: opens a connection on
    /// <paramref name="stack"/> to the request's host (an IPv4 address, or whatever <see cref="UserTcpHttpOptions.ResolveHost"/>
    /// makes of the name) and port. A refused or timed-out connection fails the request with the
    /// <see cref="SocketException"/> a kernel socket would have given (inside an <see cref="HttpRequestException"/>).
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(NetStack stack, UserTcpHttpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= new UserTcpHttpOptions();
        return async (context, cancellationToken) =>
        {
            DnsEndPoint target = context.DnsEndPoint;
            Ipv4Address address = await ResolveAsync(target.Host, options, cancellationToken).ConfigureAwait(false);
            UserTcpConnection connection = await stack.ConnectAsync(new IpEndpoint(address, checked((ushort)target.Port)), options.Connection,
                cancellationToken).ConfigureAwait(false);
            return connection.Stream;
        };
    }

    private static async ValueTask<Ipv4Address> ResolveAsync(string host, UserTcpHttpOptions options, CancellationToken cancellationToken)
    {
        if (Ipv4Address.TryParse(host, out Ipv4Address literal)) return literal;
        if (options.ResolveHost is { } resolve) return await resolve(host, cancellationToken).ConfigureAwait(false);
        // The error a kernel socket gives for a name it cannot resolve (HttpClient reports it as NameResolutionError), saying what to do.
        throw new SocketException((int)SocketError.HostNotFound,
            $"UserTcp has no DNS: '{host}' is not an IPv4 address; use one (http://10.77.0.1/), or set UserTcpHttpOptions.ResolveHost");
    }
}

/// <summary>How <see cref="UserTcpHttp"/> opens its connections.</summary>
public sealed record UserTcpHttpOptions
{
    /// <summary>
    /// Socket options for every connection (buffer sizes, keepalive). NoDelay is on by default, as on the sockets
    /// HttpClient opens itself: a request's last segment should not wait for an ACK.
    /// </summary>
    public UserTcpConnectionOptions Connection { get; init; } = new() { NoDelay = true };

    /// <summary>
    /// Turns a host name that is not an IPv4 literal into an address (UserTcp has no DNS client of its own); null: such
    /// names fail with <see cref="SocketError.HostNotFound"/>, which HttpClient reports as <see cref="HttpRequestError.NameResolutionError"/>.
    /// </summary>
    public Func<string, CancellationToken, ValueTask<Ipv4Address>>? ResolveHost { get; init; }
}
