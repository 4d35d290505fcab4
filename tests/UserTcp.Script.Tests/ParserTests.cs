using UserTcp.Wire;

namespace UserTcp.Script.Tests;

public class ParserTests
{
    private static ScriptEvent Single(string text) => ScriptParser.Parse(text).Events.Single();

    private static ScriptParseException ParseError(string text) => Assert.Throws<ScriptParseException>(() => ScriptParser.Parse(text));

    [Fact]
    public void Times_are_absolute_relative_any_and_ranges_in_microseconds()
    {
        PacketScript script = ScriptParser.Parse("""
            0 > S 0:0(0) <...>
            +0.25 > S 0:0(0) <...>
            .1 > S 0:0(0) <...>
            * > S 0:0(0) <...>
            1~2.5 > S 0:0(0) <...>
            +.1~+.3 > S 0:0(0) <...>
            """);
        Assert.Equal(
            [
                new EventTime(TimeKind.Absolute, 0),
                new EventTime(TimeKind.Relative, 250_000),
                new EventTime(TimeKind.Absolute, 100_000),
                new EventTime(TimeKind.Any, 0),
                new EventTime(TimeKind.AbsoluteRange, 1_000_000, 2_500_000),
                new EventTime(TimeKind.RelativeRange, 100_000, 300_000),
            ],
            script.Events.Select(e => e.Time));
        Assert.Equal([1, 2, 3, 4, 5, 6], script.Events.Select(e => e.Line));
    }

