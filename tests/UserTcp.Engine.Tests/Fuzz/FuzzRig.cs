using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Engine.Tests.Fuzz;

/// <summary>A generated scenario: the state the main connection starts in, and the steps, <see cref="FuzzStep.Words"/> numbers each.</summary>
internal sealed record FuzzScenario(int Start, uint[] Genome)
{
    public int Steps => Genome.Length / FuzzStep.Words;

    // The steps are listed once CsCheck has shrunk a failure to a readable size.
    public override string ToString() =>
        $"start {FuzzRig.StartNames[Start]}, {Steps} steps" + (Steps > 40 ? "" : ": " + string.Join("; ", Enumerable.Range(0, Steps).Select(i => FuzzStep.Read(Genome, i))));
}

/// <summary>What a run fed and saw, summed over scenarios.</summary>
internal sealed class FuzzTally
{
    public long Scenarios;
    public long Packets;
    public long Malformed;
    public long Segments;
    public long Icmp;
    public long PacketsOut;
    public long BytesRead;
    public readonly long[] EndStates = new long[Enum.GetValues<TcpState>().Length];

    public void Add(FuzzTally other)
    {
        Scenarios += other.Scenarios;
        Packets += other.Packets;
        Malformed += other.Malformed;
        Segments += other.Segments;
        Icmp += other.Icmp;
        PacketsOut += other.PacketsOut;
        BytesRead += other.BytesRead;
        for (int i = 0; i < EndStates.Length; i++) EndStates[i] += other.EndStates[i];
    }
}

/// <summary>
/// One engine (the harness's, at 10.77.0.2) fuzzed by one scenario: a connection driven by exact segments into a
/// start state, then mutated segments, damaged packets, ICMP errors, clock jumps and application calls. After every
/// step it checks what must hold whatever arrives (RFC 9293's sequence-space invariants, buffer and window bounds,
/// every armed timer known to the engine's queue, nothing stuck with data in flight and no timer to move it); a
/// malformed packet must be counted and change nothing; every byte the application reads must be the peer's byte
/// at that sequence number; everything the engine sends must parse. At the end the application closes everything
/// and the clock runs on: every connection must end and leave no timer behind.
/// </summary>
internal sealed class FuzzRig : IPacketTransmitter
{
    public static readonly string[] StartNames =
    [
        "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "ESTABLISHED (SACK, timestamps)", "ESTABLISHED with data in flight",
        "FIN-WAIT-1", "FIN-WAIT-2 (half-closed)", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "TIME-WAIT",
    ];

    private const int BufferSize = 16 * 1024;
    // Receive buffers start at BufferSize and auto-tuning may grow them up to this (the fuzzer's reads drive it).
    private const int MaxReceiveBuffer = 64 * 1024;
    private const int MaxOutputPerStep = 2_000;
    private const int MaxConnections = 400;
    private static readonly Ipv4Address NotUs = new(10, 77, 0, 9);
    private static readonly TcpTimer[] AllTimers = [.. Enum.GetValues<TcpTimer>().Where(t => t != TcpTimer.None)];
    private static readonly byte[] SendData = [.. Enumerable.Range(0, 20_000).Select(i => (byte)i)];

    private readonly TcpEngine _engine;
    private readonly EventLog _events;
    private readonly TcpPassiveOpen? _listener;
    private readonly List<FourTuple> _known = [];
    private readonly Dictionary<FourTuple, PeerView> _views = [];
    private readonly Dictionary<FourTuple, uint> _ourTsVals = [];
    // 4-tuples that were fed data not from the peer's stream (a damaged packet that still parsed): reads there go unchecked.
    private readonly HashSet<FourTuple> _tainted = [];
    // Connections the application holds, and how far it has read each.
    private readonly Dictionary<TcpConnection, long> _held = new(ReferenceEqualityComparer.Instance);
    private readonly byte[] _packet = new byte[FuzzPackets.MaxPacket];
    private readonly byte[] _readBuffer = new byte[20_000];
    private readonly FuzzTally _tally = new();
    private TimeSpan _now;
    // Replays keep every packet fed, to show the one that went wrong.
    private static readonly bool Verbose = Environment.GetEnvironmentVariable("USERTCP_FUZZ_REPLAY") is not null;
    private readonly List<(string Step, string Hex)> _fed = [];
    private int _outputThisStep;
    private string _step = "setup";

    private FuzzRig(Harness h, TcpPassiveOpen? listener, TcpConnection? main)
    {
        _engine = h.Engine;
        _events = h.Log;
        // The fixtures' passive opens keep their listener: SYNs to it open further connections.
        _listener = listener ?? main?.Listener;
        _now = h.Now;
        _known.Add(main?.Id ?? Harness.Id);
        if (main is not null) _held[main] = 0;
        h.DrainSent();
    }

