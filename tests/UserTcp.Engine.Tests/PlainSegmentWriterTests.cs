using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>
/// PlainSegmentWriter (issue 10): a plain segment — no option but NOP NOP TS — written field by field comes out byte for
/// byte as PacketWriter writes it, checksums included, with and without checksum offload; anything else is not plain.
/// </summary>
public class PlainSegmentWriterTests
{
    private static readonly TcpFlags[] FlagChoices =
    [
        TcpFlags.Ack, TcpFlags.Ack | TcpFlags.Psh, TcpFlags.Ack | TcpFlags.Fin, TcpFlags.Rst, TcpFlags.Rst | TcpFlags.Ack,
        TcpFlags.Ack | TcpFlags.Ece, TcpFlags.Ack | TcpFlags.Cwr | TcpFlags.Psh, TcpFlags.Ack | TcpFlags.Urg, TcpFlags.Fin | TcpFlags.Ack | TcpFlags.Psh,
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Plain_segments_come_out_byte_for_byte_as_the_general_writer_writes_them(bool partialChecksum)
    {
        var random = new Random(10);
        for (int i = 0; i < 20_000; i++)
        {
            var id = new FourTuple(new IpEndpoint(new Ipv4Address((uint)random.NextInt64(0, 1L << 32)), (ushort)random.Next(65536)),
                new IpEndpoint(new Ipv4Address((uint)random.NextInt64(0, 1L << 32)), (ushort)random.Next(65536)));
            // Short payloads, every length and odd ones among them; with offload long ones too (no sum to take).
            byte[] payload = new byte[random.Next(partialChecksum ? 1600 : 64)];
            random.NextBytes(payload);
            var options = new TcpOptions();
            if (random.Next(4) != 0) options.Timestamp = new TcpTimestamp(Edge(random), Edge(random));
            var segment = new TcpRepr
            {
                SequenceNumber = new SeqNumber(Edge(random)),
                AcknowledgmentNumber = new SeqNumber(Edge(random)),
                Flags = FlagChoices[random.Next(FlagChoices.Length)],
                Window = (ushort)(random.Next(3) == 0 ? ushort.MaxValue : random.Next(65536)),
                UrgentPointer = (ushort)(random.Next(4) == 0 ? random.Next(65536) : 0),
                Options = options,
                Payload = payload,
            };
            byte typeOfService = (byte)random.Next(256);
            bool dontFragment = random.Next(2) == 0;
            ushort identification = (ushort)random.Next(65536);

            Assert.True(PlainSegmentWriter.Fits(segment, partialChecksum, out bool timestamp));
            Assert.Equal(options.Timestamp is not null, timestamp);
            byte[] plain = new byte[PlainSegmentWriter.Length(segment, timestamp) + 8];
            int length = PlainSegmentWriter.Write(plain, id, segment, timestamp, typeOfService, dontFragment, identification, partialChecksum);

            TcpRepr withPorts = segment;
            withPorts.SourcePort = id.Local.Port;
            withPorts.DestinationPort = id.Remote.Port;
            var ip = new Ipv4Repr(id.Local.Address, id.Remote.Address) { Identification = identification, TypeOfService = typeOfService, DontFragment = dontFragment };
            byte[] general = new byte[plain.Length];
            Assert.True(PacketWriter.TryWriteIpv4Tcp(general, ip, withPorts, out int generalLength, partialChecksum));

            Assert.Equal(generalLength, length);
            Assert.Equal(general, plain);
        }
    }

    [Fact]
    public void A_segment_with_any_other_option_or_a_syn_or_a_long_summed_payload_is_not_plain()
    {
        var timestamp = new TcpOptions { Timestamp = new TcpTimestamp(1, 2) };
        TcpOptions sack = timestamp;
        sack.AddSackBlock(new SackBlock(new SeqNumber(10), new SeqNumber(20)));
        TcpOptions fastOpen = timestamp;
        fastOpen.SetFastOpen(TcpFastOpenKind.Rfc7413, default);
        TcpOptions[] notPlain =
        [
            timestamp with { MaxSegmentSize = 1460 },
            timestamp with { WindowScale = 7 },
            timestamp with { SackPermitted = true },
            sack,
            fastOpen,
        ];
        foreach (TcpOptions options in notPlain) Assert.False(PlainSegmentWriter.Fits(new TcpRepr { Flags = TcpFlags.Ack, Options = options }, partialChecksum: false, out _));
        Assert.False(PlainSegmentWriter.Fits(new TcpRepr { Flags = TcpFlags.Syn | TcpFlags.Ack, Options = timestamp }, partialChecksum: true, out _));
        // Without offload a payload of 64 bytes or more keeps the general writer's single pass that copies and sums it.
        Assert.True(PlainSegmentWriter.Fits(new TcpRepr { Flags = TcpFlags.Ack, Options = timestamp, Payload = new byte[63] }, partialChecksum: false, out _));
        Assert.False(PlainSegmentWriter.Fits(new TcpRepr { Flags = TcpFlags.Ack, Options = timestamp, Payload = new byte[64] }, partialChecksum: false, out _));
        Assert.True(PlainSegmentWriter.Fits(new TcpRepr { Flags = TcpFlags.Ack, Options = timestamp, Payload = new byte[64] }, partialChecksum: true, out _));
    }

    // Values near the wrap and the edges of the words as often as anywhere else.
    private static uint Edge(Random random) => random.Next(4) switch
    {
        0 => uint.MaxValue - (uint)random.Next(4),
        1 => (uint)random.Next(4),
        2 => 0xFFFF + (uint)random.Next(-2, 3),
        _ => (uint)random.NextInt64(0, 1L << 32),
    };
}
