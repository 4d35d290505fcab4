using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>The engine writes a packet where its transmitter asks, so a batching device gets it without a copy.</summary>
public class TransmitBufferTests
{
    [Fact]
    public void A_transmitter_that_offers_a_buffer_gets_the_packet_written_in_it()
    {
        var engine = new TcpEngine(new Ipv4Address(10, 0, 0, 1));
        engine.Connect(new IpEndpoint(new Ipv4Address(10, 0, 0, 2), 80));
        var output = new OfferingTransmitter();
        engine.Poll(TimeSpan.Zero, output);
        Assert.Equal(1, output.Packets);
        Assert.True(output.InPlace, "the SYN was not written into the offered buffer");
    }

    private sealed class OfferingTransmitter : IPacketTransmitter
    {
        private readonly byte[] _slot = new byte[2048];

        public int Packets { get; private set; }
        public bool InPlace { get; private set; }
        public int Requested { get; private set; }

        public Span<byte> GetBuffer(int length)
        {
            Requested = length;
            return _slot;
        }

        public void Transmit(ReadOnlySpan<byte> packet)
        {
            Packets++;
            // The request is exact: the packet fills what was asked for, from the start of the offered span.
            InPlace = packet.Overlaps(_slot, out int offset) && offset == 0 && packet.Length == Requested;
            Assert.Equal(WireError.None, Ipv4Packet.TryParse(packet, out _));
        }
    }
}
