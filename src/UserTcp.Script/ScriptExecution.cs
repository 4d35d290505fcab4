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
            return new ScriptResult(_script.Name, null, _notices, _now)
            {
                Counters = _stack.Counters.Snapshot().ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal),
            };
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
        _config = _config with { Mss = settings.Mss, TimeWaitRst = settings.TimeWaitRst, RtoFormula = settings.RtoFormula, SendBufferAccounting = settings.SendBufferAccounting, CubicArithmetic = settings.CubicArithmetic, RackRules = settings.RackRules, ReceiveWindowModel = settings.ReceiveWindowModel, DropBeyondWindow = settings.DropBeyondWindow, InitialSequenceNumber = _ => isn };
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