    /// <summary>Runs one scenario; throws (an assertion) on the first broken invariant, naming the step.</summary>
    public static FuzzTally Run(FuzzScenario scenario)
    {
        FuzzRig rig = Begin(scenario.Start);
        for (int i = 0; i < scenario.Steps; i++)
        {
            FuzzStep step = FuzzStep.Read(scenario.Genome, i);
            rig._step = $"step {i} ({step})";
            rig.Apply(step);
            rig.CheckInvariants();
            rig.TrimEvents();
        }
        rig._step = "drain";
        rig.Drain();
        rig._tally.Scenarios = 1;
        return rig._tally;
    }

    private static FuzzRig Begin(int start)
    {
        var config = new TcpConfig { SendBufferSize = BufferSize, ReceiveBufferSize = BufferSize, MaxReceiveBufferSize = MaxReceiveBuffer };
        switch (start)
        {
            case 0:
                var listening = new Harness(config);
                return new FuzzRig(listening, listening.Engine.Listen(Harness.LocalPort), null);
            case 1:
                (Harness h1, TcpConnection c1) = Fixtures.SynSent(config);
                return new FuzzRig(h1, null, c1);
            case 2:
                (Harness h2, TcpPassiveOpen l2) = Fixtures.SynReceived(config);
                return new FuzzRig(h2, l2, null);
        }
        (Harness h, TcpConnection c) = start switch
        {
            3 => Fixtures.Established(config),
            4 or 5 => ModernPeer.Established(TimeSpan.FromMilliseconds(10), config),
            6 => Fixtures.FinWait1(config),
            7 => Fixtures.FinWait2(config, orphan: false),
            8 => Fixtures.CloseWait(config),
            9 => Fixtures.LastAck(config),
            10 => Fixtures.Closing(config),
            _ => Fixtures.TimeWait(config),
        };
        if (start == 5)
        {
            c.Send(SendData);
            h.Poll();
        }
        return new FuzzRig(h, null, c);
    }

    // ───────────────────────────── steps ─────────────────────────────

    private void Apply(FuzzStep s)
    {
        _outputThisStep = 0;
        switch (s.Action)
        {
            case FuzzAction.Segment:
                FeedSegment(FuzzPackets.Segment(_packet, s, View(_known[s.Target(_known.Count)]), _now));
                break;
            case FuzzAction.Damaged:
                int length = FuzzPackets.Segment(_packet, s, View(_known[s.Target(_known.Count)]), _now);
                FeedDamaged(FuzzPackets.Damage(_packet, length, s.Detail, s.W3 ^ s.W6, NotUs));
                break;
            case FuzzAction.Icmp:
                _tally.Icmp++;
                Feed(FuzzPackets.Icmp(_packet, s, View(_known[s.Target(_known.Count)])));
                break;
            case FuzzAction.NewPeer:
                var id = new FourTuple(new IpEndpoint(Harness.LocalAddress, Harness.LocalPort), new IpEndpoint(Harness.PeerAddress, (ushort)(41_000 + s.W1 % 64)));
                if (!_known.Contains(id)) _known.Add(id);
                // Mostly SYNs (flags choice 4), to the listener when there is one.
                FuzzStep syn = (s.W1 >> 16) % 4 == 0 ? s : s with { W1 = 4 };
                FeedSegment(FuzzPackets.Segment(_packet, syn, View(id), _now));
                break;
            case FuzzAction.Advance:
                TimeSpan to = (s.Detail % 4) switch
                {
                    0 => _engine.PollAt is TimeSpan at && at > _now ? at : _now + TimeSpan.FromSeconds(1),
                    1 => _now + TimeSpan.FromMilliseconds(s.W1 % 2_000),
                    2 => _now + TimeSpan.FromSeconds(s.W1 % 200),
                    _ => _now + TimeSpan.FromMilliseconds(1),
                };
                _now = to;
                _engine.Poll(_now, this);
                break;
            case FuzzAction.UserSend:
                User(s, c => c.Send(SendData.AsSpan(0, (int)(s.W1 % (uint)SendData.Length))));
                break;
            case FuzzAction.UserReceive:
                User(s, c => Read(c, (int)(s.W1 % (uint)_readBuffer.Length)));
                break;
            case FuzzAction.UserClose:
                User(s, c =>
                {
                    switch (s.W1 % 4)
                    {
                        case 0: c.Close(); break;
                        case 1: c.Shutdown(ShutdownDirection.Send); break;
                        case 2: c.Shutdown(ShutdownDirection.Receive); break;
                        default: c.Abort(); break;
                    }
                });
                break;
            case FuzzAction.UserConnect:
                try
                {
                    TcpConnection active = _engine.Connect(new IpEndpoint(Harness.PeerAddress, (ushort)(50_000 + s.W1 % 4)));
                    _held[active] = 0;
                    _known.Add(active.Id);
                }
                catch (TcpException)
                {
                    // every such 4-tuple in use: a refusal, as connect(2)'s EADDRNOTAVAIL
                }
                _engine.Poll(_now, this);
                break;
        }
        while (_listener is { IsClosed: false } && _listener.TryAccept(out TcpConnection accepted))
        {
            _held.TryAdd(accepted, 0);
            if (!_known.Contains(accepted.Id)) _known.Add(accepted.Id);
        }
    }

