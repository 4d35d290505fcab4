using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>
/// One run of one script: a fresh UserTcp stack at the local address (a <see cref="NetStack"/> made with
/// <see cref="NetStack.Create"/>, on a <see cref="FakeTimeProvider"/> and a <see cref="ScriptDevice"/>, pumped by the
/// runner), the script playing the remote host, and system calls made through the UserTcp.Sockets API. Script time
/// is microseconds; the stack's clock moves only when the script's does.
/// <para>
/// Time follows packetdrill: a line's time is absolute, or relative (<c>+</c>) to when the previous line happened.
/// Before an inbound packet, a system call or an assertion at time T the clock advances to T, firing every engine
/// timer due on the way (timers due exactly at T fire before the line runs). An outbound line takes the next segment
/// UserTcp sent, advancing the clock through the engine's deadlines up to the end of the line's window when nothing
/// has been sent yet; the segment must match and have left within the window (± tolerance). Every segment must be
/// claimed by an outbound line before the next inbound packet, call or assertion, and by the end of the script.
/// </para>
/// </summary>
internal sealed partial class ScriptExecution : IPacketTransmitter, ITcpEventSink, IDisposable
{
    /// <summary>Script time is microseconds; the engine counts 100 ns ticks.</summary>
    private const long TicksPerMicro = 10;
    /// <summary>How many engine steps one wait may take before the runner calls it a runaway.</summary>
    private const int MaxSteps = 1_000_000;
    /// <summary>How long a call written without <c>...</c> may block the script, in script time.</summary>
    private const long MaxBlockMicros = 24L * 3600 * 1_000_000;

    private readonly PacketScript _script;
    private readonly Action<string>? _trace;
    private readonly Queue<CapturedSegment> _sent = new();
    private readonly List<string> _notices = [];
    private readonly Dictionary<int, ScriptSocket> _sockets = [];
    // Every connection the script connected or accepted, oldest first (for TCP_INFO after its descriptor is closed).
    private readonly List<UserTcpConnection> _made = [];
    // Every connection the engine's events named, accepted or not.
    private readonly HashSet<FourTuple> _seen = [];
    private readonly Func<TcpError, SocketError>? _errorTranslation;
    // Script TSvals to live ones (packetdrill's ts_val_map).
    private readonly TimestampMapping _timestamps = new();

    // Settings (script options).
    private bool _relaxed;
    private readonly IReadOnlyList<ScriptOption> _commandLineOptions;
    private long _tolerance = 4000;
    private double _tolerancePercent;
    private bool _strictSegments;
    private Ipv4Address _localIp = new(192, 168, 0, 1);
    private Ipv4Address _remoteIp = new(192, 0, 2, 1);
    private ushort _bindPort = 8080;
    private ushort _connectPort = 8080;
    private ushort _passivePeerPort = 40000;
    private uint _engineIsn = unchecked((uint)-1000);
    private uint _remoteBase = unchecked((uint)-2000);
    // --remote_isn: where an inbound SYN's script sequence number 0 lies on the wire.
    private uint _remoteIsnBase = unchecked((uint)-2000);
    // A script must run the same way every time: the engine's secrets (ports, TSval offsets) come from a fixed seed.
    // Its receive buffers are 256 KiB and stay so (Linux's tcp_moderate_rcvbuf 0): windows and the window scale (3) do
    // not depend on auto-tuning unless a script turns it on (docs/scripts.md). Loss probes are Linux's: the product's
    // 25 ms floor, paired probe and second probe answer a loaded machine's real clock (docs/design.md), not a script's.
    private TcpConfig _config = new()
    {
        RandomSeed = 9293, ReceiveBufferSize = 256 * 1024, ReceiveBufferAutoTuning = false,
        MinProbeTimeout = TimeSpan.Zero, PairedProbe = false, LossProbes = 1,
    };
    private readonly string? _setupDirectory;
    private ScriptSetup _setup = null!;
    // The code blocks' interpreter: variables persist from block to block, as in packetdrill's Python.
    private CodeEvaluator? _code;
    // The set-up commands before the first event (packetdrill's init command), run before the engine is made.
    private readonly HashSet<ScriptEvent> _ranBeforeEngine = [];

