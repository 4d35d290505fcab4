using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Testing;

/// <summary>
/// A server stack (10.0.0.2) and a client stack (10.0.0.1) joined by an in-memory pipe, on real threads and the real
/// clock, with both stacks' engine events recorded and one bound (60 s) for every wait. Test fixtures put their
/// server (services, an ASP.NET Core app) on <see cref="Server"/> and stop it in <see cref="StopServerAsync"/>.
/// </summary>
public abstract class StackPair : IAsyncDisposable
{
    public static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    public static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly CancellationTokenSource _timeout = new(Bound);

    /// <param name="tcp">Both stacks' TCP settings; by default TIME-WAIT lasts 200 ms, so ports come back quickly.</param>
    protected StackPair(TcpConfig? tcp = null)
    {
        tcp ??= new TcpConfig { TimeWait = TimeSpan.FromMilliseconds(200) };
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        Server = NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress, Tcp = tcp, Events = ServerEvents });
        Client = NetStack.Start(pipe.B, new NetStackOptions { Address = ClientAddress, Tcp = tcp, Events = ClientEvents });
    }

    public NetStack Server { get; }
    public NetStack Client { get; }
    public EventRecorder ServerEvents { get; } = new();
    public EventRecorder ClientEvents { get; } = new();
    public CancellationToken Token => _timeout.Token;

    /// <summary>Waits until <paramref name="condition"/> holds, polling; throws <see cref="TimeoutException"/> when the bound runs out.</summary>
    public async Task EventuallyAsync(Func<bool> condition, string what)
    {
        while (!condition())
        {
            if (Token.IsCancellationRequested) throw new TimeoutException($"timed out waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }

    /// <summary>
    /// Waits until <paramref name="value"/>, a count of bytes moved, is at least <paramref name="atLeast"/> (the transfer
    /// has got as far as any limit lets it: on a loaded machine a transfer can pause longer than the settling time before
    /// that) and then has not changed for half a second (the transfer is held back), and returns it. A transfer that
    /// stops short of <paramref name="atLeast"/> times out.
    /// </summary>
    public async Task<long> SettledAsync(Func<long> value, long atLeast)
    {
        await EventuallyAsync(() => value() >= atLeast, $"the transfer moved {atLeast} bytes");
        long last = value();
        DateTime since = DateTime.UtcNow;
        while (DateTime.UtcNow - since < TimeSpan.FromMilliseconds(500))
        {
            if (Token.IsCancellationRequested) throw new TimeoutException("the value never settled");
            await Task.Delay(20, CancellationToken.None);
            long now = value();
            if (now != last) (last, since) = (now, DateTime.UtcNow);
        }
        return last;
    }

    /// <summary>Stops what the fixture runs on the server stack; called before the stacks go.</summary>
    protected abstract ValueTask StopServerAsync();

    public async ValueTask DisposeAsync()
    {
        await StopServerAsync();
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        _timeout.Dispose();
        GC.SuppressFinalize(this);
    }
}
