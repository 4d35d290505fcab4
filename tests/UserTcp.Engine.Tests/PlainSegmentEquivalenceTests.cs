using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The engine with PlainSegmentWriter and without it (TcpEngine.WritesPlainSegments off: PacketWriter alone) plays one
/// connection's life the same: every packet byte for byte, every event, every counter. The life takes in what is plain
/// (ACKs, short data, FIN, probes, the final RST) and what is not (the SYN-ACK, SACK blocks, long data without offload).
/// </summary>
public class PlainSegmentEquivalenceTests
{
    private static readonly Ipv4Address Local = new(10, 77, 0, 2);
    private static readonly Ipv4Address Peer = new(10, 77, 0, 1);
    private const ushort LocalPort = 80, PeerPort = 40000;
    private const uint PeerIss = 0x7FFF_FFF0;

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public void A_connection_sends_the_same_packets_events_and_counters_with_and_without_the_plain_writer(bool timestamps, bool partialChecksums)
    {
        Life plain = Play(timestamps, partialChecksums, writesPlain: true);
        Life general = Play(timestamps, partialChecksums, writesPlain: false);

        Assert.True(plain.Packets.Count > 15, $"only {plain.Packets.Count} packets");
        Assert.Contains(plain.Events, e => e.Kind == TcpEventKind.Retransmission);
        Assert.Equal(general.Packets.Count, plain.Packets.Count);
        for (int i = 0; i < plain.Packets.Count; i++) Assert.True(general.Packets[i].AsSpan().SequenceEqual(plain.Packets[i]), $"packet {i} differs");
        Assert.Equal(general.Events, plain.Events);
        Assert.Equal(general.Counters, plain.Counters);
        Assert.Equal(general.Final, plain.Final);
    }

    private sealed record Life(List<byte[]> Packets, List<TcpEvent> Events, IReadOnlyList<KeyValuePair<string, long>> Counters, TcpState Final);

    private static Life Play(bool timestamps, bool partialChecksums, bool writesPlain)
    {
        var output = new Recorder(partialChecksums);
        var log = new Recorder(partialChecksums);
        var config = new TcpConfig { InitialSequenceNumber = _ => 0xFFFF_FFF0, TimestampOffset = _ => 0, Timestamps = timestamps };
        var engine = new TcpEngine(Local, config, log) { WritesPlainSegments = writesPlain };
        TcpPassiveOpen listener = engine.Listen(LocalPort);
        TimeSpan now = TimeSpan.Zero;
        uint peerTsval = 500;
        uint theirs = PeerIss;
        uint ours = 0xFFFF_FFF0;

        void Deliver(TcpFlags flags, uint seq, uint ack, int length = 0, ushort window = 502, bool syn = false, SackBlock? sack = null)
        {
            var options = new TcpOptions();
            if (syn) options = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 7 };
            if (timestamps) options.Timestamp = new TcpTimestamp(peerTsval++, output.LastTsval);
            if (sack is SackBlock block) options.AddSackBlock(block);
            var repr = new TcpRepr
            {
                SourcePort = PeerPort, DestinationPort = LocalPort, SequenceNumber = new SeqNumber(seq), AcknowledgmentNumber = new SeqNumber(ack),
                Flags = flags, Window = window, Options = options, Payload = Enumerable.Range(0, length).Select(i => (byte)(seq + i)).ToArray(),
            };
            byte[] packet = new byte[PacketWriter.Ipv4TcpLength(repr)];
            Assert.True(PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Peer, Local), repr, out _));
            engine.Receive(packet, now, output);
        }

        void Advance(TimeSpan by)
        {
            now += by;
            engine.Poll(now, output);
        }

        void RunTimers(int count)
        {
            for (int i = 0; i < count && engine.PollAt is TimeSpan at; i++)
            {
                now = at > now ? at : now;
                engine.Poll(now, output);
            }
        }

        // The handshake (the SYN-ACK's options are not plain).
        Deliver(TcpFlags.Syn, theirs, 0, syn: true);
        theirs++;
        ours++;
        Advance(TimeSpan.FromMilliseconds(10));
        Deliver(TcpFlags.Ack, theirs, ours);
        Assert.True(listener.TryAccept(out TcpConnection c));
        byte[] buffer = new byte[70_000];

        // Short data both ways: quick ACKs, then data carrying them; a delayed ACK from its timer.
        for (int i = 0; i < 4; i++)
        {
            Advance(TimeSpan.FromMilliseconds(1));
            Deliver(TcpFlags.Ack | TcpFlags.Psh, theirs, ours, length: 10);
            theirs += 10;
            c.Receive(buffer, out _);
            Assert.Equal(7, c.Send(buffer.AsSpan(0, 7)));
            engine.Poll(now, output);
            Advance(TimeSpan.FromMilliseconds(1));
            ours += 7;
        }
        Deliver(TcpFlags.Ack, theirs, ours);
        Advance(TimeSpan.FromMilliseconds(1));
        Deliver(TcpFlags.Ack | TcpFlags.Psh, theirs, ours, length: 3);
        theirs += 3;
        RunTimers(1); // the delayed ACK

        // Out of order from the peer: a duplicate ACK with a SACK block (not plain); the gap filled, an ACK at once.
        Deliver(TcpFlags.Ack, theirs + 100, ours, length: 50);
        Deliver(TcpFlags.Ack, theirs, ours, length: 100);
        theirs += 150;
        c.Receive(buffer, out _);

        // Long data (plain only with offload) and a short tail, lost: the tail loss probes resend the tail, then its ACK.
        Assert.Equal(3000, c.Send(buffer.AsSpan(0, 3000)));
        engine.Poll(now, output);
        RunTimers(2);
        Deliver(TcpFlags.Ack, theirs, ours + 3000, sack: null);
        ours += 3000;
        Advance(TimeSpan.FromMilliseconds(5));

        // A closed window: persist probes; then it opens again.
        Deliver(TcpFlags.Ack, theirs, ours, window: 0);
        Assert.Equal(20, c.Send(buffer.AsSpan(0, 20)));
        engine.Poll(now, output);
        RunTimers(3);
        Deliver(TcpFlags.Ack, theirs, ours, window: 502);
        Advance(TimeSpan.FromMilliseconds(1));
        ours += 20;
        Deliver(TcpFlags.Ack, theirs, ours);

        // Close with unread data: the RST (plain too, its window 0).
        Deliver(TcpFlags.Ack | TcpFlags.Psh, theirs, ours, length: 5);
        c.Close();
        engine.Poll(now, output);
        RunTimers(2);
        return new Life(output.Packets, log.Events, engine.Counters.Snapshot(), c.State);
    }

    /// <summary>The transmitter (every packet's bytes) and the event sink (every event).</summary>
    private sealed class Recorder(bool partialChecksums) : IPacketTransmitter, ITcpEventSink
    {
        public List<byte[]> Packets { get; } = [];
        public List<TcpEvent> Events { get; } = [];
        public uint LastTsval { get; private set; }
        public bool PartialChecksums => partialChecksums;

        public void Transmit(ReadOnlySpan<byte> packet)
        {
            Packets.Add(packet.ToArray());
            if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None && TcpSegment.TryParse(ip, out TcpSegment tcp, verifyChecksum: !partialChecksums) == WireError.None
                && tcp.Options.Timestamp is TcpTimestamp ts)
            {
                LastTsval = ts.Value;
            }
        }

        public void OnEvent(in TcpEvent tcpEvent) => Events.Add(tcpEvent);
    }
}