    private NetStack _stack = null!;
    private ScriptDevice _device = null!;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    // The engine configuration the stack was made with; the set-up may change _config for sockets made later.
    private TcpConfig _stackConfig = null!;
    // The last TCP_INFO read for the connection under test, for when it has left the table.
    private ConnectionSnapshot? _lastInfo;
    // What the code block being run reads: the connection under test, and whether the script listens.
    private ConnectionSnapshot? _info;
    private bool _listening;
    // The script has ended: what the stack sends while it is disposed is not the script's business.
    private bool _finished;
    // Script time now; only moves forward.
    private long _now;
    // When the previous line happened, for --tolerance_percent.
    private long? _lastEventTime;
    private int _line;
    private int _lastLine;
    // UserTcp's ISN as learned from its SYN or SYN-ACK (packetdrill's local_isn); 0 until one is seen.
    private uint _localBase;
    private bool _learnedFromSynAck;
    // The seq the script's SYN or SYN-ACK line gives UserTcp's ISN (packetdrill's script.local_isn): outbound SYNs, and the
    // ack of an inbound SYN-ACK, count from it; learned from the first such line after connect() or listen().
    private uint _scriptLocalIsn;
    private bool _learnScriptLocalIsn;
    // listen() made the listener the socket under test: its next inbound SYN gives the remote ISN (handle_listen_for_script_packet).
    private bool _listenerUnderTest;
    private int _passiveChildren;
    // The connection under test: this side's port and the script side's port.
    private ushort _localPort;
    private ushort _remotePort;
    private PendingCall? _blocking;
    private string? _transmitProblem;
    private long _stepsAtSameInstant;
    // A write gave a string (UserTcp's extension): the data is no longer all zeros, and payloads are not compared.
    private bool _wroteText;

    public ScriptExecution(PacketScript script, ScriptRunOptions options)
    {
        _script = script;
        _trace = options.Trace;
        _relaxed = options.Relaxed;
        _commandLineOptions = options.CommandLineOptions;
        _setupDirectory = options.SetupDirectory;
        _errorTranslation = options.ErrorTranslation;
    }

    public ScriptResult Run()
    {
        try
        {
            ApplyOptions();
            _localPort = _bindPort;
            _remotePort = _passivePeerPort;
            _device = new ScriptDevice(ushort.MaxValue, this, () => _setup.LocalQueueRefuses);
            _stackConfig = _config;
            _stack = NetStack.Create(_device, new NetStackOptions { Address = _localIp, Tcp = _config, Events = this, ErrorTranslation = _errorTranslation },
                timeProvider: _time);
            _setup.FlushMetrics = _stack.FastOpenCookies.Flush;
            foreach (ScriptEvent e in _script.Events)
            {
                _line = e.Line;
                RunEvent(e);
                _lastLine = e.Line;
            }
            Finish();
            Trace($"{Seconds(_now)} pass");
            return new ScriptResult(_script.Name, null, _notices, _now);
        }
        catch (ScriptFailureException failure)
        {
            Trace($"{Seconds(_now)} FAIL line {failure.Line}: {failure.Message}");
            return new ScriptResult(_script.Name, new ScriptFailure(failure.Line, failure.Message), _notices, _now);
        }
        catch (Exception exception) when (exception is TcpException or SocketException or ArgumentException)
        {
            return new ScriptResult(_script.Name, new ScriptFailure(_line, $"UserTcp refused the call: {exception.Message}"), _notices, _now);
        }
        catch (InvalidOperationException exception)
        {
            return new ScriptResult(_script.Name, new ScriptFailure(_line, $"the engine failed: {exception.Message}"), _notices, _now);
        }
    }

