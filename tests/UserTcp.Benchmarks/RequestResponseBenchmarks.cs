using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Benchmarks;

/// <summary>
/// The engine's share of one 1-byte request/response, as `usertcp serve`'s echo plays it against a Linux client on the
/// same vCPU (the lwIP harness's rr-samecpu): timestamps, SACK and window scale negotiated, MSS 1460, echo's options
/// (quick ACKs off, so the ACK rides on the answer; NoDelay). Per operation, as the runtime calls the engine in the two
/// passes of a request (docs/design.md "Runtime"): the peer's 1-byte segment, which acknowledges our last answer and
/// echoes its TSval, arrives and the pass's end polls; the waiting read takes the byte and the pass polls again; echo's
/// write pass polls, queues one byte and polls (the answer goes out); each pass reads PollAt; echo's next read finds
/// nothing and waits without a pass (it reads the connection's state only). The clock moves as in a 77k trans/s run: 13 µs
/// per request, 1 µs between passes. The peer's segment is written by hand each time (IPv4 and TCP header, options,
/// checksum: part of the cost measured). The engine builds what the runtime's sink consumes (every kind but a timer armed
/// and a segment sent).
/// </summary>
[MemoryDiagnoser]
public class RequestResponseBenchmarks
{
    private const ushort OurPort = 7;
    private static readonly TimeSpan Pass = TimeSpan.FromMicroseconds(1);
    private static readonly TimeSpan Request = TimeSpan.FromMicroseconds(13);

    private readonly byte[] _segment = new byte[1500];
    private readonly byte[] _request = [(byte)'x'];
    private readonly byte[] _readBuffer = new byte[4096];
    private readonly Output _output = new();
    private TcpEngine _engine = null!;
    private TcpConnection _connection = null!;
    private SeqNumber _peerNext;
    private uint _peerTsval = 1_000;
    private TimeSpan _now;

    /// <summary>Rounds of <paramref name="count"/> requests without BenchmarkDotNet (<see cref="RequestLoop"/>): each round's ns per request.</summary>
    public static double[] Loop(int rounds, long count)
    {
        var benchmark = new RequestResponseBenchmarks();
        benchmark.Setup();
        return RequestLoop.Run(benchmark.EchoOneByte, rounds, count);
    }

