using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Services.Tests;

/// <summary>
/// A server stack running every service and a client stack, joined by an in-memory pipe, on real threads and the real
/// clock; every wait is bounded. The server's engine events are recorded for assertions on state sequences.
/// </summary>
public sealed class TwoStacks : IAsyncDisposable
{
    public static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    public static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly CancellationTokenSource _timeout = new(Bound);

    private TwoStacks(TimeProvider? time, ServiceHostOptions? options)
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        var tcp = new TcpConfig { TimeWait = TimeSpan.FromMilliseconds(200) };
        Server = NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress, Tcp = tcp, Events = ServerEvents });
        Client = NetStack.Start(pipe.B, new NetStackOptions { Address = ClientAddress, Tcp = tcp, Events = ClientEvents });
        Host = ServiceHost.Start(Server, (options ?? new ServiceHostOptions()) with { TimeProvider = time });
    }

    public NetStack Server { get; }
    public NetStack Client { get; }
    public ServiceHost Host { get; }
    public EventRecorder ServerEvents { get; } = new();
    public EventRecorder ClientEvents { get; } = new();
    public CancellationToken Token => _timeout.Token;

    public static TwoStacks Start(TimeProvider? time = null, ServiceHostOptions? options = null) => new(time, options);

    public Task<UserTcpConnection> ConnectAsync(ushort port) => Client.ConnectAsync(new IpEndpoint(ServerAddress, port), Token);

    /// <summary>Waits until <paramref name="condition"/> holds, polling; fails the test when the bound runs out.</summary>
    public async Task EventuallyAsync(Func<bool> condition, string what)
    {
        while (!condition())
        {
            if (Token.IsCancellationRequested) Assert.Fail($"timed out waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Host.StopAsync(Token);
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        _timeout.Dispose();
    }
}
