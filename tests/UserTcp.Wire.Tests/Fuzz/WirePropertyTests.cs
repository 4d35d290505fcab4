using CsCheck;

namespace UserTcp.Wire.Tests.Fuzz;

/// <summary>
/// Properties of the IPv4/TCP parser and writer over CsCheck-generated segments (shrunk to the smallest counterexample
/// when one fails): what the writer emits parses back to the same fields, and whatever the parser accepts, written
/// again, parses to the same segment.
/// </summary>
public class WirePropertyTests
{
    // The first iteration's seed is fixed (CsCheck draws the rest); a failure prints the seed that reproduces it.
    private static readonly string Seed = new PCG(1, 20261205).ToString();
    private static readonly Ipv4Address Source = new(10, 77, 0, 1);
    private static readonly Ipv4Address Destination = new(10, 77, 0, 2);

    private static readonly Gen<TcpOptions> Options =
        Gen.Select(Gen.Int[0, 3], Gen.UShort, Gen.Byte[0, 14], Gen.Select(Gen.UInt, Gen.UInt), Gen.Select(Gen.UInt, Gen.UInt).Array[0, 4],
            (present, mss, shift, ts, blocks) =>
            {
                var options = new TcpOptions();
                if ((present & 1) != 0) options.MaxSegmentSize = mss;
                if ((present & 2) != 0) options.WindowScale = shift;
                options.SackPermitted = mss % 2 == 0;
                if (ts.Item1 % 3 != 0) options.Timestamp = new TcpTimestamp(ts.Item1, ts.Item2);
                foreach ((uint left, uint right) in blocks) options.AddSackBlock(new SackBlock(new SeqNumber(left), new SeqNumber(right)));
                return options;
            });

    private static readonly Gen<(ushort Sport, ushort Dport, uint Seq, uint Ack, byte Flags, ushort Window, ushort Urgent, TcpOptions Options, byte[] Payload)> Segments =
        Gen.Select(Gen.Select(Gen.UShort, Gen.UShort, Gen.UInt, Gen.UInt), Gen.Select(Gen.Byte, Gen.UShort, Gen.UShort), Options, Gen.Byte.Array[0, 300],
            (a, b, options, payload) => (a.Item1, a.Item2, a.Item3, a.Item4, b.Item1, b.Item2, b.Item3, options, payload));

    [Fact]
    public void What_the_writer_emits_parses_back_to_the_same_segment()
    {
        Segments.Sample(s =>
        {
            var repr = new TcpRepr
            {
                SourcePort = s.Sport, DestinationPort = s.Dport, SequenceNumber = new SeqNumber(s.Seq), AcknowledgmentNumber = new SeqNumber(s.Ack),
                Flags = (TcpFlags)s.Flags, Window = s.Window, UrgentPointer = s.Urgent, Options = s.Options, Payload = s.Payload,
            };
            byte[] packet = new byte[PacketWriter.Ipv4TcpLength(repr)];
            bool written = PacketWriter.TryWriteIpv4Tcp(packet, new Ipv4Repr(Source, Destination), repr, out int length);
            if (!written || length != packet.Length) return false;
            if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != WireError.None || TcpSegment.TryParse(ip, out TcpSegment tcp) != WireError.None) return false;
            return ip.Source == Source && ip.Destination == Destination && tcp.SourcePort == s.Sport && tcp.DestinationPort == s.Dport
                && tcp.SequenceNumber.Value == s.Seq && tcp.AcknowledgmentNumber.Value == s.Ack && (byte)tcp.Flags == s.Flags
                && tcp.Window == s.Window && tcp.UrgentPointer == s.Urgent && tcp.Payload.SequenceEqual(s.Payload)
                && SameButTrimmed(tcp.Options, s.Options);
        }, iter: 20_000, seed: Seed, threads: 1, print: Describe);
    }

    // The writer leaves out the SACK blocks that do not fit in 40 bytes, the first ones kept (RFC 2018 §4); nothing else changes.
    private static bool SameButTrimmed(TcpOptions parsed, TcpOptions given)
    {
        TcpOptions expected = given;
        expected.TrimSackBlocks(parsed.SackBlocks.Length);
        return parsed == expected && parsed.SackBlocks.SequenceEqual(given.SackBlocks[..parsed.SackBlocks.Length])
            && parsed.EncodedLength == given.EncodedLength && parsed.EncodedLength <= TcpOptions.MaxLength;
    }

    private static string Describe((ushort Sport, ushort Dport, uint Seq, uint Ack, byte Flags, ushort Window, ushort Urgent, TcpOptions Options, byte[] Payload) s)
    {
        TcpOptions o = s.Options;
        string sack = string.Join(" ", o.SackBlocks.ToArray().Select(b => $"{b.Left}-{b.Right}"));
        return $"ports {s.Sport}>{s.Dport} seq {s.Seq} ack {s.Ack} flags {s.Flags:x2} win {s.Window} urg {s.Urgent} payload {s.Payload.Length}; "
            + $"options ({o.EncodedLength} bytes): mss {o.MaxSegmentSize} ws {o.WindowScale} sackOK {o.SackPermitted} ts {o.Timestamp} sack [{sack}]";
    }

    [Fact]
    public void Whatever_the_parser_accepts_survives_being_written_again()
    {
        byte[][] golden = [.. GoldenPackets.Names.Select(GoldenPackets.Load)];
        // A golden packet, some bytes set anywhere, checksums repaired so the damage reaches the checks behind them.
        Gen<byte[]> mutated = Gen.Select(Gen.Int[0, golden.Length - 1], Gen.Select(Gen.Int[0, 200], Gen.Byte).Array[1, 6], Gen.Int[-8, 8],
            (which, edits, grow) =>
            {
                byte[] bytes = new byte[Math.Max(0, golden[which].Length + grow)];
                golden[which].AsSpan(0, Math.Min(bytes.Length, golden[which].Length)).CopyTo(bytes);
                foreach ((int at, byte value) in edits) if (bytes.Length > 0) bytes[at % bytes.Length] = value;
                GoldenPackets.FixChecksums(bytes);
                return bytes;
            });
        mutated.Sample(bytes =>
        {
            if (Ipv4Packet.TryParse(bytes, out Ipv4Packet ip) != WireError.None || TcpSegment.TryParse(ip, out TcpSegment tcp) != WireError.None) return true;
            var repr = TcpRepr.From(tcp);
            if (repr.Options.EncodedLength > TcpOptions.MaxLength) return false; // parsed options always fit again
            byte[] again = new byte[PacketWriter.Ipv4TcpLength(repr)];
            if (!PacketWriter.TryWriteIpv4Tcp(again, new Ipv4Repr(ip.Source, ip.Destination), repr, out _)) return false;
            if (Ipv4Packet.TryParse(again, out Ipv4Packet ip2) != WireError.None || TcpSegment.TryParse(ip2, out TcpSegment tcp2) != WireError.None) return false;
            return tcp2.SequenceNumber == tcp.SequenceNumber && tcp2.AcknowledgmentNumber == tcp.AcknowledgmentNumber && tcp2.Flags == tcp.Flags
                && tcp2.Window == tcp.Window && tcp2.Options == tcp.Options && tcp2.Payload.SequenceEqual(tcp.Payload);
        }, iter: 50_000, seed: Seed, threads: 1);
    }
}