    /// <summary>
    /// Rounds of <paramref name="count"/> requests on one connection, alternately with the engine's PlainSegmentWriter and
    /// without it (PacketWriter alone), so a busy machine disturbs both alike: each round's ns per request, with and
    /// without, by the wall clock and by the process's CPU time (which a busy machine's preemptions do not inflate).
    /// </summary>
    public static (double[] With, double[] Without, double[] CpuWith, double[] CpuWithout) LoopPlainSegments(int rounds, long count)
    {
        var benchmark = new RequestResponseBenchmarks();
        benchmark.Setup();
        var with = new double[rounds];
        var without = new double[rounds];
        var cpuWith = new double[rounds];
        var cpuWithout = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            // The order alternates too, so neither side always runs first.
            for (int half = 0; half < 2; half++)
            {
                bool plain = (round + half) % 2 == 0;
                benchmark._engine.WritesPlainSegments = plain;
                (plain ? with : without)[round] = RequestLoop.Run(benchmark.EchoOneByte, 1, count)[0];
                (plain ? cpuWith : cpuWithout)[round] = RequestLoop.LastCpuPerRequest[0];
            }
        }
        return (with, without, cpuWith, cpuWithout);
    }

    [GlobalSetup]
    public void Setup()
    {
        _engine = new TcpEngine(PeerSegment.Ours, new TcpConfig { InitialSequenceNumber = _ => 1_000_000 }, new RuntimeLikeSink());
        TcpPassiveOpen listener = _engine.Listen(OurPort, connectionConfig: _engine.Config with { QuickAcks = 0, StartInPingPongMode = true, NoDelay = true });
        _peerNext = new SeqNumber(5_000);
        _now = TimeSpan.FromSeconds(1);
        // Linux's SYN: <mss 1460,sackOK,TS val … ecr 0,nop,wscale 7>.
        var syn = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(_peerTsval, 0), WindowScale = 7 };
        Deliver(TcpFlags.Syn, default, syn, ReadOnlySpan<byte>.Empty);
        _peerNext += 1;
        Deliver(TcpFlags.Ack, new SeqNumber(1_000_001), Timestamps(), ReadOnlySpan<byte>.Empty);
        if (!listener.TryAccept(out _connection)) throw new InvalidOperationException("the handshake did not complete");
        if (!_connection.TimestampsEnabled || !_connection.SackEnabled || !_connection.WindowScalingEnabled) throw new InvalidOperationException("options not negotiated");
        _output.Packets = 0;
        // Warm the exchange past quick-ACK mode, the first RTT samples and the first buffer growth.
        for (int i = 0; i < 1_000; i++) EchoOneByte();
    }

    /// <summary>One request in, read, echoed and sent, with the empty polls of the runtime's two passes.</summary>
    [Benchmark]
    public int EchoOneByte()
    {
        // The reader's pass: the request arrives; the pass's end polls, the pending read takes the byte, it polls again.
        _now += Request - 2 * Pass;
        Deliver(TcpFlags.Ack | TcpFlags.Psh, _connection.SndNxt, Timestamps(), _request);
        _peerNext += 1;
        _engine.Poll(_now, _output);
        _connection.Receive(_readBuffer, out int read);
        _engine.Poll(_now, _output);
        _ = _engine.PollAt;
        // Echo's write pass: the answer goes out, carrying the ACK.
        _now += Pass;
        _engine.Poll(_now, _output);
        _connection.Send(_readBuffer.AsSpan(0, read));
        _engine.Poll(_now, _output);
        _ = _engine.PollAt;
        // Echo's next read: nothing to read, so it waits without a pass (UserTcpConnection's ReadWouldWait).
        bool waits = _connection.BytesToRead == 0 && !_connection.FinReceived && !_connection.IsReceiveShutdown && _connection.Error == TcpError.None
            && _connection.State is not (TcpState.Closed or TcpState.SynSent or TcpState.SynReceived);
        if (!waits) throw new InvalidOperationException("echo's next read would not wait");
        if (_output.Packets != 1) throw new InvalidOperationException($"the request drew {_output.Packets} segments, not one answer");
        _output.Packets = 0;
        return read;
    }

    // The peer's TSval ticks at 1 ms, as Linux's; TSecr echoes our last TSval.
    private TcpOptions Timestamps() => new() { Timestamp = new TcpTimestamp(_peerTsval + (uint)_now.TotalMilliseconds, _output.LastTsval) };

    private void Deliver(TcpFlags flags, SeqNumber ack, TcpOptions options, ReadOnlySpan<byte> payload)
    {
        int length = PeerSegment.Write(_segment, OurPort, _peerNext, ack, flags, options, payload);
        _engine.Receive(_segment.AsSpan(0, length), _now, _output);
    }

    /// <summary>Every kind but a timer armed and a segment sent, as the runtime's sink (StackShard.RuntimeEvents); nothing done with them.</summary>
    private sealed class RuntimeLikeSink : ITcpEventSink
    {
        public void OnEvent(in TcpEvent tcpEvent)
        {
        }

        public bool Consumes(TcpEventKind kind) => kind is not (TcpEventKind.TimerSet or TcpEventKind.SegmentOut);
    }

    /// <summary>As the runtime's batch: the engine writes in place into an arena; the answer's TSval is read for the peer's TSecr.</summary>
    private sealed class Output : IPacketTransmitter
    {
        private readonly byte[] _arena = new byte[2048];

        public long Packets { get; set; }
        public uint LastTsval { get; private set; }

        public Span<byte> GetBuffer(int length) => _arena.AsSpan(0, length);

        public void Transmit(ReadOnlySpan<byte> packet) => Packets++;

        public TransmitResult TransmitSegment(ReadOnlySpan<byte> packet, FourTuple connection, in SegmentSummary segment, bool carriesSack)
        {
            Packets++;
            // Our segments' options start with NOP, NOP, TS (Linux's layout): TSval at 20 + 20 + 4.
            if (packet.Length >= 52 && packet[40] == 1 && packet[42] == 8) LastTsval = BinaryPrimitives.ReadUInt32BigEndian(packet[44..]);
            else if (packet.Length >= 56 && packet[44] == 4 && packet[46] == 8) LastTsval = BinaryPrimitives.ReadUInt32BigEndian(packet[48..]); // SYN-ACK: MSS, sackOK, TS
            return TransmitResult.Sent;
        }
    }
}
