using System.Diagnostics;
using System.Net;
using UserTcp.Engine;
using UserTcp.Live;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>One connection a scenario opened: the kernel's socket, UserTcp's connection, and its id from UserTcp's side.</summary>
public sealed record LabConnection(KernelSocket Kernel, UserTcpConnection UserTcp, FourTuple Id);

/// <summary>
/// What a scenario drives while it runs: its namespace, the live stack (UserTcp at 10.77.0.2 on utcp0, faults on the
/// link), the recorders, and kernel sockets. Every wait is bounded, by its own timeout and by the run's
/// <see cref="Token"/>; what each application does is marked on the timeline with <see cref="Mark"/>.
/// </summary>
public sealed class LabSession
{
    private readonly List<KernelSocket> _kernelSockets = [];
    private readonly List<LabMark> _marks = [];
    private readonly List<LabReading> _readings = [];

    internal LabSession(LabScenario scenario, LabRole role, bool full, CongestionControlAlgorithm congestionControl, ScratchNamespace ns,
        LiveStack live, EngineRecorder engine, WireRecorder wire, KernelSocketSampler kernel, CancellationToken token)
    {
        Scenario = scenario;
        Role = role;
        Full = full;
        CongestionControl = congestionControl;
        Namespace = ns;
        Live = live;
        Engine = engine;
        Wire = wire;
        Kernel = kernel;
        Token = token;
    }

    public LabScenario Scenario { get; }
    public LabRole Role { get; }
    /// <summary>Real timers: wait them out.</summary>
    public bool Full { get; }
    /// <summary>The congestion control of both sides: every kernel socket the run makes (TCP_CONGESTION) and UserTcp's connections.</summary>
    public CongestionControlAlgorithm CongestionControl { get; }
    public ScratchNamespace Namespace { get; }
    public LiveStack Live { get; }
    public NetStack Stack => Live.Stack;
    public EngineRecorder Engine { get; }
    public WireRecorder Wire { get; }
    public KernelSocketSampler Kernel { get; }
    /// <summary>Cancelled when the run's time bound is up.</summary>
    public CancellationToken Token { get; }
    /// <summary>The stack's clock: every record of the run is on it.</summary>
    public TimeSpan Now => Live.Now;

    /// <summary>The kernel's address on the link (10.77.0.1).</summary>
    public static IPAddress KernelAddress => LiveDefaults.KernelAddress.Address;
    /// <summary>UserTcp's address (10.77.0.2).</summary>
    public static Ipv4Address UserTcpAddress => LiveDefaults.StackAddress;
    /// <summary>UserTcp's address and <paramref name="port"/>, as a kernel socket connects to it.</summary>
    public static IPEndPoint UserTcpEndPoint(ushort port) => new(IPAddress.Parse(UserTcpAddress.ToString()), port);
    /// <summary>The kernel's address and <paramref name="port"/>, as UserTcp connects to it.</summary>
    public static IpEndpoint KernelEndpoint(ushort port) => new(LiveDefaults.KernelHost, port);

    internal IReadOnlyList<LabMark> Marks
    {
        get
        {
            lock (_marks) return [.. _marks];
        }
    }

    internal IReadOnlyList<LabReading> Readings
    {
        get
        {
            lock (_readings) return [.. _readings.OrderBy(r => r.At)];
        }
    }

    internal IReadOnlyList<KernelSocket> KernelSockets
    {
        get
        {
            lock (_kernelSockets) return [.. _kernelSockets];
        }
    }

    /// <summary>Notes on the timeline what one side's application did now.</summary>
    public void Mark(LabSide side, string what, FourTuple? connection = null) => Mark(side, what, connection, Now);

    /// <summary>Notes what one side's application did at <paramref name="at"/>, an instant its own thread took when it acted.</summary>
    public void Mark(LabSide side, string what, FourTuple? connection, TimeSpan at)
    {
        lock (_marks) _marks.Add(new LabMark(at, side, what, connection));
    }

    /// <summary>Keeps a number read from one side (<see cref="LabReading"/>) in the record, stamped <paramref name="at"/> or now.</summary>
    public void Note(LabSide side, FourTuple connection, string name, long value, TimeSpan? at = null)
    {
        var reading = new LabReading(at ?? Now, side, connection, name, value);
        lock (_readings) _readings.Add(reading);
    }

