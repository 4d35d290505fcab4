using System.Runtime.CompilerServices;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Simulation.Tests;

/// <summary>One side of a simulation: an engine on its end of the link, with everything it did on record.</summary>
internal sealed class Node : IPacketTransmitter, ITcpEventSink
{
    private readonly Simulation _simulation;
    private readonly TcpConfig _config;

    public Node(Simulation simulation, string name, Ipv4Address address, TcpConfig config, FaultInjector device)
    {
        _simulation = simulation;
        _config = config;
        Name = name;
        Address = address;
        Device = device;
        Engine = new TcpEngine(address, config, this);
    }

    public string Name { get; }
    public Ipv4Address Address { get; }
    public FaultInjector Device { get; }
    public TcpEngine Engine { get; private set; }
    public List<TcpEvent> Events { get; } = [];
    /// <summary>Keep every event (off for long transfers, where the list would hold millions).</summary>
    public bool RecordEvents { get; set; } = true;
    /// <summary>Called for every event, recorded or not (a test's own probe).</summary>
    public Action<TcpEvent>? OnEventSeen { get; set; }

    public void Transmit(ReadOnlySpan<byte> packet) => Device.Transmit(packet, _simulation.Now);

    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (RecordEvents) Events.Add(tcpEvent);
        OnEventSeen?.Invoke(tcpEvent);
    }

    /// <summary>The host reboots: every connection is forgotten (the half-open case).</summary>
    public void Restart(TcpConfig? config = null) => Engine = new TcpEngine(Address, config ?? _config, this);

    /// <summary>The states a connection went through, in order.</summary>
    public List<TcpState> States(FourTuple id) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == id).Select(e => e.NewState)];

    /// <summary>Retransmissions of this node that carried the given flag.</summary>
    public List<TcpEvent> Retransmissions(TcpFlags flag) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.Retransmission && (e.Segment.Flags & flag) == flag)];

    public TcpEvent LastStateChange(FourTuple id) =>
        Events.Last(e => e.Kind == TcpEventKind.StateChanged && e.Connection == id);
}

/// <summary>
/// Two engines, A (10.0.0.1) and B (10.0.0.2), over a <see cref="SimulatedLink"/> with a seeded
/// <see cref="FaultInjector"/> on each side's transmissions. The clock jumps from deadline to deadline, so a
/// 60 s TIME-WAIT takes microseconds. A's end of the wire is captured to a pcap; a test that does not reach
/// <see cref="Pass"/> leaves it in the test output directory (failed-pcaps/).
/// </summary>
internal sealed class Simulation : IDisposable
{
    public static readonly Ipv4Address AddressA = new(10, 0, 0, 1);
    public static readonly Ipv4Address AddressB = new(10, 0, 0, 2);

    private readonly string _name;
    private readonly MemoryStream _pcapStream = new();
    private readonly PcapFile _pcap;
    private readonly byte[] _buffer = new byte[65535];
    private bool _passed;

    public Simulation(
        TcpConfig? configA = null,
        TcpConfig? configB = null,
        FaultOptions? faultsA = null,
        FaultOptions? faultsB = null,
        IEnumerable<FaultRule>? rulesA = null,
        IEnumerable<FaultRule>? rulesB = null,
        TimeSpan? oneWayDelay = null,
        int seed = 1,
        bool capture = true,
        int mtu = 1500,
        double bitsPerSecond = 0,
        [CallerMemberName] string name = "")
    {
        _name = name;
        Link = SimulatedLink.CreatePair(oneWayDelay ?? TimeSpan.FromMilliseconds(10), mtu, bitsPerSecond);
        _pcap = new PcapFile(_pcapStream, leaveOpen: true);
        ILinkDevice endA = capture ? new PcapWriter(Link.A, _pcap) : Link.A;
        var deviceA = new FaultInjector(endA, faultsA ?? FaultOptions.None, seed * 2 + 1, rulesA ?? []);
        var deviceB = new FaultInjector(Link.B, faultsB ?? FaultOptions.None, seed * 2 + 2, rulesB ?? []);
        A = new Node(this, "A", AddressA, configA ?? new TcpConfig { RandomSeed = seed }, deviceA);
        B = new Node(this, "B", AddressB, configB ?? new TcpConfig { RandomSeed = seed + 1000 }, deviceB);
    }

    public SimulatedLink Link { get; }
    public Node A { get; }
    public Node B { get; }
    public TimeSpan Now { get; private set; }
    public long Steps { get; private set; }

    /// <summary>Delivers what has arrived, runs due timers, lets the applications act, and sends what they asked for.</summary>
    private void Step(Action? applications)
    {
        Steps++;
        foreach (Node node in (ReadOnlySpan<Node>)[A, B])
        {
            while (node.Device.TryReceive(_buffer, Now, out int length)) node.Engine.Receive(_buffer.AsSpan(0, length), Now, node);
            node.Engine.Poll(Now, node);
        }
        if (applications is null) return;
        applications();
        A.Engine.Poll(Now, A);
        B.Engine.Poll(Now, B);
    }

    private TimeSpan? NextEvent => Earliest(Earliest(A.Engine.PollAt, B.Engine.PollAt), Earliest(A.Device.NextArrival, B.Device.NextArrival));

    /// <summary>Runs until <paramref name="done"/> holds; fails if it does not by <paramref name="deadline"/> (simulated time).</summary>
    public void RunUntil(Func<bool> done, TimeSpan deadline, Action? applications = null, long maxSteps = 10_000_000)
    {
        Step(applications);
        while (!done())
        {
            // Messages are built only on failure: this loop runs per packet and must not allocate.
            if (Steps >= maxSteps) Assert.Fail($"{_name}: more than {maxSteps} steps at {Now}");
            TimeSpan? next = NextEvent;
            if (next is null || next > deadline)
            {
                Assert.Fail($"{_name}: not done by {deadline} (now {Now}, next event {next?.ToString() ?? "none"})\n{Describe()}");
            }
            if (next > Now) Now = next.Value;
            Step(applications);
        }
    }

    /// <summary>Runs every event up to <paramref name="until"/> and leaves the clock there.</summary>
    public void RunTo(TimeSpan until, Action? applications = null)
    {
        Step(applications);
        while (NextEvent is TimeSpan next && next <= until)
        {
            if (next > Now) Now = next;
            Step(applications);
        }
        Now = until;
        Step(applications);
    }

    public void RunFor(TimeSpan duration, Action? applications = null) => RunTo(Now + duration, applications);

    public string Describe() =>
        $"A: {string.Join(", ", A.Engine.Connections)}\nB: {string.Join(", ", B.Engine.Connections)}\n"
        + $"A faults: dropped {A.Device.Counters.DroppedAtRandom + A.Device.Counters.DroppedByRule}; B faults: dropped {B.Device.Counters.DroppedAtRandom + B.Device.Counters.DroppedByRule}";

    /// <summary>Marks the test as passed, so no pcap is left behind.</summary>
    public void Pass() => _passed = true;

    public void Dispose()
    {
        _pcap.Dispose();
        if (_passed) return;
        string directory = Path.Combine(AppContext.BaseDirectory, "failed-pcaps");
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, _name + ".pcap");
        File.WriteAllBytes(path, _pcapStream.ToArray());
        Console.Error.WriteLine($"{_name} failed: A's end of the wire is in {path}");
    }

    private static TimeSpan? Earliest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : a < b ? a : b;
}