    /// <summary>Disposes the stack (it resets what is still open, unseen) and with it the device.</summary>
    public void Dispose()
    {
        _finished = true;
        _stack?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    // ───────────── options and set-up ─────────────

    /// <summary>The script's --options (ScriptSettings), then the set-up commands before the first event, before any socket exists.</summary>
    private void ApplyOptions()
    {
        ScriptSettings settings = ScriptOptionTable.Read([.. _commandLineOptions, .. _script.Options], _relaxed, _notices.Add);
        _relaxed = settings.Relaxed;
        _tolerance = settings.ToleranceMicros;
        _strictSegments = settings.StrictSegments;
        _tolerancePercent = settings.TolerancePercent;
        _localIp = settings.LocalIp;
        _remoteIp = settings.RemoteIp;
        _bindPort = settings.BindPort;
        _connectPort = settings.ConnectPort;
        _passivePeerPort = settings.RemotePort;
        _engineIsn = settings.LocalIsn;
        _remoteBase = _remoteIsnBase = settings.RemoteIsn;
        _timestamps.TickMicros = settings.TimestampTickMicros;
        _timestamps.EcrScaled = settings.TimestampEcrScaled;
        uint isn = _engineIsn;
        _config = _config with { Mss = settings.Mss, TimeWaitRst = settings.TimeWaitRst, RtoFormula = settings.RtoFormula, SendBufferAccounting = settings.SendBufferAccounting, CubicArithmetic = settings.CubicArithmetic, RackRules = settings.RackRules, InitialSequenceNumber = _ => isn };
        _setup = new ScriptSetup(_setupDirectory, _remoteIp, _relaxed, _notices.Add, _trace is null ? null : text => Trace($"{Seconds(_now)} {text}"));
        foreach (ScriptEvent e in _script.Events.TakeWhile(e => e is CommandEvent { CommandTime: null }))
        {
            _line = e.Line;
            _config = _setup.Run(e.Line, ((CommandEvent)e).Command, _config, connectionsExist: false);
            _ranBeforeEngine.Add(e);
        }
        _setup.TakeRouteMtu(); // the first route is the device's: every connection starts with it (TcpConfig.Mss)
    }

    // ───────────── events ─────────────

    private void RunEvent(ScriptEvent e)
    {
        _stepsAtSameInstant = 0;
        switch (e)
        {
            case CommandEvent command:
                if (_ranBeforeEngine.Contains(command)) break;
                if (command.CommandTime is not null) AdvanceTo(Resolve(e).At);
                _config = _setup.Run(e.Line, command.Command, _config, connectionsExist: _stack.Snapshot().Count > 0);
                if (_setup.TakeRouteMtu() is int routeMtu)
                {
                    // Linux's sockets follow their route's MTU (tcp_current_mss): so do the connections open now.
                    foreach (UserTcpConnection connection in _made) connection.RouteMtu = routeMtu;
                }
                break;
            case PacketEvent { Packet.Direction: PacketDirection.Inbound } inbound:
            {
                long at = Arrive(e);
                Inject(inbound);
                _lastEventTime = at;
                break;
            }
            case PacketEvent outbound:
                ExpectOutbound(outbound);
                break;
            case IcmpEvent icmp:
            {
                long at = Arrive(e);
                InjectIcmp(icmp);
                _lastEventTime = at;
                break;
            }
            case SyscallEvent call:
                RunSyscall(call);
                break;
            case AssertEvent assert:
            {
                long at = Arrive(e);
                CheckAssertions(assert);
                _lastEventTime = at;
                break;
            }
        }
    }

    /// <summary>
    /// Brings the clock to the time an inbound packet, ICMP message or assertion runs at, after checking that UserTcp sent
    /// nothing the script did not expect before it; returns that time.
    /// </summary>
    private long Arrive(ScriptEvent e)
    {
        long at = Resolve(e).At;
        AdvanceTo(at);
        CheckNothingUnexpected(e.Line);
        return at;
    }

    /// <summary>
    /// The time an inbound packet, call or assertion runs at, and the base its relative times count from. An event
    /// whose time has already passed (an earlier line took longer) runs now if it is within tolerance, as
    /// packetdrill's check_event_time allows.
    /// </summary>
    private (long At, long Base) Resolve(ScriptEvent e)
    {
        long baseTime = e.Time.IsRelative ? _now : 0;
        long at = baseTime + e.Time.Start;
        if (at < _now)
        {
            if (_now - at > Tolerance(at))
            {
                throw Fail(e.Line, $"this line is due at {Seconds(at)} s, but the script is already at {Seconds(_now)} s (tolerance {Seconds(Tolerance(at))} s)");
            }
            at = _now;
        }
        return (at, baseTime);
    }

    private long Tolerance(long expected)
    {
        long tolerance = _tolerance;
        if (_tolerancePercent > 0 && _lastEventTime is long last && expected > last)
        {
            tolerance = Math.Max(tolerance, (long)(_tolerancePercent / 100.0 * (expected - last)));
        }
        return tolerance;
    }

    // ───────────── the clock ─────────────

    /// <summary>Runs every engine deadline up to and including <paramref name="at"/>, then sets the clock to it.</summary>
    private void AdvanceTo(long at)
    {
        int steps = 0;
        while (_stack.NextDeadline is TimeSpan next && Micros(next) <= at)
        {
            Step(Math.Max(Micros(next), _now));
            if (++steps > MaxSteps) throw Fail(_line, $"UserTcp's timers fired more than {MaxSteps} times before {Seconds(at)} s");
        }
        Step(at);
    }

    /// <summary>Moves the clock (the stack's timers fire on the way, inside Advance), pumps the stack, and lets a blocked call finish if it now can.</summary>
    private void Step(long at)
    {
        if (at == _now)
        {
            if (++_stepsAtSameInstant > 10_000) throw Fail(_line, $"UserTcp asks to be polled again and again at {Seconds(at)} s without its timers moving on");
        }
        else
        {
            _stepsAtSameInstant = 0;
        }
        _now = at;
        TimeSpan target = Time(at);
        if (target > _stack.Now) _time.Advance(target - _stack.Now);
        _stack.Pump();
        AfterEngine();
    }

    private void AfterEngine()
    {
        if (_transmitProblem is string problem) throw Fail(_line, problem);
        if (_blocking is { } call && call.Attempt() is Outcome outcome)
        {
            _blocking = null;
            _stack.Pump();
            Complete(call, outcome);
        }
    }

    private static TimeSpan Time(long micros) => TimeSpan.FromTicks(micros * TicksPerMicro);

    /// <summary>Engine deadlines in microseconds, rounded up so that polling then fires them.</summary>
    private static long Micros(TimeSpan time) => (time.Ticks + TicksPerMicro - 1) / TicksPerMicro;

    private static string Seconds(long micros) => EventTime.Seconds(micros);

    // ───────────── packets ─────────────

    /// <summary>Sends a scripted segment to UserTcp, mapping relative numbers to the wire.</summary>
    private void Inject(PacketEvent e)
    {
        PacketSpec p = e.Packet;
        bool ack = (p.Flags & TcpFlags.Ack) != 0;
        // packetdrill (remote_seq_script_to_live_offset): an inbound SYN's sequence number is the script's own, and the
        // numbers after it count from it when it is a SYN-ACK or the first SYN to reach a listener (so `< S. 123:123(0)` is
        // answered by `> . 1:1(0) ack 1`, and `< S 999000:999000(0)` is followed by `< . 1:1(0)`).
        bool syn = (p.Flags & TcpFlags.Syn) != 0;
        if (syn && (ack || _listenerUnderTest)) _remoteBase = unchecked(p.Seq + _remoteIsnBase);
        if (_listenerUnderTest)
        {
            // packetdrill gives each passive child a port of its own (next_ephemeral_port): a new listen()'s first SYN
            // opens a new connection, not one on the tuple of the last (TIME-WAIT, or still open).
            _remotePort = unchecked((ushort)(_passivePeerPort + _passiveChildren++));
            _listenerUnderTest = false;
        }
        uint seq = unchecked(p.Seq + (syn ? _remoteIsnBase : _remoteBase));
        uint ackNumber = ack ? unchecked((p.Ack ?? 0) + LocalBase(syn)) : p.Ack ?? 0;
        byte[] options = (p.Options ?? []).SelectMany(o => (o switch
        {
            SackOption sack => new SackOption(sack.Blocks.Select(b => (unchecked(b.Left + _localBase), unchecked(b.Right + _localBase))).ToList()),
            // packetdrill: an inbound TSecr names an outbound TSval in script terms; send the live value it stands for.
            TimestampOption ts when ack => ts with
            {
                EchoReply = _timestamps.ToLiveEcr(ts.EchoReply)
                    ?? throw Fail(e.Line, $"unable to infer the live TS ecr for script TS ecr {ts.EchoReply}: no outbound line matched with that TS val "
                        + "(as packetdrill; --tcp_ts_ecr_scaled shifts it by the first TS val instead)"),
            },
            _ => o,
        }).Encode()).ToArray();
        int tcpLength = TcpSegment.MinHeaderLength + options.Length + p.PayloadLength;
        byte[] packet = new byte[Ipv4Packet.MinHeaderLength + tcpLength];
        var ip = new Ipv4Repr(_remoteIp, _localIp);
        if (p.Ip is { } annotation) ip = WithAnnotation(ip, annotation, e.Line);
        PacketWriter.WriteIpv4Header(packet, ip, tcpLength);
        Span<byte> tcp = packet.AsSpan(Ipv4Packet.MinHeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, _remotePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], _localPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ackNumber);
        tcp[12] = (byte)((TcpSegment.MinHeaderLength + options.Length) / 4 << 4);
        tcp[13] = (byte)p.Flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], p.Window ?? 0);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], p.UrgentPointer ?? 0);
        options.CopyTo(tcp[TcpSegment.MinHeaderLength..]);
        ulong sum = InternetChecksum.PseudoHeader(_remoteIp, _localIp, Ipv4Packet.ProtocolTcp, (ushort)tcpLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], InternetChecksum.Finish(InternetChecksum.Add(sum, tcp)));

        Trace($"{Seconds(_now)} line {e.Line}: {p}");
        _device.Inject(packet);
        _stack.Pump();
        AfterEngine();
    }

    /// <summary>An inbound line's IP fields: the ECN codepoint in the low two TOS bits (RFC 3168 §5), the TOS byte, the TTL.</summary>
    private static Ipv4Repr WithAnnotation(Ipv4Repr ip, IpAnnotation annotation, int line)
    {
        if (annotation.EitherEct || annotation.FlowLabel is not null)
        {
            throw Fail(line, $"{annotation} describes what to expect, not what to send: an inbound packet needs one ECN codepoint, and IPv4 has no flow label");
        }
        if (annotation.Tos is byte tos) ip.TypeOfService = tos;
        if (annotation.Ecn is EcnCodepoint ecn) ip.TypeOfService = (byte)((ip.TypeOfService & ~3) | (byte)ecn);
        if (annotation.Ttl is byte ttl) ip.TimeToLive = ttl;
        return ip;
    }

    /// <summary>Takes the next segment UserTcp sent (waiting through its timers for one) and checks it against the line.</summary>
    private void ExpectOutbound(PacketEvent e)
    {
        PacketSpec p = e.Packet;
        if (p.Ip is { FlowLabel: not null } ipv6) throw Fail(e.Line, $"{ipv6} names an IPv6 flow label; the runner's packets are IPv4");
        long baseTime = e.Time.IsRelative ? _now : 0;
        long expected = baseTime + e.Time.Start;
        long tolerance = Tolerance(expected);
        (long earliest, long latest, string when) = e.Time.Kind switch
        {
            TimeKind.Any => (long.MinValue, long.MaxValue, "at any time"),
            TimeKind.AbsoluteRange or TimeKind.RelativeRange =>
                (expected - tolerance, baseTime + e.Time.End + tolerance, $"between {Seconds(expected)} and {Seconds(baseTime + e.Time.End)} s"),
            _ => (expected - tolerance, expected + tolerance, $"at {Seconds(expected)} s"),
        };

        int steps = 0;
        DropOtherConnections();
        while (_sent.Count == 0 && _stack.NextDeadline is TimeSpan next && Micros(next) <= latest)
        {
            Step(Math.Max(Micros(next), _now));
            DropOtherConnections();
            if (++steps > MaxSteps) throw Fail(e.Line, $"UserTcp's timers fired more than {MaxSteps} times and it sent nothing");
        }
        if (_sent.Count == 0)
        {
            // Too late either way; like packetdrill, go on to see what UserTcp does send next, and when, so the
            // message can say so (the script has failed, so running its timers further changes nothing).
            long horizon = latest == long.MaxValue ? latest : latest + MaxBlockMicros;
            while (_sent.Count == 0 && steps++ < MaxSteps && _stack.NextDeadline is TimeSpan next && Micros(next) <= horizon)
            {
                Step(Math.Max(Micros(next), _now));
            }
        }
        if (_sent.Count == 0)
        {
            string timer = _stack.NextDeadline is null ? "it has no timer armed" : $"nor in the {MaxBlockMicros / 3_600_000_000} hours after";
            throw Fail(e.Line, $"expected `{p}` {when}, got nothing: UserTcp sent nothing by {Seconds(Math.Max(_now, latest == long.MaxValue ? _now : latest))} s, and {timer}");
        }

        CapturedSegment segment = _sent.Dequeue();
        int pieces = 1;
        if (_relaxed && !_strictSegments && p.PayloadLength > segment.PayloadLength && segment.PayloadLength > 0)
        {
            string? unjoinable;
            (segment, pieces, unjoinable) = Aggregate(segment, p.PayloadLength);
            if (unjoinable is not null)
            {
                throw Fail(e.Line, $"expected `{p}` {when}, got segments UserTcp sent at {Seconds(segment.Time)} s that packetdrill would not join into one: {unjoinable}");
            }
        }
        if (_learnScriptLocalIsn && (p.Flags & TcpFlags.Syn) != 0)
        {
            // packetdrill's script.local_isn: this line's seq names UserTcp's ISN, whatever number it is.
            _scriptLocalIsn = p.Seq;
            _learnScriptLocalIsn = false;
        }
        RelativeSegment actual = Relative(segment);
        // Timestamps are judged against the time since the script started, as packetdrill does.
        long timestampTolerance = Math.Max(_tolerance, (long)(_tolerancePercent / 100.0 * expected));
        List<string> differences = PacketMatcher.Differences(p, actual, _relaxed, _timestamps, timestampTolerance, zeroPayload: !_wroteText);
        if (p.Ip is { } expectedIp) differences.AddRange(CapturedSegment.IpDifferences(expectedIp, segment.Ip));
        if (segment.SourcePort != _localPort || segment.DestinationPort != _remotePort)
        {
            differences.Insert(0, $"sent from port {segment.SourcePort} to {segment.DestinationPort}, not on the connection under test ({_localPort} to {_remotePort})");
        }
        if (differences.Count > 0)
        {
            throw Fail(e.Line, $"expected `{p}` {when}, got `{actual.Format(p)}` at {Seconds(segment.Time)} s ({string.Join("; ", differences)})");
        }
        if (segment.Time < earliest || segment.Time > latest)
        {
            string off = segment.Time < earliest ? "early" : "late";
            throw Fail(e.Line, $"expected `{p}` {when}, got it at {Seconds(segment.Time)} s, {Seconds(Math.Abs(segment.Time - expected))} s {off} (tolerance {Seconds(tolerance)} s)");
        }
        PacketMatcher.Learn(p, actual, _timestamps);
        Trace($"{Seconds(segment.Time)} line {e.Line}: {actual.Format()}{(pieces > 1 ? $" ({pieces} segments taken as one, as Linux's TSO sends them)" : "")}");
        _lastEventTime = segment.Time;
    }

    /// <summary>
    /// --relaxed: a line written for Linux may expect several TSO/GSO packets joined, as packetdrill joins what it
    /// sniffs until the line's payload is met (run_packet.c). Contiguous segments sent at the same instant with the
    /// same ACK and window are joined until they carry the expected payload, across the PSH that ends each TSO packet;
    /// PSH comes from the last piece, and nothing joins a FIN. As packetdrill's verify_packet_fragments, every piece but
    /// the one that completes the line has the size of the piece before it; another size is <c>Unjoinable</c>.
    /// </summary>
    private (CapturedSegment Segment, int Pieces, string? Unjoinable) Aggregate(CapturedSegment first, int wanted)
    {
        const TcpFlags LastOnly = TcpFlags.Psh | TcpFlags.Fin;
        CapturedSegment total = first;
        int pieces = 1, previous = first.PayloadLength;
        while (total.PayloadLength < wanted && (total.Flags & TcpFlags.Fin) == 0 && _sent.TryPeek(out CapturedSegment? next)
            && next.Time == first.Time && next.Seq == unchecked(total.Seq + (uint)total.PayloadLength) && next.Ack == total.Ack && next.Window == total.Window && next.Ip == total.Ip
            && (next.Flags & ~LastOnly) == (total.Flags & ~TcpFlags.Psh) && next.SourcePort == total.SourcePort && next.DestinationPort == total.DestinationPort)
        {
            if (next.PayloadLength < wanted - total.PayloadLength && next.PayloadLength != previous)
            {
                return (total, pieces, $"a {next.PayloadLength}-byte piece after a {previous}-byte one, with {wanted - total.PayloadLength} bytes still to come");
            }
            _sent.Dequeue();
            pieces++;
            previous = next.PayloadLength;
            total = total with { PayloadLength = total.PayloadLength + next.PayloadLength, Flags = next.Flags, ZeroPayload = total.ZeroPayload && next.ZeroPayload };
        }
        return (total, pieces, null);
    }

    // packetdrill's remote_seq_live_to_script_offset: our SYN-ACK's ack is the script's own number (the peer's SYN seq + 1).
    private RelativeSegment Relative(CapturedSegment segment)
    {
        bool syn = (segment.Flags & TcpFlags.Syn) != 0;
        return RelativeSegment.From(segment, LocalBase(syn), syn ? _remoteIsnBase : _remoteBase, _timestamps);
    }

    // packetdrill's local_seq_script_to_live_offset: a SYN's numbers count from the script's ISN, the others from 0.
    private uint LocalBase(bool syn) => syn ? unchecked(_localBase - _scriptLocalIsn) : _localBase;

    /// <summary>Fails when UserTcp sent a segment no line has claimed before <paramref name="line"/> runs.</summary>
    /// <summary>
    /// Under --relaxed, as packetdrill's sniff_outbound_live_packet: a segment of another connection than the one under
    /// test (the FIN of one closed before a new one opened) is passed over when a &gt; line looks for its segment.
    /// </summary>
    private void DropOtherConnections()
    {
        while (_relaxed && _sent.Count > 0 && (_sent.Peek().SourcePort != _localPort || _sent.Peek().DestinationPort != _remotePort))
        {
            CapturedSegment other = _sent.Dequeue();
            Trace($"{Seconds(_now)} passed over `{Relative(other).Format()}` from port {other.SourcePort}: not on the connection under test");
        }
    }

    private void CheckNothingUnexpected(int line, bool atEnd = false)
    {
        // packetdrill reads UserTcp's segments only for > lines: under --relaxed, as there, a segment no line claims
        // fails only when a later > line meets it instead of the segment it expects.
        if (_sent.Count == 0 || _relaxed) return;
        CapturedSegment segment = _sent.Peek();
        string more = _sent.Count > 1 ? $" (and {_sent.Count - 1} more)" : "";
        throw Fail(line, atEnd
            ? $"UserTcp sent `{Relative(segment).Format()}` at {Seconds(segment.Time)} s{more}, and the script ended without expecting it"
            : $"UserTcp sent `{Relative(segment).Format()}` at {Seconds(segment.Time)} s{more}, and no line expects it before this one (at {Seconds(_now)} s)");
    }

    /// <summary>IPacketTransmitter (the device's sink): every segment the stack sends, stamped with the script time.</summary>
    public void Transmit(ReadOnlySpan<byte> packet)
    {
        if (_finished) return;
        CapturedSegment? segment = CapturedSegment.TryParse(packet, _now, out string? problem);
        if (segment is null)
        {
            _transmitProblem ??= problem;
            return;
        }
        // packetdrill learns the local ISN from an active open's SYN and from the SYN-ACK of the first connection to the
        // listener; a later SYN-ACK on the same tuple (TIME-WAIT reuse, RFC 6191) keeps the old base there too.
        if ((segment.Flags & TcpFlags.Syn) != 0 && ((segment.Flags & TcpFlags.Ack) == 0 || !_learnedFromSynAck))
        {
            _localBase = segment.Seq;
            _learnedFromSynAck |= (segment.Flags & TcpFlags.Ack) != 0;
        }
        _sent.Enqueue(segment);
    }

    /// <summary>ITcpEventSink: the engine's own account, in the verbose trace.</summary>
    public void OnEvent(in TcpEvent tcpEvent)
    {
        if (_finished) return;
        // Connections that came and went between two code blocks still answer tcpi_state (as TCP_CLOSE).
        if (tcpEvent.Connection != default) _seen.Add(tcpEvent.Connection);
        if (_trace is null) return;
        string? text = tcpEvent.Kind switch
        {
            TcpEventKind.StateChanged => $"{tcpEvent.DiagramOldState.ToRfcName()} -> {tcpEvent.NewState.ToRfcName()} ({tcpEvent.Description})",
            TcpEventKind.TimerFired => $"{tcpEvent.Timer} timer fired",
            TcpEventKind.Retransmission => $"retransmission ({tcpEvent.Description}), next RTO {Seconds((long)(tcpEvent.Deadline - tcpEvent.Time).TotalMicroseconds)} s",
            TcpEventKind.Dropped => $"dropped {tcpEvent.Segment}: {tcpEvent.Description}",
            TcpEventKind.ConnectionError => $"error {tcpEvent.Error}: {tcpEvent.Description}",
            TcpEventKind.CongestionUndo or TcpEventKind.CongestionWindowReduced => tcpEvent.Description,
            _ => null,
        };
        if (text is not null) Trace($"{Seconds(Micros(tcpEvent.Time))}    engine: {text}");
    }

    // ───────────── assertions ─────────────

    private void CheckAssertions(AssertEvent e)
    {
        // The block reads the TCP_INFO of this moment (packetdrill snapshots it at the block's time).
        _info = ConnectionUnderTest();
        _listening = _sockets.Values.Any(s => s.Listener is not null);
        _code ??= new CodeEvaluator(field => TcpInfo.Value(field, _info, _listening), _trace is null ? null : text => Trace($"{Seconds(_now)} {text}"));
        try
        {
            _code.Run(e.Statements, $"at {Seconds(_now)} s");
        }
        catch (CodeBlockException exception)
        {
            throw Fail(exception.Line, exception.Message);
        }
    }

    /// <summary>
    /// TCP_INFO of the connection under test: its row of the table (even before accept() took it), or, once it has
    /// left the table, the connection the script holds for it, or its last row read as closed (TCP_CLOSE), or — for one
    /// that came and went unread — TCP_CLOSE alone.
    /// </summary>
    private ConnectionSnapshot? ConnectionUnderTest()
    {
        var remote = new IpEndpoint(_remoteIp, _remotePort);
        bool UnderTest(ConnectionSnapshot row) => row.Local.Port == _localPort && row.Remote == remote;
        ConnectionSnapshot? row = _stack.Snapshot().LastOrDefault(UnderTest)
            ?? _made.LastOrDefault(c => c.LocalEndpoint.Port == _localPort && c.RemoteEndpoint == remote)?.Snapshot()
            ?? (_lastInfo is { } last && UnderTest(last) ? last with { State = TcpState.Closed } : null)
            ?? (_seen.FirstOrDefault(c => c.Local.Port == _localPort && c.Remote == remote) is { Local.Port: not 0 } gone
                ? new ConnectionSnapshot(TcpState.Closed, gone.Local, gone.Remote, 0, 0, TcpTimer.None, null, 0, TimeSpan.Zero, 0)
                : null);
        if (row is not null) _lastInfo = row;
        // Linux's tcp_time_wait leaves TIME-WAIT to a timewait sock and closes the socket (tcp_done): a descriptor that
        // still holds the connection reads TCP_CLOSE.
        if (row is { State: TcpState.TimeWait } && _sockets.Values.Any(s => s.Connection is { } c && c.LocalEndpoint.Port == _localPort && c.RemoteEndpoint == remote))
        {
            return row with { State = TcpState.Closed };
        }
        return row;
    }

    // ───────────── the end ─────────────

    private void Finish()
    {
        if (_blocking is { } call)
        {
            long limit = call.End + Tolerance(call.End);
            int steps = 0;
            while (_blocking is not null && _stack.NextDeadline is TimeSpan next && Micros(next) <= limit)
            {
                Step(Math.Max(Micros(next), _now));
                if (++steps > MaxSteps) break;
            }
            if (_blocking is not null)
            {
                throw Fail(call.Line, $"`{call.Spec.Call}` is still blocked at the end of the script (it should return at {Seconds(call.End)} s)");
            }
        }
        CheckNothingUnexpected(_lastLine, atEnd: true);
    }

    private void Trace(string text)
    {
        if (_trace is null) return;
        int space = text.IndexOf(' ', StringComparison.Ordinal);
        _trace(space > 0 ? text[..space].PadLeft(11) + text[space..] : text);
    }

    private static ScriptFailureException Fail(int line, string message) => new(line, message);
}