    /// <summary>
    /// Opens a connection: the kernel connects to UserTcp listening on <paramref name="port"/> (<paramref name="kernelConnects"/>),
    /// or UserTcp connects to the kernel listening there. Returns both ends once both are established.
    /// <paramref name="kernelOptions"/> sets the kernel's socket up before its SYN: the connecting socket, or the listening
    /// one, whose options the accepted socket inherits.
    /// </summary>
    public async Task<LabConnection> OpenAsync(ushort port, bool kernelConnects = true, UserTcpConnectionOptions? options = null, Action<KernelSocket>? kernelOptions = null)
    {
        TimeSpan timeout = TimeSpan.FromSeconds(10);
        if (kernelConnects)
        {
            using UserTcpListener listener = Stack.Listen(port, options: options);
            KernelSocket client = Track(NewKernelSocket());
            kernelOptions?.Invoke(client);
            TimeSpan called = Now; // connect() is marked when it was called, before its SYN, not once the handshake is done
            Task connecting = client.ConnectAsync(UserTcpEndPoint(port), timeout);
            UserTcpConnection accepted = await listener.AcceptAsync(Token).AsTask().WaitAsync(timeout, Token).ConfigureAwait(false);
            await connecting.WaitAsync(Token).ConfigureAwait(false);
            Mark(LabSide.Kernel, $"connect() to port {port}", new FourTuple(accepted.LocalEndpoint, accepted.RemoteEndpoint), called);
            return new LabConnection(client, accepted, new FourTuple(accepted.LocalEndpoint, accepted.RemoteEndpoint));
        }
        using KernelSocket server = KernelListener(new IPEndPoint(KernelAddress, port));
        kernelOptions?.Invoke(server);
        Task<KernelSocket> accepting = server.AcceptAsync(timeout);
        TimeSpan connectCalled = Now;
        // connect() on a thread of its own at nice -20: its pass stamps the SYN's send time, then writes the SYN. On the thread
        // pool of a busy machine 140–310 ms passed between the two, and the handshake's RTT sample took them in (so did
        // UserTcp's RTO, three times that sample: RFC 6298 §2.2), where the kernel stamps a SYN as it transmits it.
        PeerThread<UserTcpConnection> opening = await PeerThread.StartAsync("lab UserTcp connect",
            () => Stack.Connect(KernelEndpoint(port), options), Token).ConfigureAwait(false);
        UserTcpConnection connection = await opening.Completion.WaitAsync(timeout, Token).ConfigureAwait(false);
        if (!connection.FastOpenAwaitsData) await connection.WaitConnectedAsync(Token).WaitAsync(timeout, Token).ConfigureAwait(false); // as ConnectAsync
        KernelSocket kernel = Track(await accepting.WaitAsync(Token).ConfigureAwait(false));
        var id = new FourTuple(connection.LocalEndpoint, connection.RemoteEndpoint);
        Mark(LabSide.UserTcp, $"connect() to port {port}", id, connectCalled);
        return new LabConnection(kernel, connection, id);
    }

    /// <summary>A kernel socket in the run's namespace, not yet connected, running the run's <see cref="CongestionControl"/>.</summary>
    public KernelSocket NewKernelSocket(IPEndPoint? bindTo = null, bool? reuseAddress = null) => KernelSocket.Create(Namespace, CongestionControl, bindTo, reuseAddress);

    /// <summary>A kernel listener in the run's namespace running the run's <see cref="CongestionControl"/>, as the sockets it accepts do.</summary>
    public KernelSocket KernelListener(IPEndPoint at, bool? reuseAddress = null) => KernelSocket.Listen(Namespace, CongestionControl, at, reuseAddress: reuseAddress);

    /// <summary>Keeps a kernel socket the scenario made itself, so the run closes it at its end.</summary>
    public KernelSocket Track(KernelSocket socket)
    {
        lock (_kernelSockets) _kernelSockets.Add(socket);
        return socket;
    }

    /// <summary>Waits <paramref name="time"/> (cut short only by the run's bound).</summary>
    public Task Delay(TimeSpan time) => Task.Delay(time, Token);

    /// <summary>Waits until <paramref name="condition"/> holds, checking every few milliseconds; false when <paramref name="timeout"/> ran out.</summary>
    public async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) > timeout) return false;
            await Task.Delay(5, Token).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>Waits until UserTcp's side of <paramref name="connection"/> has entered <paramref name="state"/>.</summary>
    public Task<bool> UserTcpReachesAsync(FourTuple connection, TcpState state, TimeSpan timeout) =>
        Engine.WaitForStateAsync(connection, state, timeout, Token);

    /// <summary>Waits until the kernel's socket of <paramref name="connection"/> has been seen in <paramref name="state"/> (null: gone from the table).</summary>
    public Task<bool> KernelReachesAsync(FourTuple connection, KernelTcpState? state, TimeSpan timeout)
    {
        var local = new IPEndPoint(IPAddress.Parse(connection.Remote.Address.ToString()), connection.Remote.Port);
        var remote = new IPEndPoint(IPAddress.Parse(connection.Local.Address.ToString()), connection.Local.Port);
        return UntilAsync(() => Kernel.History(local, remote).Any(s => s.State == state && (state is not null || Kernel.History(local, remote).Count > 1)), timeout);
    }

    /// <summary>Waits until neither side holds <paramref name="connection"/> any more (UserTcp CLOSED, the kernel's socket gone).</summary>
    public async Task<bool> BothGoneAsync(FourTuple connection, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        bool userTcp = await UserTcpReachesAsync(connection, TcpState.Closed, timeout).ConfigureAwait(false);
        TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
        bool kernel = await KernelReachesAsync(connection, null, left > TimeSpan.Zero ? left : TimeSpan.Zero).ConfigureAwait(false);
        return userTcp && kernel;
    }
}
