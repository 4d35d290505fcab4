using UserTcp.Testing;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Services.Tests;

/// <summary>The stack pair with every service running on the server stack.</summary>
public sealed class TwoStacks : StackPair
{
    private TwoStacks(TimeProvider? time, ServiceHostOptions? options) =>
        Host = ServiceHost.Start(Server, (options ?? new ServiceHostOptions()) with { TimeProvider = time });

    public ServiceHost Host { get; }

    public static TwoStacks Start(TimeProvider? time = null, ServiceHostOptions? options = null) => new(time, options);

    public Task<UserTcpConnection> ConnectAsync(ushort port) => Client.ConnectAsync(new IpEndpoint(ServerAddress, port), Token);

    protected override async ValueTask StopServerAsync() => await Host.StopAsync(Token);
}
