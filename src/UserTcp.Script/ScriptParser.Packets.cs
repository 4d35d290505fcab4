using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>The parser's packet lines: a segment, its IP annotation, flags and TCP options (docs/scripts.md, "Grammar").</summary>
public static partial class ScriptParser
{
    private sealed partial class Parser
    {
        // ───────────── packets ─────────────

        private PacketSpec Packet()
        {
            Token dir = Next();
            var direction = dir.Is('<') ? PacketDirection.Inbound : PacketDirection.Outbound;
            int line = dir.Line;

            IpAnnotation? ip = Peek().Is('[') || Peek().Is('(') ? IpInfo(line) : null;
            Token t = Peek();
            if (t.IsWord("udp") || t.IsWord("ipv4") || t.IsWord("ipv6") || t.IsWord("gre") || t.IsWord("GREv0") || t.IsWord("mpls"))
            {
                throw Error(line, $"{t.Text} packets are not supported: UserTcp scripts describe TCP segments only");
            }
            if (t.Kind == TokenKind.Integer && Peek(1).Is('>'))
            {
                throw Error(line, "explicit ports (`src>dst`) are not supported: the runner chooses the ports of the connection under test");
            }

            TcpFlags flags = Flags(line);
            (uint seq, int length) = SequenceRange(line, "the sequence range", " after the flags");

            uint? ack = null;
            ushort? window = null;
            ushort? urgent = null;
            while (Peek().Kind == TokenKind.Word && PacketFields.Contains(Peek().Text))
            {
                Token field = Next();
                Token value = Next();
                if (value.Kind != TokenKind.Integer) throw Error(line, $"expected a number after `{field.Text}`, not `{value.Display}`");
                switch (field.Text)
                {
                    case "ack" when ack is null:
                        ack = U32(value, line, "TCP ack sequence number");
                        break;
                    case "win" when window is null:
                        if (value.Integer is < 0 or > ushort.MaxValue) throw Error(line, "TCP window value out of range");
                        window = (ushort)value.Integer;
                        break;
                    case "urg" when urgent is null:
                        if (value.Integer is < 0 or > ushort.MaxValue) throw Error(line, "urg_ptr value out of range");
                        urgent = (ushort)value.Integer;
                        break;
                    default:
                        throw Error(line, $"`{field.Text}` is given twice");
                }
            }

            IReadOnlyList<OptionSpec>? options = [];
            if (Peek().Is('<'))
            {
                options = Options(line, direction);
            }
            if (Peek().Is('{')) throw Error(line, "packet fuzzing ({ mut ... }) is not supported");
            if (direction == PacketDirection.Inbound && window is null)
            {
                throw Error(line, "window must be specified for inbound packets (win N)");
            }
            if (options is not null)
            {
                int bytes = options.Sum(o => o.Encode().Length);
                if (bytes % 4 != 0)
                {
                    throw Error(line, $"TCP options are not padded correctly to ensure TCP header is a multiple of 4 bytes: {bytes % 4} excess bytes");
                }
                if (bytes > TcpOptions.MaxLength) throw Error(line, $"TCP options take {bytes} bytes; at most {TcpOptions.MaxLength} fit in a TCP header");
            }
            return new PacketSpec(direction, flags, seq, length, ack, window, urgent, options) { Ip = ip };
        }

