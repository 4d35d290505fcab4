using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// A service on a TCP port of a <see cref="NetStack"/>, as a <see cref="ServiceHost"/> runs it: <see cref="RunAsync"/>
/// listens before it returns and serves until cancelled. The classic services are <see cref="ConnectionService"/>s (a task
/// per connection); HTTP is an ASP.NET Core application on the UserTcp transport (<see cref="HttpService"/>).
/// </summary>
public abstract class TcpService
{
    protected TcpService(string name, ushort defaultPort, ILogger? logger)
    {
        Name = name;
        DefaultPort = defaultPort;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The service's name as `usertcp serve --services` spells it, e.g. "echo".</summary>
    public string Name { get; }
    /// <summary>The port its RFC assigns.</summary>
    public ushort DefaultPort { get; }
    public ServiceStatistics Statistics { get; } = new();
    protected ILogger Logger { get; }

    /// <summary>
    /// Listens on <paramref name="port"/> (0: <see cref="DefaultPort"/>) and serves until <paramref name="cancellationToken"/>
    /// is cancelled; then stops listening, lets every connection close with a FIN, and completes when they have all
    /// finished. Listening happens before this returns, so a port already taken throws here.
    /// </summary>
    /// <exception cref="System.Net.Sockets.SocketException">The port already has a listener (AddressAlreadyInUse).</exception>
    public abstract Task RunAsync(NetStack stack, ushort port = 0, CancellationToken cancellationToken = default);
}