    // An application call on the step's connection, if the application holds one there; refusals (TcpException) are the API's answer.
    private void User(in FuzzStep s, Action<TcpConnection> call)
    {
        FourTuple id = _known[s.Target(_known.Count)];
        TcpConnection? connection = _held.Keys.FirstOrDefault(c => c.Id == id && c.State != TcpState.Closed) ?? _held.Keys.FirstOrDefault(c => c.Id == id);
        if (connection is null) return;
        try
        {
            call(connection);
        }
        catch (TcpException)
        {
        }
        _engine.Poll(_now, this);
    }

    private void Read(TcpConnection c, int max)
    {
        if (c.Receive(_readBuffer.AsSpan(0, max), out int read) != ReceiveStatus.Data) return;
        long offset = _held[c];
        _held[c] = offset + read;
        if (_tainted.Contains(c.Id)) return;
        for (int i = 0; i < read; i++)
        {
            byte expected = FuzzPackets.PeerByte(c.Irs + 1 + (int)(offset + i));
            if (_readBuffer[i] != expected)
            {
                Assert.Fail($"{_step}: {c} read byte {offset + i} of the stream as {_readBuffer[i]}, the peer sent {expected} (IRS {c.Irs})\n{History(c.Id)}");
            }
        }
        _tally.BytesRead += read;
    }

    private void FeedSegment(int length)
    {
        _tally.Segments++;
        Feed(length);
    }

    // A damaged packet: when the wire layer refuses it, the engine must count it and change nothing at all.
    private void FeedDamaged(int length)
    {
        ReadOnlySpan<byte> bytes = _packet.AsSpan(0, length);
        WireError error = Ipv4Packet.TryParse(bytes, out Ipv4Packet ip);
        bool forUs = error != WireError.None || ip.Destination == _engine.Address;
        if (error == WireError.None && ip.Protocol == Ipv4Packet.ProtocolTcp) error = TcpSegment.TryParse(ip, out _);
        else if (error == WireError.None) error = WireError.NotTcp;
        if (error == WireError.None && forUs)
        {
            // Still a segment (say, a longer header that swallowed payload bytes as options): its data may no longer be
            // the peer's bytes at their sequence numbers, so what the application reads there is not checked.
            if (!CarriesPeerBytes(bytes)) _tainted.Add(new FourTuple(new IpEndpoint(ip.Destination, BinaryPrimitives.ReadUInt16BigEndian(ip.Payload[2..])),
                new IpEndpoint(ip.Source, BinaryPrimitives.ReadUInt16BigEndian(ip.Payload))));
            FeedSegment(length);
            return;
        }
        long malformed = _engine.Counters.MalformedTotal;
        long notForUs = _engine.Counters.PacketsNotForUs;
        long notIpv4 = _engine.Counters[MibCounter.UserTcpDroppedNotIpv4];
        int before = Fingerprint();
        Feed(length);
        // Version 6 is IPv6, not a bad IPv4 header: counted on its own (Linux's IPv4 stack never sees it).
        if (!bytes.IsEmpty && bytes[0] >> 4 == 6) Assert.True(_engine.Counters[MibCounter.UserTcpDroppedNotIpv4] == notIpv4 + 1, $"{_step}: an IPv6 packet was not counted as not IPv4");
        else if (error != WireError.None) Assert.True(_engine.Counters.MalformedTotal == malformed + 1, $"{_step}: a packet the wire layer refuses ({error}) was not counted as malformed");
        else Assert.True(_engine.Counters.PacketsNotForUs == notForUs + 1, $"{_step}: a packet for {NotUs} was not counted as not ours");
        Assert.True(_outputThisStep == 0, $"{_step}: a refused packet ({error}) made the engine send {_outputThisStep} packets");
        Assert.True(Fingerprint() == before, $"{_step}: a refused packet ({error}) changed a connection");
        _tally.Malformed++;
    }