        /// <summary>
        /// packetdrill's ip_info in brackets or parentheses: <c>[ect0]</c>, <c>[noecn]</c>, <c>[ect1]</c>, <c>[ce]</c>,
        /// <c>[ect01]</c>, <c>[tos 0x4]</c>, <c>[ttl 64]</c>, <c>[flowlabel 0x12345]</c>, comma-separated.
        /// </summary>
        private IpAnnotation IpInfo(int line)
        {
            char close = Next().Is('[') ? ']' : ')';
            EcnCodepoint? ecn = null;
            bool either = false;
            byte? tos = null, ttl = null;
            uint? flowLabel = null;
            while (true)
            {
                Token t = Next();
                switch (t.Text)
                {
                    case "noecn" or "ect0" or "ect1" or "ce" or "ect01" when ecn is null && !either && tos is null:
                        if (t.Text == "ect01") either = true;
                        else ecn = t.Text switch { "noecn" => EcnCodepoint.NotEct, "ect0" => EcnCodepoint.Ect0, "ect1" => EcnCodepoint.Ect1, _ => EcnCodepoint.Ce };
                        break;
                    case "tos" when tos is null && ecn is null && !either:
                        tos = (byte)Bounded(Next(), line, "tos", byte.MaxValue);
                        break;
                    case "ttl" when ttl is null:
                        ttl = (byte)Bounded(Next(), line, "ttl", byte.MaxValue);
                        break;
                    case "flowlabel" when flowLabel is null:
                        flowLabel = (uint)Bounded(Next(), line, "flowlabel", 0xFFFFF);
                        break;
                    default:
                        throw Error(line, $"expected IP fields in {(close == ']' ? "[...]" : "(...)")} (noecn, ect0, ect1, ce, ect01, tos 0xN, ttl N, flowlabel 0xN, each once), not `{t.Display}`");
                }
                Token after = Next();
                if (after.Is(close)) break;
                if (!after.Is(',')) throw Error(line, $"expected , or {close} after the IP fields, not `{after.Display}`");
            }
            return new IpAnnotation(ecn, either, tos, ttl, flowLabel);
        }

        private static long Bounded(Token t, int line, string what, long max) =>
            t.Kind == TokenKind.Integer && t.Integer >= 0 && t.Integer <= max ? t.Integer : throw Error(line, $"{what} value out of range (0 to {max})");

        private TcpFlags Flags(int line)
        {
            Token t = Next();
            string letters;
            if (t.Is('.'))
            {
                letters = ".";
            }
            else if (t.Is('-'))
            {
                return TcpFlags.None;
            }
            else if (t.Kind == TokenKind.Word)
            {
                letters = t.Text;
                if (Peek().Is('.'))
                {
                    Next();
                    letters += ".";
                }
            }
            else
            {
                throw Error(line, $"expected TCP flags (from SFPR. and EWU, or - for none) after the direction, not `{t.Display}`");
            }
            TcpFlags flags = TcpFlags.None;
            foreach (char c in letters)
            {
                TcpFlags flag = c switch
                {
                    'S' => TcpFlags.Syn,
                    'F' => TcpFlags.Fin,
                    'R' => TcpFlags.Rst,
                    'P' => TcpFlags.Psh,
                    '.' => TcpFlags.Ack,
                    'U' => TcpFlags.Urg,
                    'E' => TcpFlags.Ece,
                    'W' => TcpFlags.Cwr,
                    _ => throw Error(line, c is 'A' or (>= '0' and <= '7')
                        ? $"TCP flag '{c}' (AccECN) is not supported"
                        : $"invalid TCP flag '{c}' in `{letters}`: flags are S F P R . U E W, or - for none"),
                };
                if ((flags & flag) != 0) throw Error(line, $"TCP flag '{c}' is given twice in `{letters}`");
                flags |= flag;
            }
            return flags;
        }

        private List<OptionSpec>? Options(int line, PacketDirection direction)
        {
            Expect('<', line, "");
            if (Peek().Kind == TokenKind.Ellipsis)
            {
                Next();
                Expect('>', line, "after <...");
                if (direction == PacketDirection.Inbound) throw Error(line, "<...> for TCP options can only be used with outbound packets");
                return null;
            }
            var options = new List<OptionSpec>();
            while (true)
            {
                options.Add(Option(line));
                Token t = Next();
                if (t.Is('>')) return options;
                if (!t.Is(',')) throw Error(line, $"expected , or > in the TCP option list, not `{t.Display}`");
            }
        }