    [Fact]
    public void Inbound_packet_line_gives_flags_sequence_ack_window_and_options_in_order()
    {
        var e = (PacketEvent)Single("0 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>");
        PacketSpec p = e.Packet;
        Assert.Equal(PacketDirection.Inbound, p.Direction);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, p.Flags);
        Assert.Equal((0u, 0), (p.Seq, p.PayloadLength));
        Assert.Equal(1u, p.Ack);
        Assert.Equal((ushort)65535, p.Window);
        Assert.Equal<OptionSpec>([new MssOption(1460), new SackPermittedOption(), new TimestampOption(100, 0), new NopOption(), new WindowScaleOption(7)], p.Options!);
        Assert.Equal("< S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>", p.ToString());
    }

    [Theory]
    [InlineData(".", TcpFlags.Ack)]
    [InlineData("P.", TcpFlags.Psh | TcpFlags.Ack)]
    [InlineData("FP.", TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack)]
    [InlineData("R", TcpFlags.Rst)]
    [InlineData("R.", TcpFlags.Rst | TcpFlags.Ack)]
    [InlineData("-", TcpFlags.None)]
    [InlineData("SEW", TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr)]
    public void Flags_are_read_from_the_letters(string letters, TcpFlags flags)
    {
        var e = (PacketEvent)Single($"0 > {letters} 1:1(0)");
        Assert.Equal(flags, e.Packet.Flags);
    }

    [Fact]
    public void Outbound_packet_may_leave_out_ack_and_window_and_use_the_options_wildcard()
    {
        var e = (PacketEvent)Single("0 > P. 1:1001(1000) <...>");
        Assert.Null(e.Packet.Ack);
        Assert.Null(e.Packet.Window);
        Assert.True(e.Packet.AnyOptions);
        Assert.Equal(1000, e.Packet.PayloadLength);
    }

    [Fact]
    public void Sack_blocks_are_read_as_pairs()
    {
        var e = (PacketEvent)Single("0 < . 1:1(0) ack 1 win 100 <nop,nop,sack 1001:2001 3001:4001>");
        Assert.Equal<OptionSpec>([new NopOption(), new NopOption(), new SackOption([(1001u, 2001u), (3001u, 4001u)])], e.Packet.Options!);
    }

    [Fact]
    public void System_call_line_gives_arguments_result_errno_and_blocking_end_time()
    {
        var e = (SyscallEvent)ScriptParser.Parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n0.1...0.3 read(4, ..., 1000) = -1 ECONNRESET (Connection reset by peer)").Events[1];
        Assert.Equal("read", e.Call.Name);
        Assert.Equal<ScriptExpression>([new IntegerExpression(4, "4"), new EllipsisExpression(), new IntegerExpression(1000, "1000")], e.Call.Arguments);
        Assert.Equal(new IntegerExpression(-1, "-1"), e.Call.Result);
        Assert.Equal("ECONNRESET", e.Call.Errno);
        Assert.Equal(300_000, e.Call.EndTime);
        Assert.Equal(new EventTime(TimeKind.Absolute, 100_000), e.Time);
    }

    [Fact]
    public void Structs_lists_calls_and_bitwise_or_are_expressions()
    {
        var connect = (SyscallEvent)Single("0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0");
        var address = Assert.IsType<ListExpression>(connect.Call.Arguments[1]);
        Assert.True(address.Braces);
        Assert.Equal(new AssignExpression("sin_port", new CallExpression("htons", [new IntegerExpression(8080, "8080")])), address.Items[1]);

        var fcntl = (SyscallEvent)Single("0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0");
        Assert.Equal(new OrExpression(new WordExpression("O_RDWR"), new WordExpression("O_NONBLOCK")), fcntl.Call.Arguments[2]);

        var setsockopt = (SyscallEvent)Single("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0");
        Assert.Equal("{onoff=1, linger=0}", setsockopt.Call.Arguments[3].ToString());

        var getsockopt = (SyscallEvent)Single("0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0");
        Assert.Equal(new ListExpression([new IntegerExpression(0, "0")], Braces: false), getsockopt.Call.Arguments[3]);
    }

    [Fact]
    public void Notes_after_results_are_skipped()
    {
        var e = (SyscallEvent)Single("0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR O_NONBLOCK)");
        Assert.Equal(0x802, Assert.IsType<IntegerExpression>(e.Call.Result).Value);
        Assert.Null(e.Call.Errno);
    }

    [Fact]
    public void Comments_are_skipped_and_line_numbers_count_through_them()
    {
        PacketScript script = ScriptParser.Parse("""
            // a comment
            /* a comment
               over two lines */
            0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing
            +0 close(3) = 0
            """);
        Assert.Equal([4, 5], script.Events.Select(e => e.Line));
    }

    [Fact]
    public void A_statement_may_span_lines_as_in_packetdrill()
    {
        var e = (PacketEvent)ScriptParser.Parse("0 > S. 0:0(0)\n    ack 1\n    <mss 1460>").Events.Single();
        Assert.Equal(1u, e.Packet.Ack);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void Option_lines_come_first_with_their_values()
    {
        PacketScript script = ScriptParser.Parse("--tolerance_usecs=10000\n--relaxed\n--local_ip=192.168.0.1\n0 close(3) = -1 EBADF (Bad file descriptor)");
        Assert.Equal([new ScriptOption(1, "tolerance_usecs", "10000"), new ScriptOption(2, "relaxed", null), new ScriptOption(3, "local_ip", "192.168.0.1")], script.Options);
    }

    [Fact]
    public void Back_quoted_commands_become_command_events()
    {
        PacketScript script = ScriptParser.Parse("`sysctl -q net.ipv4.tcp_timestamps=0`\n0 close(3) = 0\n+0 `echo done`");
        Assert.Equal(["sysctl -q net.ipv4.tcp_timestamps=0", "echo done"], script.Events.OfType<CommandEvent>().Select(c => c.Command));
    }

    [Fact]
    public void Assertion_blocks_hold_assert_statements_with_their_own_lines()
    {
        var e = (AssertEvent)Single("0 %{\nassert tcpi_state == TCP_TIME_WAIT\nassert tcpi_snd_cwnd >= 2 and tcpi_rto < 1000000, tcpi_rto\n}%");
        Assert.Equal(["assert tcpi_state == TCP_TIME_WAIT", "assert tcpi_snd_cwnd >= 2 and tcpi_rto < 1000000"], e.Assertions.Select(a => a.ToString()));
        Assert.Equal([2, 3], e.Assertions.Select(a => a.Line));
    }

    [Theory]
    [InlineData("0 < S 0:0(0) <mss 1460>", 1, "window must be specified for inbound packets")]
    [InlineData("0 < S 0:0(0) win 100 <...>", 1, "<...> for TCP options can only be used with outbound packets")]
    [InlineData("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > . 1:11(9)", 2, "inconsistent TCP sequence numbers and payload size")]
    [InlineData("0 > S 0:0(0) <mss 1460,nop>", 1, "TCP options are not padded correctly")]
    [InlineData("0 > X 0:0(0)", 1, "invalid TCP flag 'X'")]
    [InlineData("0 > S 0:0(0) <mss 1460,md5 0>", 1, "TCP MD5 digest '0' has an odd number of digits")]
    [InlineData("0 close(3) = 0\n\n+0 < udp (100)", 3, "udp packets are not supported")]
    [InlineData("0 close(3) = 0\n+0 < [ect2] S 0:0(0) win 100", 2, "expected IP fields in [...]")]
    [InlineData("0 close(3) = 0\n+0 < 1234>80 S 0:0(0) win 100", 2, "explicit ports")]
    [InlineData("0 close(3) = 0\n+1 * close(3) = 0", 2, "expected a packet")]
    [InlineData("0 close(3) = 0\n* close(3) = 0", 2, "event time * can only be used with outbound packets")]
    [InlineData("0 close(3) = 0\n1~2 close(3) = 0", 2, "event time range can only be used with outbound packets")]
    [InlineData("1 close(3) = 0", 1, "the first event must be at time 0")]
    [InlineData("0 close(3) = 0\n--mss=1000", 2, "option --mss must come before the first event")]
    [InlineData("0 close(3)", 1, "expected `= result`")]
    [InlineData("0 close(3) = 0 bogus", 1, "unexpected `bogus`")]
    [InlineData("0 %{ import os }%", 1, "only assert, print(...) and assignments are supported")]
    [InlineData("0 close(3) = 0\n+0 %{\nassert tcpi_state == 1\nassert tcpi_sackd == 0\n}%", 4, "`tcpi_sackd` is not a field of struct tcp_info")]
    [InlineData("0 close(3) = 0\n/* never closed", 2, "comment /* is never closed")]
    public void Errors_name_the_line_and_what_is_wrong_or_not_supported(string text, int line, string message)
    {
        ScriptParseException error = ParseError(text);
        Assert.Equal(line, error.Line);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lexer_splits_a_blocking_time_range_and_keeps_addresses_whole()
    {
        List<Token> tokens = ScriptLexer.Tokenize("0.100...0.200 --local_ip=192.168.0.1 0x800 -1 S. 10.0.0.1");
        Assert.Equal(
            [TokenKind.Float, TokenKind.Ellipsis, TokenKind.Float, TokenKind.Option, TokenKind.Punct, TokenKind.Word, TokenKind.Integer, TokenKind.Integer, TokenKind.Word, TokenKind.Punct, TokenKind.Address, TokenKind.End],
            tokens.Select(t => t.Kind));
        Assert.Equal("192.168.0.1", tokens[5].Text);
        Assert.Equal(0x800, tokens[6].Integer);
        Assert.Equal(-1, tokens[7].Integer);
    }
}
