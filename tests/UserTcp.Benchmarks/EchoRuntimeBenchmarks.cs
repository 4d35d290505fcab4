using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Services;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Benchmarks;

/// <summary>
/// A whole 1-byte request/response through the runtime, as `usertcp serve`'s echo answers the lwIP harness's rr-samecpu
/// client, without the system calls: the request is handed to a pumped stack (<see cref="NetStack.Pump"/>, the reader's
/// pass without its read), echo (the real <see cref="EchoService"/>, inline) reads it and writes the answer, which the
/// device takes in place of the TUN write. The clock is the system's, as in `serve`, but its timers never fire (a tail loss probe
/// after a pause of the benchmark's would be an extra segment; arming them is measured all the same). What <see cref="RequestResponseBenchmarks"/>
/// measures of the engine is part of this; the rest is the runtime's share: the passes, locks, completions, the echo
/// loop's awaits and the batch. The peer's segment is written by hand each time, as there.
/// </summary>
[MemoryDiagnoser]
public class EchoRuntimeBenchmarks : IDisposable
{

    private readonly PeerDevice _device = new();
    private readonly CancellationTokenSource _stop = new();
    private NetStack _stack = null!;
    private Task _echo = Task.CompletedTask;
    private SeqNumber _peerNext = new(5_000);
    private SeqNumber _ourNext = new(1_000_001);
    private uint _peerTsval = 1_000;

    /// <summary>Rounds of <paramref name="count"/> requests without BenchmarkDotNet (<see cref="RequestLoop"/>): each round's ns per request.</summary>
    public static double[] Loop(int rounds, long count)
    {
        using var benchmark = new EchoRuntimeBenchmarks();
        benchmark.Setup();
        return RequestLoop.Run(benchmark.EchoOneByte, rounds, count);
    }

    [GlobalSetup]
    public void Setup()
    {
        _stack = NetStack.Create(_device, new NetStackOptions { Address = PeerSegment.Ours, Tcp = new TcpConfig { InitialSequenceNumber = _ => 1_000_000 } },
            timeProvider: new ClockWithoutTimers());
        var echo = new EchoService();
        UserTcpListener listener = _stack.Listen(EchoService.Port, options: new UserTcpConnectionOptions
        {
            InlineCompletions = true,
            NoDelay = true,
            Tcp = _stack.TcpConfig with { QuickAcks = 0, StartInPingPongMode = true },
        });
        // Linux's SYN: <mss 1460,sackOK,TS val … ecr 0,nop,wscale 7>; then its ACK of our SYN-ACK.
        Deliver(TcpFlags.Syn, default, new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(_peerTsval, 0), WindowScale = 7 }, []);
        _peerNext += 1;
        Deliver(TcpFlags.Ack, _ourNext, Timestamps(), []);
        if (!listener.TryAccept(out UserTcpConnection? connection)) throw new InvalidOperationException("the handshake did not complete");
        _echo = echo.HandleConnectionAsync(connection, _stop.Token);
        _device.DataSegments = 0;
        _device.Segments = 0;
        // Past quick-ACK mode, the first RTT samples and the JIT's tiers.
        for (int i = 0; i < 20_000; i++) EchoOneByte();
    }

    /// <summary>One request in; echo's answer out, carrying the ACK; echo's next read waits.</summary>
    [Benchmark]
    public int EchoOneByte()
    {
        Deliver(TcpFlags.Ack | TcpFlags.Psh, _ourNext, Timestamps(), "x"u8);
        _peerNext += 1;
        _ourNext += 1;
        // On the real clock a pass held up past the delayed-ACK time (the machine's other load) sends the ACK alone first, as serve would.
        int answers = _device.DataSegments;
        if (answers != 1) throw new InvalidOperationException($"the request drew {answers} answers (of {_device.Segments} segments), not one");
        _device.DataSegments = 0;
        _device.Segments = 0;
        return answers;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _stop.Cancel();
        _stack.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _stop.Dispose();
        _device.Dispose();
        GC.SuppressFinalize(this);
    }

    // The peer's TSval ticks at 1 ms, as Linux's; TSecr echoes our last TSval.
    private TcpOptions Timestamps() => new() { Timestamp = new TcpTimestamp(_peerTsval++, _device.LastTsval) };

    private void Deliver(TcpFlags flags, SeqNumber ack, TcpOptions options, ReadOnlySpan<byte> payload)
    {
        _device.PendingLength = PeerSegment.Write(_device.Pending, EchoService.Port, _peerNext, ack, flags, options, payload);
        _stack.Pump();
    }

    /// <summary>The system's clock, with timers that are armed and never fire.</summary>
    private sealed class ClockWithoutTimers : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Unfired();

        private sealed class Unfired : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    /// <summary>Hands the stack the one packet pending; takes what it writes, noting the TSval for the peer's TSecr.</summary>
    private sealed class PeerDevice : IPacketDevice
    {
        public byte[] Pending { get; } = new byte[1500];
        public int PendingLength { get; set; }
        public int Segments { get; set; }
        public int DataSegments { get; set; }
        public uint LastTsval { get; private set; }
        public int Mtu => 1500;

        public bool WaitReadable(TimeSpan timeout) => PendingLength > 0;

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = PendingLength;
            if (length == 0) return false;
            Pending.AsSpan(0, length).CopyTo(packet);
            PendingLength = 0;
            return true;
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            Segments++;
            if (packet.Length > 20 + (packet[32] >> 4) * 4) DataSegments++; // longer than its IPv4 and TCP headers: it carries data
            // Our segments' options start with NOP, NOP, TS (Linux's layout): TSval at 20 + 20 + 4; a SYN-ACK's after MSS, sackOK.
            if (packet.Length >= 52 && packet[40] == 1 && packet[42] == 8) LastTsval = BinaryPrimitives.ReadUInt32BigEndian(packet[44..]);
            else if (packet.Length >= 56 && packet[44] == 4 && packet[46] == 8) LastTsval = BinaryPrimitives.ReadUInt32BigEndian(packet[48..]);
        }

        public void Dispose()
        {
        }
    }
}
