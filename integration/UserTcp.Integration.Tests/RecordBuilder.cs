using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>A record of one connection between the kernel (10.77.0.1:kernelPort) and UserTcp (10.77.0.2:userTcpPort), sequence numbers given relative to each side's ISN.</summary>
internal sealed class RecordBuilder(ushort userTcpPort, ushort kernelPort)
{
    public const uint KernelIsn = 1000, UserTcpIsn = 5000;

    private readonly List<WirePacket> _packets = [];
    private readonly List<TcpEvent> _events = [];
    private readonly List<LabMark> _marks = [];
    private readonly List<KernelSocketSample> _kernel = [];
    private readonly List<LabReading> _readings = [];

    public FourTuple Connection { get; } = new(new IpEndpoint(Addresses.StackAddress, userTcpPort), new IpEndpoint(Addresses.KernelAddress, kernelPort));
    public TcpConfig Config { get; set; } = new();
    public Dictionary<string, string> KernelSettings { get; } = new() { ["tcp_fin_timeout"] = "3", ["tcp_orphan_retries"] = "3" };
    /// <summary>The kernel's sockets' congestion control (TCP_CONGESTION); reno, as the observations the judges' texts quote.</summary>
    public CongestionControlAlgorithm KernelCongestionControl { get; set; } = CongestionControlAlgorithm.NewReno;
    public Dictionary<string, long> KernelCounters { get; } = [];
    public Dictionary<string, long> UserTcpCounters { get; } = [];
    public TimeSpan End { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The three segments of an opening; each SYN carries the window scale option given for its side (none when null).</summary>
    public void Handshake(TimeSpan at, bool kernelConnects, byte? kernelScale = null, byte? userTcpScale = null)
    {
        if (kernelConnects)
        {
            FromKernel(at, 0, TcpFlags.Syn, null);
            Scale(kernelScale);
            FromUserTcp(at + TimeSpan.FromMilliseconds(0.2), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
            Scale(userTcpScale);
            FromKernel(at + TimeSpan.FromMilliseconds(0.4), 1, TcpFlags.Ack, 1);
        }
        else
        {
            FromUserTcp(at, 0, TcpFlags.Syn, null);
            Scale(userTcpScale);
            FromKernel(at + TimeSpan.FromMilliseconds(0.2), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
            Scale(kernelScale);
            FromUserTcp(at + TimeSpan.FromMilliseconds(0.4), 1, TcpFlags.Ack, 1);
        }
    }

    private void Scale(byte? shift) => _packets[^1] = _packets[^1] with { WindowScale = shift };

    public void FromKernel(TimeSpan at, uint seq, TcpFlags flags, uint? ack, int length = 0, bool dropped = false, ushort window = 64240, params (uint Left, uint Right)[] sack) =>
        Add(at, PacketDirection.Inbound, KernelIsn + seq, flags, ack is uint a ? UserTcpIsn + a : 0, length, dropped, window, [.. sack.Select(s => new SackBlock(new(UserTcpIsn + s.Left), new(UserTcpIsn + s.Right)))]);

    public void FromUserTcp(TimeSpan at, uint seq, TcpFlags flags, uint? ack, int length = 0, bool dropped = false, ushort window = 64240, params (uint Left, uint Right)[] sack) =>
        Add(at, PacketDirection.Outbound, UserTcpIsn + seq, flags, ack is uint a ? KernelIsn + a : 0, length, dropped, window, [.. sack.Select(s => new SackBlock(new(KernelIsn + s.Left), new(KernelIsn + s.Right)))]);

    /// <summary>Marks the packet added last as hit by a fault of the link (a delay, say).</summary>
    public void LastFault(FaultAction action) => _packets[^1] = _packets[^1] with { Fault = new FaultNote(action, $"{action} (test)") };

    /// <summary>Marks the packet added last with the fault injector's own note (its rule, its words, and for a held packet the instant the link took it).</summary>
    public void LastFault(FaultNote note) => _packets[^1] = _packets[^1] with { Fault = note };

    /// <summary>For a packet from the kernel timed by the kernel: when UserTcp read it from the device (<see cref="WirePacket.ReadAt"/>).</summary>
    public void LastReadAt(TimeSpan at) => _packets[^1] = _packets[^1] with { ReadAt = at };

    /// <summary>Gives the packet added last this IP ECN field (<see cref="EcnField"/>); a CE one <paramref name="markedBy"/> a rule is noted as the link's mark.</summary>
    public void LastEcn(EcnCodepoint ecn, FaultRule? markedBy = null) => _packets[^1] = _packets[^1] with
    {
        Ecn = ecn,
        Fault = markedBy is null ? _packets[^1].Fault : new FaultNote(FaultAction.Marked, $"CE-marked by rule '{markedBy.Description}'", markedBy),
    };

    /// <summary>Gives the packet added last a TCP Fast Open option: a cookie request when <paramref name="cookie"/> is empty.</summary>
    public void LastFastOpen(params byte[] cookie)
    {
        if (!TcpFastOpenCookie.TryCreate(cookie, out TcpFastOpenCookie value)) throw new ArgumentException("not a cookie length", nameof(cookie));
        _packets[^1] = _packets[^1] with { FastOpen = TcpFastOpenKind.Rfc7413, FastOpenCookie = value };
    }

    public void Mark(TimeSpan at, LabSide side, string what) => _marks.Add(new LabMark(at, side, what, Connection));

    public void Event(TcpEvent e) => _events.Add(e with { Connection = Connection });

    public void KernelSample(TimeSpan at, KernelTcpState? state, KernelTcpTimer timer = KernelTcpTimer.None, byte retransmits = 0, TimeSpan expires = default) =>
        _kernel.Add(new KernelSocketSample(at, state, timer, retransmits, expires));

    private void Add(TimeSpan at, PacketDirection direction, uint seq, TcpFlags flags, uint ack, int length, bool dropped, ushort window, SackBlock[] sack)
    {
        bool toKernel = direction == PacketDirection.Outbound;
        var segment = new TcpSegmentInfo(
            toKernel ? Connection.Local.Address : Connection.Remote.Address, toKernel ? Connection.Remote.Address : Connection.Local.Address,
            toKernel ? Connection.Local.Port : Connection.Remote.Port, toKernel ? Connection.Remote.Port : Connection.Local.Port,
            new SeqNumber(seq), new SeqNumber(ack), flags, window, length);
        FaultNote? fault = dropped ? new FaultNote(FaultAction.Dropped, "drop (test)") : null;
        _packets.Add(new WirePacket(_packets.Count, at, direction, segment, sack, null, fault));
    }

    /// <summary>A number the scenario read from one side of this connection (<see cref="LabReading"/>).</summary>
    public void Reading(TimeSpan at, LabSide side, string name, long value) => _readings.Add(new LabReading(at, side, Connection, name, value));

    public LabRecord Build(string scenario, LabRole role) => Build(scenario, role, [this]);

    /// <summary>One record of several connections, in the order given; the settings, counters and config are the first's.</summary>
    public static LabRecord Build(string scenario, LabRole role, IReadOnlyList<RecordBuilder> connections)
    {
        RecordBuilder first = connections[0];
        return new()
        {
            Scenario = scenario,
            Role = role,
            Packets = [.. connections.SelectMany(b => b._packets).OrderBy(p => p.At)],
            Events = [.. connections.SelectMany(b => b._events).OrderBy(e => e.Time)],
            KernelSockets = [.. connections.Where(b => b._kernel.Count > 0).Select(b =>
                (new System.Net.IPEndPoint(System.Net.IPAddress.Parse(b.Connection.Remote.Address.ToString()), b.Connection.Remote.Port),
                 new System.Net.IPEndPoint(System.Net.IPAddress.Parse(b.Connection.Local.Address.ToString()), b.Connection.Local.Port),
                 (IReadOnlyList<KernelSocketSample>)[.. b._kernel]))],
            Marks = [.. connections.SelectMany(b => b._marks)],
            Readings = [.. connections.SelectMany(b => b._readings).OrderBy(r => r.At)],
            KernelSettings = first.KernelSettings,
            KernelCongestionControl = first.KernelCongestionControl,
            Faults = [],
            UserTcpConfig = first.Config,
            End = first.End,
            KernelCounters = first.KernelCounters,
            UserTcpCounters = first.UserTcpCounters,
            KernelSamples = 1000,
            KernelLongestGap = TimeSpan.FromMilliseconds(1),
        };
    }
}