    private static bool CarriesPeerBytes(ReadOnlySpan<byte> packet)
    {
        _ = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        _ = TcpSegment.TryParse(ip, out TcpSegment tcp);
        SeqNumber first = tcp.Has(TcpFlags.Syn) ? tcp.SequenceNumber + 1 : tcp.SequenceNumber;
        for (int i = 0; i < tcp.Payload.Length; i++)
        {
            if (tcp.Payload[i] != FuzzPackets.PeerByte(first + i)) return false;
        }
        return true;
    }

    private void Feed(int length)
    {
        if (Verbose) _fed.Add((_step, Convert.ToHexString(_packet, 0, length)));
        _tally.Packets++;
        _engine.Receive(_packet.AsSpan(0, length), _now, this);
    }

    private PeerView View(FourTuple id)
    {
        TcpConnection? c = null;
        foreach (TcpConnection candidate in _engine.Connections)
        {
            if (candidate.Id == id) c = candidate;
        }
        if (c is not null)
        {
            var view = new PeerView(id, c.RcvNxt, c.RcvWnd, c.SndUna, c.SndMax, c.TimestampsEnabled, _ourTsVals.GetValueOrDefault(id));
            _views[id] = view;
            return view;
        }
        return _views.TryGetValue(id, out PeerView last) ? last : new PeerView(id, new SeqNumber(Fixtures.PeerIsn), 64_240, new SeqNumber(Fixtures.Isn), new SeqNumber(Fixtures.Isn), false, 0);
    }

    // ───────────────────────────── what the engine sends ─────────────────────────────

    public void Transmit(ReadOnlySpan<byte> packet)
    {
        _outputThisStep++;
        _tally.PacketsOut++;
        Assert.True(_outputThisStep <= MaxOutputPerStep, $"{_step}: more than {MaxOutputPerStep} packets sent for one step");
        WireError error = Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        Assert.True(error == WireError.None, $"{_step}: the engine sent a malformed IPv4 packet ({error})");
        Assert.True(ip.Source == _engine.Address, $"{_step}: the engine sent from {ip.Source}");
        if (ip.Protocol == Ipv4Packet.ProtocolIcmp) return;
        error = TcpSegment.TryParse(ip, out TcpSegment tcp);
        Assert.True(error == WireError.None, $"{_step}: the engine sent a malformed TCP segment ({error})");
        if (tcp.Options.Timestamp is TcpTimestamp ts)
        {
            _ourTsVals[new FourTuple(new IpEndpoint(ip.Source, tcp.SourcePort), new IpEndpoint(ip.Destination, tcp.DestinationPort))] = ts.Value;
        }
    }

    // ───────────────────────────── invariants ─────────────────────────────

    private void CheckInvariants()
    {
        Assert.True(_engine.Connections.Count <= MaxConnections, $"{_step}: {_engine.Connections.Count} connections");
        TimeSpan? earliest = null;
        foreach (TcpConnection c in _engine.Connections)
        {
            string where = $"{_step}: {c} (SND.UNA {c.SndUna} SND.NXT {c.SndNxt} SND.MAX {c.SndMax} RCV.NXT {c.RcvNxt} RCV.WND {c.RcvWnd})"
                + (Verbose ? $"\n{History(c.Id)}\n" : "");
            Assert.True(c.State != TcpState.Closed, $"{where}: a closed connection is still in the table");
            Assert.True(c.SndUna <= c.SndNxt && c.SndNxt <= c.SndMax, $"{where}: SND.UNA <= SND.NXT <= SND.MAX broken");
            Assert.True(c.SndMax - c.SndUna <= BufferSize + 2, $"{where}: more in flight than the send buffer holds");
            Assert.True(c.ReceiveBufferSize is >= BufferSize and <= MaxReceiveBuffer, $"{where}: a receive buffer of {c.ReceiveBufferSize} bytes");
            Assert.True(c.BytesUnacknowledged <= BufferSize && c.BytesToRead <= c.ReceiveBufferSize, $"{where}: a buffer beyond its size");
            Assert.True(c.RcvWnd <= c.ReceiveBufferSize, $"{where}: a window beyond the receive buffer");
            bool anyArmed = false;
            bool moverArmed = false;
            foreach (TcpTimer timer in AllTimers)
            {
                if (c.TimerDeadline(timer) is not TimeSpan at) continue;
                anyArmed = true;
                moverArmed |= timer is TcpTimer.Retransmission or TcpTimer.LossProbe or TcpTimer.ReorderTimeout or TcpTimer.Persist;
                Assert.True(at >= _now, $"{where}: {timer} deadline {at} already passed at {_now}");
                Assert.True(c.State != TcpState.TimeWait || timer == TcpTimer.TimeWait, $"{where}: {timer} armed in TIME-WAIT");
                if (earliest is null || at < earliest) earliest = at;
            }
            Assert.True(c.State != TcpState.TimeWait || anyArmed, $"{where}: TIME-WAIT without its timer");
            // Something unacknowledged (or a SYN to repeat) needs a timer that will send again, or the connection is stuck.
            if (c.SndMax != c.SndUna || c.State is TcpState.SynSent or TcpState.SynReceived)
            {
                Assert.True(moverArmed, $"{where}: data or a SYN in flight and no timer to send it again");
            }
        }
        foreach (TimeWaitRecord t in _engine.TimeWaits)
        {
            Assert.True(t.State == TcpState.TimeWait, $"{_step}: {t.Id} a TIME-WAIT record in {t.State.ToRfcName()} is still in the table");
            Assert.True(t.Deadline is TimeSpan at && at >= _now, $"{_step}: {t.Id} TIME-WAIT without its timer, or a deadline {t.Deadline} already passed at {_now}");
            if (earliest is null || t.Deadline < earliest) earliest = t.Deadline;
        }
        if (earliest is not null)
        {
            Assert.True(_engine.PollAt is TimeSpan next && next <= earliest, $"{_step}: a timer at {earliest} the engine's queue does not know (PollAt {_engine.PollAt})");
        }
    }