        private OptionSpec Option(int line)
        {
            Token t = Next();
            if (t.Kind != TokenKind.Word) throw Error(line, $"expected a TCP option (mss, wscale, sackOK, TS, sack, nop, eol), not `{t.Display}`");
            switch (t.Text)
            {
                case "nop":
                    return new NopOption();
                case "eol":
                    return new EolOption();
                case "sackOK":
                    return new SackPermittedOption();
                case "mss":
                {
                    Token v = Next();
                    if (v.Kind != TokenKind.Integer || v.Integer is < 0 or > ushort.MaxValue) throw Error(line, "mss value out of range");
                    return new MssOption((ushort)v.Integer);
                }
                case "wscale":
                {
                    Token v = Next();
                    if (v.Kind != TokenKind.Integer || v.Integer is < 0 or > byte.MaxValue) throw Error(line, "window scale shift count out of range");
                    return new WindowScaleOption((byte)v.Integer);
                }
                case "TS":
                {
                    if (!Next().IsWord("val")) throw Error(line, "the timestamp option is written TS val N ecr N");
                    uint value = U32(Next(), line, "ts val");
                    if (!Next().IsWord("ecr")) throw Error(line, "the timestamp option is written TS val N ecr N");
                    uint echo = U32(Next(), line, "ecr val");
                    return new TimestampOption(value, echo);
                }
                case "sack":
                {
                    var blocks = new List<(uint, uint)>();
                    while (Peek().Kind == TokenKind.Integer && Peek(1).Is(':'))
                    {
                        uint left = U32(Next(), line, "TCP SACK left sequence number");
                        Next();
                        uint right = U32(Next(), line, "TCP SACK right sequence number");
                        blocks.Add((left, right));
                    }
                    if (blocks.Count == 0) throw Error(line, "sack needs at least one block left:right");
                    if (blocks.Count > TcpOptions.MaxSackBlocks) throw Error(line, "at most 4 SACK blocks fit in a TCP header");
                    return new SackOption(blocks);
                }
                case "FO":
                case "FOEXP":
                {
                    bool experimental = t.Text == "FOEXP";
                    byte[] cookie = Peek().Kind is TokenKind.Word or TokenKind.Integer ? Hex(Next(), line, "TCP fast open cookie") : [];
                    int max = TcpOptions.MaxLength - (experimental ? 4 : 2);
                    if (cookie.Length > max) throw Error(line, $"TCP fast open cookie of {cookie.Length} bytes exceeds maximum cookie length of {max} bytes");
                    return new FastOpenOption(cookie, experimental);
                }
                case "md5":
                {
                    if (Peek().Kind is not (TokenKind.Word or TokenKind.Integer)) throw Error(line, "the MD5 option is written md5 <digest in hex>");
                    byte[] digest = Hex(Next(), line, "TCP MD5 digest");
                    if (digest.Length > Md5Option.DigestLength) throw Error(line, "TCP MD5 digest longer than 16 bytes");
                    return new Md5Option(digest);
                }
                default:
                    throw Error(line, $"unknown TCP option `{t.Text}`: supported are mss, wscale, sackOK, TS val N ecr N, sack a:b, nop, eol, FO, FOEXP, md5");
            }
        }

        /// <summary>
        /// A TCP sequence range `start:end(length)`, a segment's or the one an ICMP message quotes: its start and payload
        /// length, the end checked against them. <paramref name="range"/> names it in errors ("the sequence range"),
        /// <paramref name="where"/> says what it follows (" after the flags").
        /// </summary>
        private (uint Start, int Length) SequenceRange(int line, string range, string where)
        {
            Token start = Next();
            if (start.Kind != TokenKind.Integer) throw Error(line, $"expected {range} start:end(length){where}, not `{start.Display}`");
            Expect(':', line, $"in {range} start:end(length)");
            Token end = Next();
            if (end.Kind != TokenKind.Integer) throw Error(line, $"expected the end of {range} start:end(length)");
            Expect('(', line, "before the payload length in start:end(length)");
            Token length = Next();
            if (length.Kind != TokenKind.Integer) throw Error(line, "expected the payload length in start:end(length)");
            Expect(')', line, "after the payload length in start:end(length)");
            uint seq = U32(start, line, "TCP start sequence number");
            U32(end, line, "TCP end sequence number");
            if (length.Integer is < 0 or > ushort.MaxValue) throw Error(line, "TCP payload size out of range");
            if (end.Integer != start.Integer + length.Integer)
            {
                throw Error(line, $"inconsistent TCP sequence numbers and payload size: {start.Integer}:{end.Integer} is not {length.Integer} bytes");
            }
            return (seq, (int)length.Integer);
        }
    }
}
