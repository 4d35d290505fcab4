using BenchmarkDotNet.Attributes;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Benchmarks;

/// <summary>
/// The engine alone, on an established connection whose peer is played by hand (no options beyond the MSS, so none
/// is negotiated): an in-order data segment arriving, and an ACK for data just sent. Each operation writes the
/// peer's segment first (about 70 ns of header and checksum, see <see cref="SegmentBenchmarks"/>). Time advances by
/// 10 µs per operation, so timers move as they do in a transfer.
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private const int Payload = 1448;
    private static readonly Ipv4Address Ours = new(10, 0, 0, 2);
    private static readonly Ipv4Address Peer = new(10, 0, 0, 1);
    private const ushort PeerPort = 40000;

    private readonly byte[] _segment = new byte[1500];
    private readonly byte[] _payload = new byte[Payload];
    private readonly byte[] _drain = new byte[64 * 1024];
    private readonly Output _output = new();
    private TcpEngine _engine = null!;
    private TcpConnection _connection = null!;
    private SeqNumber _peerNext;
    private TimeSpan _now;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new TcpEngine(Ours, new TcpConfig { InitialSequenceNumber = _ => 1_000_000 });
        TcpPassiveOpen listener = _engine.Listen(80);
        _peerNext = new SeqNumber(5_000);
        var syn = new TcpOptions { MaxSegmentSize = 1460 };
        Deliver(TcpFlags.Syn, default, syn, ReadOnlySpan<byte>.Empty);
        _peerNext += 1;
        Deliver(TcpFlags.Ack, new SeqNumber(1_000_001), default, ReadOnlySpan<byte>.Empty);
        if (!listener.TryAccept(out _connection)) throw new InvalidOperationException("the handshake did not complete");
    }

    /// <summary>One full-sized, in-order data segment in, and the application reading it.</summary>
    [Benchmark]
    public int InOrderDataSegment()
    {
        Deliver(TcpFlags.Ack | TcpFlags.Psh, _connection.SndNxt, default, _payload);
        _peerNext += Payload;
        _connection.Receive(_drain, out int read);
        return read;
    }

    /// <summary>The application sends a segment; the peer's ACK for it comes in.</summary>
    [Benchmark]
    public int SendAndAck()
    {
        _connection.Send(_payload);
        _engine.Poll(_now, _output);
        Deliver(TcpFlags.Ack, _connection.SndNxt, default, ReadOnlySpan<byte>.Empty);
        return _connection.BytesUnacknowledged;
    }

    private void Deliver(TcpFlags flags, SeqNumber ack, TcpOptions options, ReadOnlySpan<byte> payload)
    {
        var tcp = new TcpRepr
        {
            SourcePort = PeerPort,
            DestinationPort = 80,
            SequenceNumber = _peerNext,
            AcknowledgmentNumber = ack,
            Flags = flags,
            Window = 65535,
            Options = options,
            Payload = payload,
        };
        if (!PacketWriter.TryWriteIpv4Tcp(_segment, new Ipv4Repr(Peer, Ours), tcp, out int length)) throw new InvalidOperationException("segment does not fit");
        _now += TimeSpan.FromTicks(100);
        _engine.Receive(_segment.AsSpan(0, length), _now, _output);
    }

    /// <summary>Where the engine's segments go: counted, nothing kept.</summary>
    private sealed class Output : IPacketTransmitter
    {
        public long Packets { get; private set; }

        public void Transmit(ReadOnlySpan<byte> packet) => Packets++;
    }
}
