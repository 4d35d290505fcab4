using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Live;
using UserTcp.Services;
using UserTcp.Sockets;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>
/// UserTcp running for one test: a namespace of its own, the TUN device utcp0 inside it (kernel 10.77.0.1/24),
/// a <see cref="NetStack"/> on 10.77.0.2 with short timers, its events recorded, and optionally every packet
/// written to a pcap. Disposal stops the stack (which removes the interface), then deletes the namespace.
/// </summary>
internal sealed class LiveStack : IAsyncDisposable
{
    /// <summary>Linux keeps TIME-WAIT for 60 s; the tests wait 300 ms.</summary>
    public static readonly TimeSpan ShortTimeWait = TimeSpan.FromMilliseconds(300);

    // Bounds every wait of a test that forgot to bound its own.
    private readonly CancellationTokenSource _bound;
    private int _disposed;

    private readonly UserTcp.Live.LiveStack _live;

    private LiveStack(NetNamespace ns, UserTcp.Live.LiveStack live, ServiceHost? services, EngineRecorder events, string? pcapPath, TimeSpan bound)
    {
        Namespace = ns;
        _live = live;
        Stack = live.Stack;
        Services = services;
        Events = events;
        PcapPath = pcapPath;
        _bound = new CancellationTokenSource(bound);
    }

    public NetNamespace Namespace { get; }
    public NetStack Stack { get; }
    /// <summary>echo 7, discard 9, daytime 13, chargen 19 and http 80 on 10.77.0.2, when asked for.</summary>
    public ServiceHost? Services { get; }
    public EngineRecorder Events { get; }
    /// <summary>Where every packet in and out is written, when asked for.</summary>
    public string? PcapPath { get; }
    /// <summary>Cancelled when the test's time is up.</summary>
    public CancellationToken Token => _bound.Token;

    /// <summary>The fault injector on the device, when faults were given.</summary>
    public FaultInjectingDevice? Faults => _live.Faults;

    /// <summary>The TUN device under the stack (its first queue): the offloads the kernel granted, and its counters.</summary>
    public TunDevice Device => _live.Device;

    /// <summary>Every queue of the TUN device, one shard each (several when USERTCP_TUN_QUEUES or the test asks).</summary>
    public IReadOnlyList<TunDevice> Queues => _live.Queues;

    public static LiveStack Start(TimeSpan? bound = null, bool recordSegments = true, string? pcapPath = null, TcpConfig? tcp = null, bool services = false,
        IReadOnlyList<FaultRule>? faults = null, int faultSeed = 1, TunDeviceMode? mode = null, int? queues = null)
    {
        NetNamespace ns = NetNamespace.Create();
        try
        {
            var events = new EngineRecorder(recordSegments);
            UserTcp.Live.LiveStack live = new LiveStackBuilder
            {
                Namespace = ns.Name,
                Mode = mode ?? LiveDefaults.Mode,
                Queues = queues ?? LiveDefaults.Queues,
                CapturePath = pcapPath,
                Tcp = tcp ?? new TcpConfig { TimeWait = ShortTimeWait, FinWait2Timeout = TimeSpan.FromSeconds(5) },
                CloseOnDispose = CloseMode.Reset,
                Events = events,
                Faults = faults ?? [],
                FaultSeed = faultSeed,
            }.Start();
            ServiceHost? host = services ? ServiceHost.Start(live.Stack) : null;
            return new LiveStack(ns, live, host, events, pcapPath, bound ?? TimeSpan.FromSeconds(60));
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            if (Services is not null)
            {
                await Services.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
                await Services.DisposeAsync();
            }
        }
        finally
        {
            try
            {
                await _live.DisposeAsync();
            }
            finally
            {
                Namespace.Dispose();
                _bound.Dispose();
            }
        }
    }
}
