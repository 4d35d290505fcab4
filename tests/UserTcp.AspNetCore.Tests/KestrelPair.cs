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
/// The stack pair with an ASP.NET Core app on the UserTcp transport on the server stack (http://10.0.0.2:80), and
/// HttpClient over UserTcp on the client stack. The app's log is kept, so tests can assert the transport's silence.
/// </summary>
public sealed class KestrelPair : StackPair
{
    public const ushort Port = 80;
    public static readonly Uri BaseAddress = new($"http://{ServerAddress}:{Port}/");

    private KestrelPair(TcpConfig? tcp) : base(tcp) { }

    public WebApplication App { get; private set; } = null!;
    public AppLog Log { get; } = new();

    /// <summary>Starts the stacks and the app that <paramref name="map"/> builds, listening on the server stack's port 80.</summary>
    public static async Task<KestrelPair> StartAsync(Action<WebApplication> map, Action<UserTcpTransportOptions>? transport = null,
        Action<KestrelServerOptions>? kestrel = null, TcpConfig? tcp = null, string? url = null)
    {
        var pair = new KestrelPair(tcp);
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

    protected override async ValueTask StopServerAsync()
    {
        if (App is not null)
        {
            await App.StopAsync(CancellationToken.None);
            await App.DisposeAsync();
        }
    }
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
