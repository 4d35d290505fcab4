using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UserTcp.AspNetCore;
using UserTcp.Sockets;
using UserTcp.Sockets.Http;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>
/// A server stack running an ASP.NET Core app on the UserTcp transport (http://10.0.0.2:80) and a client stack for
/// HttpClient over UserTcp, joined by an in-memory pipe, on real threads and the real clock; every wait is bounded.
/// Both stacks' engine events are recorded, and the app's log is kept, so tests can assert what went over the wire.
/// </summary>
public sealed class KestrelPair : IAsyncDisposable
{
    public static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    public static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);
    public const ushort Port = 80;
    public static readonly Uri BaseAddress = new($"http://{ServerAddress}:{Port}/");
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));

    private KestrelPair(TcpConfig tcp)
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        Server = NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress, Tcp = tcp, Events = ServerEvents });
        Client = NetStack.Start(pipe.B, new NetStackOptions { Address = ClientAddress, Tcp = tcp, Events = ClientEvents });
    }

    public NetStack Server { get; }
    public NetStack Client { get; }
    public WebApplication App { get; private set; } = null!;
    public WireLog ServerEvents { get; } = new();
    public WireLog ClientEvents { get; } = new();
    public AppLog Log { get; } = new();
    public CancellationToken Token => _timeout.Token;

    /// <summary>Starts the stacks and the app that <paramref name="map"/> builds, listening on the server stack's port 80.</summary>
    public static async Task<KestrelPair> StartAsync(Action<WebApplication> map, Action<UserTcpTransportOptions>? transport = null,
        Action<KestrelServerOptions>? kestrel = null, TcpConfig? tcp = null, string? url = null)
    {
        var pair = new KestrelPair(tcp ?? new TcpConfig { TimeWait = TimeSpan.FromMilliseconds(200) });
        try
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders().AddProvider(pair.Log).SetMinimumLevel(LogLevel.Debug);
            builder.WebHost.UseUserTcp(pair.Server, transport).UseUrls(url ?? BaseAddress.ToString());
            if (kestrel is not null) builder.WebHost.ConfigureKestrel(kestrel);
            pair.App = builder.Build();
            map(pair.App);
            await pair.App.StartAsync(pair.Token);
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    /// <summary>An HttpClient whose connections are the client stack's, aimed at the app.</summary>
    public HttpClient CreateClient(UserTcpHttpOptions? options = null) =>
        new(UserTcpHttp.CreateHandler(Client, options)) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Waits until <paramref name="condition"/> holds, polling; fails the test when the bound runs out.</summary>
    public async Task EventuallyAsync(Func<bool> condition, string what)
    {
        while (!condition())
        {
            if (Token.IsCancellationRequested) Assert.Fail($"timed out waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }

    /// <summary>Waits until <paramref name="value"/> has not changed for half a second (a transfer that is held back), and returns it.</summary>
    public async Task<long> SettledAsync(Func<long> value)
    {
        long last = value();
        DateTime since = DateTime.UtcNow;
        while (DateTime.UtcNow - since < TimeSpan.FromMilliseconds(500))
        {
            if (Token.IsCancellationRequested) Assert.Fail("the value never settled");
            await Task.Delay(20, CancellationToken.None);
            long now = value();
            if (now != last) (last, since) = (now, DateTime.UtcNow);
        }
        return last;
    }

    public async ValueTask DisposeAsync()
    {
        if (App is not null)
        {
            await App.StopAsync(CancellationToken.None);
            await App.DisposeAsync();
        }
        await Client.DisposeAsync();
        await Server.DisposeAsync();
        _timeout.Dispose();
    }
}

/// <summary>Every engine event of one stack, in order (the engine calls it under the stack's lock).</summary>
public sealed class WireLog : ITcpEventSink
{
    private readonly ConcurrentQueue<TcpEvent> _events = new();

    public IReadOnlyList<TcpEvent> Events => [.. _events];

    public void OnEvent(in TcpEvent tcpEvent) => _events.Enqueue(tcpEvent);

    /// <summary>The connections this stack had to <paramref name="port"/> (its local port for a server, the remote for a client).</summary>
    public IReadOnlyList<FourTuple> Connections(ushort port) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.Established
            && (e.Connection.Local.Port == port || e.Connection.Remote.Port == port)).Select(e => e.Connection).Distinct()];

    /// <summary>The segments this stack sent on <paramref name="connection"/> that carry <paramref name="flag"/>.</summary>
    public int Sent(FourTuple connection, TcpFlags flag) =>
        Events.Count(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == connection && (e.Segment.Flags & flag) != 0);

    /// <summary>The states a connection entered, in order.</summary>
    public IReadOnlyList<TcpState> StatesOf(FourTuple connection) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection).Select(e => e.NewState)];
}

/// <summary>The app's log, kept: tests assert that the transport logged no error of its own.</summary>
public sealed class AppLog : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message)> _entries = new();

    public IReadOnlyList<(string Category, LogLevel Level, EventId Id, string Message)> Entries => [.. _entries];

    /// <summary>What the transport logged at warning level or above.</summary>
    public IReadOnlyList<string> TransportErrors =>
        [.. Entries.Where(e => e.Category == "UserTcp.AspNetCore" && e.Level >= LogLevel.Warning).Select(e => e.Message)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(AppLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log._entries.Enqueue((category, logLevel, eventId, formatter(state, exception) + (exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})")));
    }
}
