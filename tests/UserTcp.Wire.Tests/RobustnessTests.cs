using System.Buffers.Binary;

namespace UserTcp.Wire.Tests;

/// <summary>Untrusted bytes never throw: random buffers, and golden packets mutated with checksums repaired so the damage reaches every check.</summary>
public class RobustnessTests
{
    private const int RandomBuffers = 500_000;
    private const int MutatedBuffers = 500_000;

    [Fact]
    public void A_million_random_and_mutated_buffers_never_throw()
    {
        var random = new Random(20261122);
        var seen = new Dictionary<WireError, int>();
        byte[] buffer = new byte[1600];

        for (int i = 0; i < RandomBuffers; i++)
        {
            int length = random.Next(0, 128);
            Span<byte> bytes = buffer.AsSpan(0, length);
            random.NextBytes(bytes);
            // Bias half of them toward a plausible IPv4/TCP start so the parser gets past the first checks.
            if (length > 0 && (i & 1) == 0) bytes[0] = (byte)(0x45 + random.Next(0, 3));
            if (length > 9 && (i & 2) == 0) bytes[9] = Ipv4Packet.ProtocolTcp;
            if ((i & 4) == 0) GoldenPackets.FixChecksums(bytes);
            Count(seen, ParseAll(bytes));
        }

        byte[][] golden = [.. GoldenPackets.Names.Select(GoldenPackets.Load)];
        for (int i = 0; i < MutatedBuffers; i++)
        {
            byte[] source = golden[i % golden.Length];
            int length = Math.Clamp(source.Length + random.Next(-8, 9), 0, buffer.Length);
            Span<byte> bytes = buffer.AsSpan(0, length);
            bytes.Clear();
            source.AsSpan(0, Math.Min(length, source.Length)).CopyTo(bytes);
            for (int flips = random.Next(1, 4); flips > 0 && length > 0; flips--)
            {
                bytes[random.Next(length)] = (byte)random.Next(256);
            }
            if (random.Next(4) != 0) GoldenPackets.FixChecksums(bytes);
            Count(seen, ParseAll(bytes));
        }

        // The fuzzing reached every check (ICMP's: IcmpPacketTests); otherwise it proved less than it claims.
        foreach (WireError error in Enum.GetValues<WireError>().Except([WireError.NotIcmp, WireError.BadIcmpChecksum, WireError.BadIcmpQuote]))
        {
            Assert.True(seen.GetValueOrDefault(error) > 0, $"no buffer ended in {error}");
        }
    }

    [Fact]
    public void Formatting_damaged_packets_never_throws()
    {
        var random = new Random(42);
        byte[][] golden = [.. GoldenPackets.Names.Select(GoldenPackets.Load)];
        for (int i = 0; i < 50_000; i++)
        {
            byte[] bytes = (byte[])golden[i % golden.Length].Clone();
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (random.Next(2) == 0) GoldenPackets.FixChecksums(bytes);
            Assert.NotEmpty(PacketFormatter.Format(bytes.AsSpan(0, random.Next(bytes.Length + 1))));
        }
    }

    [Fact]
    public void Corrupted_checksums_are_still_decoded_and_flagged_for_people()
    {
        byte[] bytes = GoldenPackets.Load("linux-syn");
        bytes[BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(2)) - 1] ^= 0xFF;
        Assert.EndsWith("length 0 [bad TCP checksum]", PacketFormatter.Format(bytes), StringComparison.Ordinal);
        Assert.Equal("malformed packet (truncated), 3 bytes", PacketFormatter.Format(bytes.AsSpan(0, 3)));
    }

    private static WireError ParseAll(ReadOnlySpan<byte> bytes)
    {
        WireError error = Ipv4Packet.TryParse(bytes, out Ipv4Packet ip);
        if (error != WireError.None) return error;
        error = TcpSegment.TryParse(ip, out TcpSegment tcp);
        if (error != WireError.None) return error;
        // Touch every accessor: none may throw after a successful parse.
        _ = ip.Version + ip.HeaderLength + ip.TypeOfService + ip.TotalLength + ip.Identification + ip.FragmentOffset
            + ip.TimeToLive + ip.HeaderChecksum + ip.Options.Length + ip.Payload.Length + (int)ip.Source.Value + (int)ip.Destination.Value;
        _ = tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber.Value + tcp.AcknowledgmentNumber.Value + tcp.HeaderLength
            + tcp.Reserved + (int)tcp.Flags + tcp.Window + tcp.Checksum + tcp.UrgentPointer + tcp.RawOptions.Length
            + tcp.Payload.Length + tcp.SegmentLength + tcp.Options.SackBlocks.Length + (tcp.Options.MaxSegmentSize ?? 0);
        return WireError.None;
    }

    private static void Count(Dictionary<WireError, int> seen, WireError error) =>
        seen[error] = seen.GetValueOrDefault(error) + 1;
}
