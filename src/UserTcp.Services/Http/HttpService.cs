using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.AspNetCore;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// HTTP (port 80): a minimal ASP.NET Core application on the UserTcp transport (<see cref="HttpEndpoints"/> lists what it
/// answers). Kestrel does HTTP/1.x itself: keep-alive, pipelining, HTTP/1.0, HEAD, chunked coding, limits and errors.
/// The host is built without configuration files, environment settings or a console lifetime: the process that runs
/// the service owns its signals and its settings.
/// </summary>
public sealed class HttpService : TcpService
{
    public const ushort Port = 80;

    private readonly HttpServiceOptions _options;
    private readonly ILoggerFactory _loggerFactory;

    public HttpService(HttpServiceOptions? options = null, ILoggerFactory? loggerFactory = null)
        : base("http", Port, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("UserTcp.Services.Http"))
    {
        _options = options ?? new HttpServiceOptions();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>Starts the application on <paramref name="stack"/>'s port; cancelling stops it gracefully (see <see cref="HttpServiceOptions.ShutdownTimeout"/>).</summary>
    /// <exception cref="System.Net.Sockets.SocketException">The port already has a listener (AddressAlreadyInUse).</exception>
    public override Task RunAsync(NetStack stack, ushort port = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        WebApplication app = Build(stack, port == 0 ? DefaultPort : port);
        try
        {
            // Kestrel binds on the UserTcp transport synchronously, so this wait is short; it makes a port conflict throw
            // here, before RunAsync returns, as every service's does.
            app.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (IOException e) when (e.InnerException is AddressInUseException inUse)
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.AddressAlreadyInUse, inUse.Message);
        }
        catch
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        ServiceLog.Listening(Logger, Name, new IpEndpoint(stack.Address, port == 0 ? DefaultPort : port));
        return ServeUntilCancelledAsync(app, cancellationToken);
    }

    private async Task ServeUntilCancelledAsync(WebApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The stop was asked for.
        }
        // Kestrel stops listening, lets requests in progress finish and closes idle connections (FIN), resetting
        // whatever is still busy after the shutdown timeout.
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        ServiceLog.Stopped(Logger, Name, Statistics.ConnectionsAccepted);
    }

    private WebApplication Build(NetStack stack, ushort port)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "usertcp-http" });
        builder.WebHost.UseKestrelCore().UseUserTcp(stack).ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.KeepAliveTimeout = _options.KeepAliveTimeout;
            kestrel.Limits.MaxRequestHeadersTotalSize = _options.MaxRequestHeadBytes;
            kestrel.Limits.MaxRequestLineSize = _options.MaxRequestHeadBytes;
            kestrel.Listen(IPAddress.Parse(stack.Address.ToString()), port, listen => listen.Use(CountConnection));
        });
        builder.Services.AddRoutingCore();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = _options.ShutdownTimeout);
        builder.Services.AddSingleton<IHostLifetime, OwnedByCaller>();
        builder.Services.AddSingleton<ILoggerFactory>(new FrameworkLogFilter(_loggerFactory));
        WebApplication app = builder.Build();
        app.Use(CountRequest);
        HttpEndpoints.Map(app, stack);
        return app;
    }

    // Kestrel connection middleware: the service's connection statistics, byte counts taken when the transport is done.
    private ConnectionDelegate CountConnection(ConnectionDelegate next) => async connection =>
    {
        IUserTcpConnectionFeature? tcp = connection.Features.Get<IUserTcpConnectionFeature>();
        Statistics.Accepted();
        if (tcp is not null) ServiceLog.Accepted(Logger, Name, tcp.Connection.RemoteEndpoint);
        tcp?.OnClosed(closed =>
        {
            Statistics.Received(closed.BytesReceived);
            Statistics.Sent(closed.BytesSent);
            if (closed.Connection.Error != TcpError.None) Statistics.Failed();
            Statistics.Finished();
            ServiceLog.Finished(Logger, Name, closed.Connection.RemoteEndpoint, closed.Connection.Error == TcpError.None ? "closed" : closed.Connection.Error.ToString());
        });
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            if (tcp is null) Statistics.Finished();
        }
    };

    private async Task CountRequest(HttpContext http, RequestDelegate next)
    {
        await next(http).ConfigureAwait(false);
        Statistics.Answered();
        if (Logger.IsEnabled(LogLevel.Debug) && http.Features.Get<IUserTcpConnectionFeature>() is { } tcp)
        {
            ServiceLog.Request(Logger, tcp.Connection.RemoteEndpoint, http.Request.Method, http.Request.Path + http.Request.QueryString,
                http.Response.StatusCode, http.Response.ContentLength ?? -1);
        }
    }

    /// <summary>The caller owns the process: no Ctrl-C handling and no "Application started" lines from the host.</summary>
    private sealed class OwnedByCaller : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The caller's log, with ASP.NET Core's own categories raised to warnings: its information lines are not the service's.</summary>
    private sealed class FrameworkLogFilter(ILoggerFactory inner) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName)
        {
            ILogger logger = inner.CreateLogger(categoryName);
            return categoryName.StartsWith("Microsoft.", StringComparison.Ordinal) ? new WarningsOnly(logger) : logger;
        }

        public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

        public void Dispose()
        {
            // The caller's factory: the caller disposes it.
        }

        private sealed class WarningsOnly(ILogger inner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && inner.IsEnabled(logLevel);

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel)) inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
