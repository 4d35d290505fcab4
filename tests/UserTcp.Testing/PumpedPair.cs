using Microsoft.Extensions.Time.Testing;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Testing;

/// <summary>
/// Two stacks joined by a <see cref="MemoryPacketPipe"/>, with no threads of their own, on one
/// <see cref="FakeTimeProvider"/>: the test moves everything. <see cref="Pump"/> passes packets back and forth until
/// both stacks are quiet; <see cref="RunUntil"/> also jumps the clock from deadline to deadline, so a 60 s TIME-WAIT
/// takes microseconds and every run of the same test does exactly the same.
/// </summary>
public sealed class PumpedPair : IAsyncDisposable
{
    public static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    public static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);

    /// <param name="tcp">Both stacks' TCP configuration (Linux's defaults if null), unless one of the next two is given.</param>
    /// <param name="serverEvents">Where the server's engine events go.</param>
    /// <param name="clientEvents">Where the client's engine events go.</param>
    /// <param name="mtu">The pipe's MTU.</param>
    /// <param name="serverTcp">The server's TCP configuration, in place of <paramref name="tcp"/>.</param>
    /// <param name="clientTcp">The client's TCP configuration, in place of <paramref name="tcp"/>.</param>
    /// <param name="wrapServerDevice">Wraps the server's end of the pipe (a capture or a counter of what the server writes).</param>
    public PumpedPair(TcpConfig? tcp = null, ITcpEventSink? serverEvents = null, ITcpEventSink? clientEvents = null, int mtu = 1500,
        TcpConfig? serverTcp = null, TcpConfig? clientTcp = null, Func<IPacketDevice, IPacketDevice>? wrapServerDevice = null)
    {
        Pipe = MemoryPacketPipe.Create(mtu);
        tcp ??= new TcpConfig();
        serverTcp ??= tcp;
        clientTcp ??= tcp;
        // Every run the same: the engines' secrets (ISNs, ports) come from fixed seeds unless the test chose its own.
        TcpConfig server = serverTcp.RandomSeed is null ? serverTcp with { RandomSeed = 1 } : serverTcp;
        TcpConfig client = clientTcp.RandomSeed is null ? clientTcp with { RandomSeed = 2 } : clientTcp;
        IPacketDevice serverDevice = wrapServerDevice?.Invoke(Pipe.A) ?? Pipe.A;
        Server = NetStack.Create(serverDevice, new NetStackOptions { Address = ServerAddress, Tcp = server, Events = serverEvents }, timeProvider: Time);
        Client = NetStack.Create(Pipe.B, new NetStackOptions { Address = ClientAddress, Tcp = client, Events = clientEvents }, timeProvider: Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    public MemoryPacketPipe Pipe { get; }
    public NetStack Server { get; }
    public NetStack Client { get; }

    /// <summary>
    /// The server listens on <paramref name="port"/>, the client connects to it, and one pump completes the handshake and
    /// the accept: the listener and both ends, established. Throws if the pump leaves either end unconnected.
    /// </summary>
    public async Task<(UserTcpListener Listener, UserTcpConnection Client, UserTcpConnection Server)> ConnectAsync(
        ushort port = 80, UserTcpConnectionOptions? clientOptions = null)
    {
        UserTcpListener listener = Server.Listen(port);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection client = Client.Connect(new IpEndpoint(ServerAddress, port), clientOptions);
        Pump();
        if (!accepted.IsCompletedSuccessfully || client.State != TcpState.Established)
        {
            throw new InvalidOperationException($"the pump left the client {client.State} and the accept {(accepted.IsCompleted ? "done" : "pending")}");
        }
        return (listener, client, await accepted);
    }

    /// <summary>Pumps both stacks until neither takes a packet; returns how many packets were taken in all.</summary>
    public int Pump()
    {
        int total = 0;
        for (int rounds = 0; rounds < 100_000; rounds++)
        {
            int moved = Server.Pump() + Client.Pump();
            if (moved == 0) return total;
            total += moved;
        }
        throw new InvalidOperationException("the stacks kept exchanging packets for 100,000 rounds without the clock moving");
    }

    /// <summary>Moves the clock to the earlier of both stacks' next deadlines (if it is before <paramref name="limit"/>) and pumps; false when none is.</summary>
    public bool StepToNextDeadline(TimeSpan limit)
    {
        TimeSpan? next = Earliest(Server.NextDeadline, Client.NextDeadline);
        if (next is not TimeSpan due || due > limit) return false;
        TimeSpan now = Server.Now;
        if (due > now) Time.Advance(due - now);
        Pump();
        return true;
    }

    /// <summary>Pumps and jumps from deadline to deadline until <paramref name="done"/> holds; fails after <paramref name="limit"/> of stack time.</summary>
    public void RunUntil(Func<bool> done, TimeSpan limit)
    {
        Pump();
        TimeSpan end = Server.Now + limit;
        while (!done())
        {
            if (!StepToNextDeadline(end))
            {
                throw new TimeoutException($"not done after {limit.TotalSeconds} s of stack time (the stacks have no timer due before then)");
            }
        }
    }

    /// <summary>Advances the clock by <paramref name="time"/>, firing every deadline on the way at its own instant.</summary>
    public void Advance(TimeSpan time)
    {
        TimeSpan end = Server.Now + time;
        Pump();
        while (StepToNextDeadline(end)) { }
        if (end > Server.Now) Time.Advance(end - Server.Now);
        Pump();
    }

    private static TimeSpan? Earliest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : a < b ? a : b;

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}
