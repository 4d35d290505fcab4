using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>How a <see cref="ServiceHost"/> is set up.</summary>
public sealed record ServiceHostOptions
{
    /// <summary>The services to start and their ports (default: all five on their RFC ports).</summary>
    public IReadOnlyList<ServiceSpec> Services { get; init; } = ServiceSpec.All;
    public HttpServiceOptions Http { get; init; } = new();
    /// <summary>The clock daytime reads.</summary>
    public TimeProvider? TimeProvider { get; init; }
    public ILoggerFactory? LoggerFactory { get; init; }
}

/// <summary>A service and the port it runs on in a <see cref="ServiceHost"/>.</summary>
public sealed record ServiceBinding(TcpService Service, ushort Port)
{
    /// <summary>"echo 7".</summary>
    public override string ToString() => $"{Service.Name} {Port}";
}

/// <summary>
/// Runs a set of services on one <see cref="NetStack"/> and stops them together: <see cref="Start(NetStack, ServiceHostOptions?)"/>
/// listens on every port before it returns (a port conflict throws, with nothing left running); <see cref="StopAsync"/>
/// stops listening, lets each connection close with a FIN, and waits for every connection's task. The stack is the
/// caller's: dispose it after the host.
/// </summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _running;

    private ServiceHost(NetStack stack, IReadOnlyList<ServiceBinding> services)
    {
        Stack = stack;
        Services = services;
        var runs = new List<Task>();
        try
        {
            foreach (ServiceBinding binding in services) runs.Add(binding.Service.RunAsync(stack, binding.Port, _stop.Token));
        }
        catch
        {
            _stop.Cancel();
            Task.WhenAll(runs).Wait(TimeSpan.FromSeconds(5));
            _stop.Dispose();
            throw;
        }
        _running = Task.WhenAll(runs);
    }

    public NetStack Stack { get; }
    public IReadOnlyList<ServiceBinding> Services { get; }

    /// <summary>Starts the services named in <paramref name="options"/> (all five by default).</summary>
    /// <exception cref="System.Net.Sockets.SocketException">A port already has a listener on this stack.</exception>
    public static ServiceHost Start(NetStack stack, ServiceHostOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        options ??= new ServiceHostOptions();
        ILoggerFactory logs = options.LoggerFactory ?? NullLoggerFactory.Instance;
        TimeProvider time = options.TimeProvider ?? TimeProvider.System;
        return Start(stack, options.Services.Select(spec => new ServiceBinding(Create(spec.Name, options.Http, time, logs), spec.Port)));
    }

    /// <summary>Starts the given services (yours, or the built-in ones configured by hand).</summary>
    public static ServiceHost Start(NetStack stack, IEnumerable<ServiceBinding> services)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(services);
        return new ServiceHost(stack, [.. services]);
    }

    /// <summary>A built-in service by its name: echo, discard, daytime, chargen or http.</summary>
    public static TcpService Create(string name, HttpServiceOptions? http = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        ILoggerFactory logs = loggerFactory ?? NullLoggerFactory.Instance;
        ILogger Log(string service) => logs.CreateLogger($"UserTcp.Services.{service}");
        return name.ToUpperInvariant() switch
        {
            "ECHO" => new EchoService(Log("Echo")),
            "DISCARD" => new DiscardService(Log("Discard")),
            "DAYTIME" => new DaytimeService(time, Log("Daytime")),
            "CHARGEN" => new ChargenService(Log("Chargen")),
            "HTTP" => new HttpService(http, logs),
            _ => throw new ArgumentException($"unknown service '{name}': choose from {string.Join(", ", ServiceSpec.All.Select(s => s.Name))}", nameof(name)),
        };
    }

    /// <summary>"echo 7, discard 9, daytime 13, chargen 19, http 80".</summary>
    public string Describe() => string.Join(", ", Services);

    /// <summary>The service of that name, or null.</summary>
    public TcpService? this[string name] => Services.FirstOrDefault(b => b.Service.Name.Equals(name, StringComparison.OrdinalIgnoreCase))?.Service;

    /// <summary>
    /// Stops listening, cancels every connection's task (each closes its connection with a FIN) and waits for them all.
    /// <paramref name="cancellationToken"/> bounds the wait; the stop itself has been requested either way.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync().ConfigureAwait(false);
        await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
