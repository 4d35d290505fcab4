using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Engine.Tests.Fuzz;

/// <summary>What the fuzzing peer knows of a 4-tuple: the connection's numbers as it last saw them.</summary>
internal readonly record struct PeerView(FourTuple Id, SeqNumber RcvNxt, uint RcvWnd, SeqNumber SndUna, SeqNumber SndMax, bool Timestamps, uint OurTsVal);

/// <summary>
/// Builds the fuzzing peer's packets from a <see cref="FuzzStep"/>: segments whose fields sit where bugs live (window
/// edges, old and future ACKs, beyond MAX.SND.WND, random), damaged copies of them, and ICMP messages quoting our
/// segments. Every payload byte is <see cref="PeerByte"/> of its sequence number, so whatever the application reads can
/// be checked against the stream, however the segments overlapped.
/// </summary>
internal static class FuzzPackets
{
    public const int MaxPacket = 4200;
    public const uint PeerTsStart = 50_000;
    // Offsets in the TCP header (RFC 9293 §3.1); the wire layer keeps its own internal.
    private const int TcpDataOffsetAt = 12;
    private const int TcpChecksumAt = 16;

    public static byte PeerByte(SeqNumber seq) => (byte)((seq.Value * 2654435761u) >> 24);

    /// <summary>A well-formed segment from the peer of <paramref name="view"/>; returns its length in <paramref name="buffer"/>.</summary>
    public static int Segment(Span<byte> buffer, in FuzzStep s, in PeerView view, TimeSpan now)
    {
        SeqNumber seq = ChooseSeq(s, view);
        int payloadLength = PayloadLength(s.W6);
        TcpFlags flags = ChooseFlags(s.W1, payloadLength);
        Span<byte> payload = stackalloc byte[payloadLength];
        // A SYN's data starts one after its sequence number (RFC 9293 §3.4).
        SeqNumber first = (flags & TcpFlags.Syn) != 0 ? seq + 1 : seq;
        for (int i = 0; i < payload.Length; i++) payload[i] = PeerByte(first + i);
        var repr = new TcpRepr
        {
            SourcePort = view.Id.Remote.Port,
            DestinationPort = view.Id.Local.Port,
            SequenceNumber = seq,
            AcknowledgmentNumber = ChooseAck(s, view),
            Flags = flags,
            Window = (s.W6 & 0xF) switch { < 8 => 502, 8 => 0, 9 => 1, _ => (ushort)(s.W6 >> 16) },
            Options = ChooseOptions(s, view, now),
            Payload = payload,
        };
        var ip = new Ipv4Repr(view.Id.Remote.Address, view.Id.Local.Address) { Identification = (ushort)s.W5, TimeToLive = 64 };
        if (!PacketWriter.TryWriteIpv4Tcp(buffer, ip, repr, out int length)) throw new InvalidOperationException("fuzz segment does not fit");
        return length;
    }