    // A hash of everything a refused packet must leave alone.
    private int Fingerprint()
    {
        var hash = new HashCode();
        hash.Add(_engine.Connections.Count);
        foreach (TcpConnection c in _engine.Connections)
        {
            hash.Add(c.Id);
            hash.Add(c.State);
            hash.Add(c.SndUna);
            hash.Add(c.SndNxt);
            hash.Add(c.SndMax);
            hash.Add(c.SndWnd);
            hash.Add(c.RcvNxt);
            hash.Add(c.RcvWnd);
            hash.Add(c.BytesToRead);
            hash.Add(c.CongestionWindow);
            foreach (TcpTimer timer in AllTimers) hash.Add(c.TimerDeadline(timer));
        }
        foreach (TimeWaitRecord t in _engine.TimeWaits)
        {
            hash.Add(t.Id);
            hash.Add(t.Deadline);
            hash.Add(t.TsRecent);
        }
        return hash.ToHashCode();
    }

    // Only recent events are kept (for History): a long scenario's log would otherwise grow with every segment.
    private void TrimEvents()
    {
        if (_events.Events.Count > 8192) _events.Events.RemoveRange(0, 4096);
    }

    // The connection's last events, to say how it got where it failed.
    private string History(FourTuple id) =>
        string.Join("\n", _events.Events.Where(e => e.Connection == id && e.Kind is not (TcpEventKind.TimerSet)).TakeLast(60).Select(e => e.ToString()))
        + (Verbose ? "\npackets fed:\n" + string.Join("\n", _fed.Select(f => $"{f.Step}: {f.Hex}")) : "");

    // The application closes everything and the peer goes silent: every connection must end, no timer must remain.
    private void Drain()
    {
        foreach (TcpConnection c in _engine.Connections) _tally.EndStates[(int)c.State]++;
        foreach (TimeWaitRecord t in _engine.TimeWaits) _tally.EndStates[(int)t.State]++;
        _listener?.Close();
        foreach (TcpConnection c in _held.Keys) c.Close();
        _engine.Poll(_now, this);
        TimeSpan start = _now;
        for (int i = 0; i < 10_000 && _engine.PollAt is TimeSpan at; i++)
        {
            if (at > _now) _now = at;
            _outputThisStep = 0;
            _engine.Poll(_now, this);
            CheckInvariants();
        }
        string left = string.Join(", ", _engine.Connections.Select(c => $"{c} timers [{string.Join(' ', AllTimers.Where(t => c.TimerDeadline(t) is not null))}]"));
        Assert.True(_engine.TimeWaits.Count == 0, $"drain: {_engine.TimeWaits.Count} TIME-WAIT records left after {_now - start}");
        if (_engine.Connections.Count > 0)
        {
            Assert.Fail($"drain: still open {_now - start} after the application closed everything: {left}\n{History(_engine.Connections.First().Id)}");
        }
        Assert.True(_engine.PollAt is null, $"drain: a deadline at {_engine.PollAt} with no connection left");
    }
}
