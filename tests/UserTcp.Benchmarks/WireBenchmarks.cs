using BenchmarkDotNet.Attributes;
using UserTcp.Wire;

namespace UserTcp.Benchmarks;

/// <summary>The per-packet path on a full-sized (1500-byte) segment: what every arriving packet costs before the engine.</summary>
[MemoryDiagnoser]
public class SegmentBenchmarks
{
    private readonly byte[] _packet = new byte[1500];
    private readonly byte[] _output = new byte[1500];
    private readonly byte[] _payload = new byte[1448];

    [GlobalSetup]
    public void Setup()
    {
        new Random(1).NextBytes(_payload);
        var tcp = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = 51936,
            SequenceNumber = new SeqNumber(1),
            AcknowledgmentNumber = new SeqNumber(1),
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            Window = 502,
            Options = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) },
            Payload = _payload,
        };
        if (!PacketWriter.TryWriteIpv4Tcp(_packet, new Ipv4Repr(Ipv4Address.Parse("10.77.0.2"), Ipv4Address.Parse("10.77.0.1")), tcp, out _))
            throw new InvalidOperationException("setup packet did not fit");
    }

    /// <summary>IPv4 + TCP validation with both checksums verified, options summarised.</summary>
    [Benchmark(Baseline = true)]
    public int ParseAndVerifyChecksums()
    {
        Ipv4Packet.TryParse(_packet, out Ipv4Packet ip);
        TcpSegment.TryParse(ip, out TcpSegment tcp);
        return tcp.Payload.Length;
    }

    /// <summary>The same without checksum verification: what parsing alone costs.</summary>
    [Benchmark]
    public int ParseOnly()
    {
        Ipv4Packet.TryParse(_packet, out Ipv4Packet ip, verifyChecksum: false);
        TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: false);
        return tcp.Payload.Length;
    }

    /// <summary>Emitting headers, options, payload copy and both checksums.</summary>
    [Benchmark]
    public int Write()
    {
        var tcp = new TcpRepr
        {
            SourcePort = 80,
            DestinationPort = 51936,
            SequenceNumber = new SeqNumber(1),
            AcknowledgmentNumber = new SeqNumber(1),
            Flags = TcpFlags.Ack,
            Window = 502,
            Options = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) },
            Payload = _payload,
        };
        PacketWriter.TryWriteIpv4Tcp(_output, new Ipv4Repr(new Ipv4Address(10, 77, 0, 2), new Ipv4Address(10, 77, 0, 1)), tcp, out int written);
        return written;
    }
}

/// <summary>Vectorized Internet checksum against the plain RFC 1071 loop, as a ratio.</summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    [Params(40, 1500, 65535)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(2).NextBytes(_data);
    }

    /// <summary>RFC 1071 §4.1 as written: big-endian 16-bit words one at a time.</summary>
    [Benchmark(Baseline = true)]
    public ushort ReferenceLoop()
    {
        ulong sum = 0;
        byte[] data = _data;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length) sum += (uint)data[i] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Benchmark]
    public ushort Vectorized() => InternetChecksum.Compute(_data);
}