    /// <summary>
    /// Damages a well-formed packet of <paramref name="length"/> bytes in place, the way links and attackers do; returns
    /// the new length. Some damages keep the checksums right so the damage reaches the checks behind them.
    /// </summary>
    public static int Damage(Span<byte> packet, int length, uint how, uint where, Ipv4Address notUs)
    {
        int ihl = Ipv4Packet.MinHeaderLength;
        switch (how % 13)
        {
            case 0: packet[ihl + TcpChecksumAt + 1] ^= 1; return length; // TCP checksum off by one
            case 1: return (int)(where % (uint)length); // truncated
            case 2: packet[0] = (byte)(0x40 | (where % 5)); break; // IHL below 5 words
            case 3: packet[0] = 0x65; break; // IPv6's version
            case 4: BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)(length + 1 + where % 1000)); break; // total length beyond the buffer
            case 5: BinaryPrimitives.WriteUInt16BigEndian(packet[6..], (ushort)(0x2000 | (where & 0x1FFF))); break; // a fragment
            case 6: packet[9] = where % 2 == 0 ? Ipv4Packet.ProtocolUdp : (byte)47; break; // not TCP (GRE or UDP)
            case 7: packet[ihl + TcpDataOffsetAt] = (byte)((where % 5) << 4); FixTcpChecksum(packet[..length]); break; // data offset < 5
            case 8: packet[ihl + TcpDataOffsetAt] = 0xF0; FixTcpChecksum(packet[..length]); break; // data offset beyond a short segment
            case 9: return BadOption(packet, length, where);
            case 10: packet[(int)(where % (uint)length)] ^= (byte)(1 + where / 7 % 255); return length; // one byte flipped
            case 11: notUs.Write(packet[16..]); FixTcpChecksum(packet[..length]); break; // for another address
            default: // noise: random bytes, a plausible first byte
                length = (int)(where % 80);
                for (int i = 0; i < length; i++) packet[i] = (byte)((where >> (i % 24)) * 31 + i * 7);
                if (length > 0) packet[0] = 0x45;
                return length;
        }
        FixHeaderChecksum(packet);
        return length;
    }

    /// <summary>An ICMP message from the peer: an error quoting one of our segments to it, or an echo request.</summary>
    public static int Icmp(Span<byte> buffer, in FuzzStep s, in PeerView view)
    {
        (byte type, byte code) = (s.W1 % 8) switch
        {
            0 or 1 => ((byte)3, (byte)(s.W1 >> 8 & 0xF)), // destination unreachable, any code
            2 or 3 => ((byte)3, (byte)4), // fragmentation needed (RFC 1191)
            4 => ((byte)11, (byte)0), // time exceeded
            5 => ((byte)8, (byte)0), // echo request
            6 => ((byte)4, (byte)0), // source quench (deprecated, RFC 6633)
            _ => ((byte)(s.W1 >> 8), (byte)(s.W1 >> 16)),
        };
        int icmpLength = type == 8 ? 8 + (int)(s.W3 % 64) : 8 + Ipv4Packet.MinHeaderLength + 8;
        Span<byte> icmp = buffer.Slice(Ipv4Packet.MinHeaderLength, icmpLength);
        icmp.Clear();
        icmp[0] = type;
        icmp[1] = code;
        if (type == 3 && code == 4) BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], (ushort)(s.W3 % 1700)); // next-hop MTU
        else BinaryPrimitives.WriteUInt32BigEndian(icmp[4..], s.W3);
        if (type == 8)
        {
            for (int i = 8; i < icmp.Length; i++) icmp[i] = (byte)i;
        }
        else
        {
            // The quoted packet: one of ours to the peer, its sequence number in or out of SND.UNA..SND.NXT.
            Span<byte> quoted = icmp[8..];
            var inner = new Ipv4Repr(view.Id.Local.Address, view.Id.Remote.Address);
            PacketWriter.WriteIpv4Header(quoted, inner, 8);
            Span<byte> tcp = quoted[Ipv4Packet.MinHeaderLength..];
            BinaryPrimitives.WriteUInt16BigEndian(tcp, view.Id.Local.Port);
            BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], view.Id.Remote.Port);
            SeqNumber seq = (s.W2 % 4) switch
            {
                0 => view.SndUna,
                1 => view.SndUna + (int)(s.W4 % (uint)Math.Max(1, view.SndMax - view.SndUna)),
                2 => new SeqNumber(s.W4),
                _ => view.SndMax + 1 + (int)(s.W4 % 100_000),
            };
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq.Value);
        }
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], InternetChecksum.Compute(icmp));
        PacketWriter.WriteIpv4Header(buffer, new Ipv4Repr(view.Id.Remote.Address, view.Id.Local.Address) { Protocol = Ipv4Packet.ProtocolIcmp }, icmpLength);
        return Ipv4Packet.MinHeaderLength + icmpLength;
    }

    private static TcpFlags ChooseFlags(uint w, int payloadLength) => (w % 8) switch
    {
        < 3 => payloadLength > 0 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack,
        3 => TcpFlags.Ack | TcpFlags.Fin,
        4 => TcpFlags.Syn,
        5 => TcpFlags.Rst,
        6 => TcpFlags.Rst | TcpFlags.Ack,
        _ => (TcpFlags)(byte)(w >> 8),
    };

    private static SeqNumber ChooseSeq(in FuzzStep s, in PeerView v)
    {
        uint r = s.W3;
        int window = (int)Math.Min(v.RcvWnd, int.MaxValue);
        return (s.W2 % 10) switch
        {
            0 => v.RcvNxt,
            1 => v.RcvNxt + (int)(r % 3000),
            2 => v.RcvNxt - (int)(r % 3000),
            3 => v.RcvNxt + window + (int)(r % 5) - 2, // the right edge
            4 => new SeqNumber(r),
            5 => v.RcvNxt - 1, // a keepalive's
            6 => v.RcvNxt + window - 1,
            7 => v.RcvNxt + (int)(r % (uint)Math.Max(1, window)),
            8 => v.RcvNxt - 1 - (int)(r % 100_000),
            _ => v.RcvNxt + int.MinValue + (int)(r % 1000), // half the space away
        };
    }

    private static SeqNumber ChooseAck(in FuzzStep s, in PeerView v)
    {
        uint r = s.W5;
        int inFlight = Math.Max(0, v.SndMax - v.SndUna);
        return (s.W4 % 10) switch
        {
            0 or 8 => v.SndMax,
            1 => v.SndUna,
            2 => v.SndUna + (int)(r % (uint)(inFlight + 1)),
            3 => v.SndMax + 1 + (int)(r % 3000), // acknowledges what was never sent
            4 => v.SndUna - 1 - (int)(r % 3000), // old
            5 => new SeqNumber(r),
            6 => v.SndMax + 1,
            7 => v.SndUna - 70_000 - (int)(r % 1000), // older than MAX.SND.WND (RFC 5961 §5)
            _ => v.SndMax + int.MinValue,
        };
    }

    private static TcpOptions ChooseOptions(in FuzzStep s, in PeerView v, TimeSpan now)
    {
        uint tsVal = PeerTsStart + (uint)now.TotalMilliseconds;
        var options = new TcpOptions();
        switch (s.W7 >> 8 & 7)
        {
            case 0:
                if (v.Timestamps) options.Timestamp = new TcpTimestamp(tsVal, v.OurTsVal);
                break;
            case 1:
                break;
            case 2:
                options.Timestamp = new TcpTimestamp(s.W5, s.W3);
                break;
            case 3:
                options.Timestamp = new TcpTimestamp(tsVal, v.OurTsVal);
                int span = Math.Max(1, v.SndMax - v.SndUna);
                SeqNumber left = v.SndUna + (int)(s.W3 % (uint)span);
                options.AddSackBlock(new SackBlock(left, left + 1 + (int)(s.W5 % (uint)span)));
                break;
            case 4:
                for (int i = 0; i < (int)(s.W3 % 4) + 1; i++)
                {
                    var start = new SeqNumber(s.W5 + (uint)i * s.W3);
                    options.AddSackBlock(new SackBlock(start, start + (int)(s.W3 >> 20)));
                }
                break;
            case 5:
                options.MaxSegmentSize = (ushort)(s.W3 % 2000);
                options.WindowScale = (byte)(s.W3 >> 16 & 0x1F);
                options.SackPermitted = true;
                options.Timestamp = new TcpTimestamp(tsVal, 0);
                break;
            case 6:
                options.Timestamp = new TcpTimestamp(tsVal - 0x4000_0000, v.OurTsVal); // older than TS.Recent: PAWS
                break;
            default:
                options.MaxSegmentSize = (ushort)s.W3;
                options.WindowScale = (byte)(s.W3 >> 16);
                break;
        }
        return options;
    }

    private static int PayloadLength(uint w) => (w >> 4 & 0xF) switch
    {
        < 8 => 0,
        < 12 => 1 + (int)(w >> 8) % 100,
        < 15 => 1 + (int)(w >> 8) % 1460,
        _ => 1 + (int)(w >> 8) % 4000,
    };

    // An option whose length byte lies: zero, one, or past the header (checksum fixed so the option check is reached).
    private static int BadOption(Span<byte> packet, int length, uint where)
    {
        int tcp = Ipv4Packet.MinHeaderLength;
        int headerLength = (packet[tcp + TcpDataOffsetAt] >> 4) * 4;
        if (headerLength <= TcpSegment.MinHeaderLength) return Damage(packet, length, 0, where, default);
        int at = tcp + TcpSegment.MinHeaderLength;
        packet[at] = (where % 5) switch { 0 => 2, 1 => 3, 2 => 4, 3 => 5, _ => 8 }; // MSS, WS, SACK-permitted, SACK, TS
        packet[at + 1] = ((where >> 8) % 3) switch { 0 => 0, 1 => 1, _ => 41 };
        FixTcpChecksum(packet[..length]);
        return length;
    }

    private static void FixHeaderChecksum(Span<byte> packet)
    {
        int ihl = Math.Clamp((packet[0] & 0x0F) * 4, Ipv4Packet.MinHeaderLength, 60);
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], InternetChecksum.Compute(packet[..ihl]));
    }

    private static void FixTcpChecksum(Span<byte> packet)
    {
        Span<byte> tcp = packet[Ipv4Packet.MinHeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp[TcpChecksumAt..], 0);
        ulong sum = InternetChecksum.PseudoHeader(Ipv4Address.Read(packet[12..]), Ipv4Address.Read(packet[16..]), Ipv4Packet.ProtocolTcp, (ushort)tcp.Length);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[TcpChecksumAt..], InternetChecksum.Finish(InternetChecksum.Add(sum, tcp)));
    }
}
