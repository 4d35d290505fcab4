using UserTcp.Wire;

namespace UserTcp.Script.Tests;

/// <summary>
/// The upstream grammar beyond UserTcp's own scripts: Fast Open and MD5 options, IP annotations, typed structs in
/// system calls, Python code blocks with tcpi_ fields, variables and print, and packetdrill's definitions.
/// </summary>
public class GrammarTests
{
    private static ScriptEvent Single(string text) => ScriptParser.Parse(text).Events.Single();

    private static ScriptParseException ParseError(string text) => Assert.Throws<ScriptParseException>(() => ScriptParser.Parse(text));

    private static T Struct<T>(ScriptExpression argument) where T : StructValue =>
        Assert.IsType<T>(Assert.IsType<ListExpression>(argument).Struct);

    // ───────────── TCP options ─────────────

    [Fact]
    public void Fast_open_options_are_read_with_and_without_a_cookie_and_written_as_on_the_wire()
    {
        var e = (PacketEvent)Single("0 < S 0:10(10) win 32792 <mss 1460,sackOK,nop,nop,FO 3021b9d889017eeb,nop,nop,FOEXP,FO,nop,nop>");
        Assert.Equal<OptionSpec>(
            [new MssOption(1460), new SackPermittedOption(), new NopOption(), new NopOption(), new FastOpenOption(Convert.FromHexString("3021b9d889017eeb"), false),
                new NopOption(), new NopOption(), new FastOpenOption([], true), new FastOpenOption([], false), new NopOption(), new NopOption()],
            e.Packet.Options!);
        Assert.Equal([34, 10, 0x30, 0x21, 0xb9, 0xd8, 0x89, 0x01, 0x7e, 0xeb], new FastOpenOption(Convert.FromHexString("3021b9d889017eeb"), false).Encode());
        Assert.Equal([254, 8, 0xF9, 0x89, 0xab, 0xcd, 0x12, 0x34], new FastOpenOption(Convert.FromHexString("abcd1234"), true).Encode());
        Assert.Equal("FOEXP abcd1234", new FastOpenOption(Convert.FromHexString("abcd1234"), true).ToString());
    }

    [Fact]
    public void A_cookie_made_only_of_digits_is_still_hex()
    {
        var e = (PacketEvent)Single("0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8,FO 112233445566>");
        Assert.Equal(new FastOpenOption([0x11, 0x22, 0x33, 0x44, 0x55, 0x66], false), e.Packet.Options![^1]);
    }

    [Fact]
    public void The_md5_option_carries_its_digest()
    {
        var e = (PacketEvent)Single("0 < S 0:0(0) win 100 <md5 000102030405060708090a0b0c0d0e0f,nop,nop>");
        var md5 = Assert.IsType<Md5Option>(e.Packet.Options![0]);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (byte)i), md5.Digest);
        Assert.Equal([19, 18, .. Enumerable.Range(0, 16).Select(i => (byte)i)], md5.Encode());
    }

    [Fact]
    public void Fast_open_and_md5_options_on_the_wire_read_back_as_the_script_writes_them()
    {
        Assert.Equal(new FastOpenOption([0xab, 0xcd], false), OtherOptions.FromWire(34, [0xab, 0xcd]));
        Assert.Equal(new FastOpenOption([0xab, 0xcd], true), OtherOptions.FromWire(254, [0xF9, 0x89, 0xab, 0xcd]));
        Assert.Equal(new UnknownOption(254, [0x12, 0x34]), OtherOptions.FromWire(254, [0x12, 0x34]));
        Assert.Equal(new Md5Option([1, 2]), OtherOptions.FromWire(19, [1, 2]));
    }

    [Theory]
    [InlineData("<FO abc>", "TCP fast open cookie 'abc' has an odd number of digits")]
    [InlineData("<FO xyzw>", "TCP fast open cookie 'xyzw' is not a valid hex string")]
    [InlineData("<md5 000102030405060708090a0b0c0d0e0f10,nop,nop>", "TCP MD5 digest longer than 16 bytes")]
    [InlineData("<md5>", "the MD5 option is written md5 <digest in hex>")]
    public void Bad_fast_open_and_md5_options_say_what_is_wrong(string options, string message)
    {
        Assert.Contains(message, ParseError($"0 < S 0:0(0) win 100 {options}").Message, StringComparison.Ordinal);
    }

    // ───────────── IP annotations ─────────────

    [Theory]
    [InlineData("[ect0]", EcnCodepoint.Ect0, false, null, null)]
    [InlineData("[noecn]", EcnCodepoint.NotEct, false, null, null)]
    [InlineData("[ce]", EcnCodepoint.Ce, false, null, null)]
    [InlineData("[ect01]", null, true, null, null)]
    [InlineData("(tos 0x10)", null, false, 0x10, null)]
    [InlineData("[ect1,ttl 3]", EcnCodepoint.Ect1, false, null, 3)]
    public void Ip_annotations_are_typed(string written, EcnCodepoint? ecn, bool either, int? tos, int? ttl)
    {
        var e = (PacketEvent)Single($"0 < {written} . 1:1(0) ack 1 win 320");
        Assert.Equal(new IpAnnotation(ecn, either, (byte?)tos, (byte?)ttl, null), e.Packet.Ip);
        Assert.Equal(UserTcp.Wire.TcpFlags.Ack, e.Packet.Flags);
    }

    [Fact]
    public void An_inbound_ecn_mark_reaches_the_engine_and_an_outbound_one_is_checked()
    {
        const string Handshake = """
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < [ect0] S 0:0(0) win 65535 <mss 1460>
            +0    > S. 0:0(0) ack 1 <...>
            """;
        Assert.True(ScriptRunner.RunText(Handshake, "t.pkt").Passed);
        Assert.True(ScriptRunner.RunText(Handshake.Replace("> S.", "> [noecn] S.", StringComparison.Ordinal), "t.pkt").Passed);
        ScriptResult ect = ScriptRunner.RunText(Handshake.Replace("> S.", "> [ect0] S.", StringComparison.Ordinal), "t.pkt");
        Assert.Equal(5, ect.Failure?.Line);
        Assert.Contains("ECN field noecn, not ect0", ect.Failure?.Message, StringComparison.Ordinal);
        ScriptResult either = ScriptRunner.RunText(Handshake.Replace("> S.", "> [ect01] S.", StringComparison.Ordinal), "t.pkt");
        Assert.Contains("ECN field noecn, not ECT(0) or ECT(1)", either.Failure?.Message, StringComparison.Ordinal);
        ScriptResult tos = ScriptRunner.RunText(Handshake.Replace("> S.", "> [tos 0x4] S.", StringComparison.Ordinal), "t.pkt");
        Assert.Contains("TOS 0x0, not 0x4", tos.Failure?.Message, StringComparison.Ordinal);
    }

    // ───────────── structs ─────────────

    [Fact]
    public void Linger_and_sockaddr_structs_are_typed()
    {
        var linger = (SyscallEvent)Single("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0");
        Assert.Equal(new LingerStruct(new IntegerExpression(1, "1"), new IntegerExpression(0, "0")), Struct<LingerStruct>(linger.Call.Arguments[3]));
        var old = (SyscallEvent)Single("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0");
        Assert.Equal(new IntegerExpression(5, "5"), Struct<LingerStruct>(old.Call.Arguments[3]).Linger);

        var connect = (SyscallEvent)Single("0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0");
        SockAddrStruct address = Struct<SockAddrStruct>(connect.Call.Arguments[1]);
        Assert.Equal(new WordExpression("AF_INET"), address.Family);
        Assert.Equal(new CallExpression("htons", [new IntegerExpression(8080, "8080")]), address.Port);
    }

    [Fact]
    public void Tcp_info_structs_are_typed_by_field()
    {
        var e = (SyscallEvent)Single("0 getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_cwnd=10, tcpi_ca_state=0}, [104]) = 0");
        TcpInfoStruct info = Struct<TcpInfoStruct>(e.Call.Arguments[3]);
        Assert.Equal([TcpInfoField.State, TcpInfoField.SndCwnd, TcpInfoField.CaState], info.Fields.Select(f => f.Field));
        Assert.Equal(new IntegerExpression(10, "10"), info.Fields[1].Value);
        Assert.Contains("`tcpi_cwnd` is not a field of struct tcp_info", ParseError("0 getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_cwnd=10}, [104]) = 0").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Msghdr_iovec_and_cmsg_structs_are_typed()
    {
        var e = (SyscallEvent)Single("""
            0 recvmsg(4, {msg_name(...)=...,
                          msg_iov(2)=[{..., 600},{...,400}],
                          msg_flags=MSG_ERRQUEUE,
                          msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR,
                                        cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ee_info=0, ee_data=1}}]}, MSG_ERRQUEUE) = 0
            """);
        MsgHdrStruct msg = Struct<MsgHdrStruct>(e.Call.Arguments[1]);
        Assert.Equal(2, msg.IovCount);
        Assert.Equal([600L, 400L], msg.Iov.Select(v => Assert.IsType<IntegerExpression>(v.Length).Value));
        Assert.Equal(new WordExpression("MSG_ERRQUEUE"), msg.Flags);
        CmsgStruct cmsg = Struct<CmsgStruct>(Assert.Single(msg.Control));
        Assert.Equal(new WordExpression("IP_RECVERR"), cmsg.Type);
        Assert.Equal(new WordExpression("ENOMSG"), Struct<SockExtendedErrStruct>(cmsg.Data).Errno);
        Assert.Contains("msg_iov(3) lists 2 buffers", ParseError("0 sendmsg(4, {msg_name(...)=..., msg_iov(3)=[{..., 1},{..., 2}], msg_flags=0}, 0) = 3").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pollfd_epoll_event_and_timestamping_structs_are_typed()
    {
        var poll = (SyscallEvent)Single("0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1");
        PollFdStruct pollfd = Struct<PollFdStruct>(Assert.IsType<ListExpression>(poll.Call.Arguments[0]).Items[0]);
        Assert.Equal(new WordExpression("POLLOUT"), pollfd.ReturnedEvents);

        var epoll = (SyscallEvent)Single("0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT|EPOLLET, fd=4}) = 0");
        Assert.Equal(EpollDataKind.Fd, Struct<EpollEventStruct>(epoll.Call.Arguments[3]).DataKind);
        var wait = (SyscallEvent)Single("0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0");
        Assert.Equal(EpollDataKind.Address, Struct<EpollEventStruct>(wait.Call.Arguments[1]).DataKind);

        var ts = (SyscallEvent)Single("0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=20000000}}]}, MSG_ERRQUEUE) = 0");
        CmsgStruct cmsg = Struct<CmsgStruct>(Struct<MsgHdrStruct>(ts.Call.Arguments[1]).Control[0]);
        Assert.Equal(new IntegerExpression(20000000, "20000000"), Struct<ScmTimestampingStruct>(cmsg.Data).Nanoseconds);
    }

    [Fact]
    public void A_brace_list_of_another_shape_stays_a_plain_list()
    {
        var e = (SyscallEvent)Single("0 setsockopt(3, SOL_TCP, TCP_X, {1, 2}, 8) = 0");
        Assert.Null(Assert.IsType<ListExpression>(e.Call.Arguments[3]).Struct);
    }

    // ───────────── code blocks ─────────────

    [Fact]
    public void Code_blocks_read_asserts_assignments_prints_comments_and_continuations()
    {
        PacketScript script = ScriptParser.Parse("""
            0 %{ TCP_INFINITE_SSTHRESH = 0x7fffffff }%
            +0 %{
            assert tcpi_ca_state == TCP_CA_CWR, tcpi_ca_state

            # a comment, and a message that formats
            assert 5000 <= tcpi_rtt <= 20000, 'srtt=%d us' % tcpi_rtt
            assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options
            }%
            +0 %{ print(tcpi_snd_cwnd); cwnd = 58; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd }%
            +0 %{ cwnd += 10; assert tcpi_probes == 0, tcpi_probes; \
                  assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%
            """);
        var blocks = script.Events.Cast<AssertEvent>().ToList();
        Assert.Equal(new AssignStatement(1, "TCP_INFINITE_SSTHRESH", "=", new NumberExpr(0x7fffffff)), Assert.Single(blocks[0].Statements));
        Assert.Equal([3, 6, 7], blocks[1].Statements.Select(s => s.Line));
        var ca = Assert.IsType<Assertion>(blocks[1].Statements[0]);
        Assert.Equal(new CompareExpr([new FieldExpr(TcpInfoField.CaState), new ConstantExpr("TCP_CA_CWR", 2)], ["=="]), ca.Condition);
        Assert.Equal("tcpi_ca_state", ca.Message);
        var rtt = Assert.IsType<Assertion>(blocks[1].Statements[1]);
        Assert.Equal("5000 <= tcpi_rtt <= 20000", rtt.Text);
        Assert.Equal(new BinaryExpr("&", new FieldExpr(TcpInfoField.Options), new ConstantExpr("TCPI_OPT_SYN_DATA", 32)),
            Assert.IsType<CompareExpr>(Assert.IsType<Assertion>(blocks[1].Statements[2]).Condition).Operands[0]);
        Assert.Collection(blocks[2].Statements,
            s => Assert.Equal(new PrintStatement(9, [new FieldExpr(TcpInfoField.SndCwnd)]), s),
            s => Assert.Equal(new AssignStatement(9, "cwnd", "=", new NumberExpr(58)), s),
            s => Assert.Equal(new VariableExpr("cwnd"), Assert.IsType<CompareExpr>(Assert.IsType<Assertion>(s).Condition).Operands[1]));
        Assert.Equal(new AssignStatement(10, "cwnd", "+=", new NumberExpr(10)), blocks[3].Statements[0]);
        Assert.Equal(new VariableExpr("TCP_INFINITE_SSTHRESH"), Assert.IsType<CompareExpr>(Assert.IsType<Assertion>(blocks[3].Statements[2]).Condition).Operands[1]);
    }

    [Fact]
    public void Every_tcp_info_field_packetdrill_emits_has_its_name()
    {
        string[] names =
        [
            "tcpi_state", "tcpi_ca_state", "tcpi_retransmits", "tcpi_probes", "tcpi_backoff", "tcpi_options", "tcpi_snd_wscale", "tcpi_rcv_wscale",
            "tcpi_delivery_rate_app_limited", "tcpi_rto", "tcpi_ato", "tcpi_snd_mss", "tcpi_rcv_mss", "tcpi_unacked", "tcpi_sacked", "tcpi_lost",
            "tcpi_retrans", "tcpi_fackets", "tcpi_last_data_sent", "tcpi_last_ack_sent", "tcpi_last_data_recv", "tcpi_last_ack_recv", "tcpi_pmtu",
            "tcpi_rcv_ssthresh", "tcpi_rtt", "tcpi_rttvar", "tcpi_snd_ssthresh", "tcpi_snd_cwnd", "tcpi_advmss", "tcpi_reordering", "tcpi_total_retrans",
            "tcpi_pacing_rate", "tcpi_max_pacing_rate", "tcpi_rcv_rtt", "tcpi_rcv_space", "tcpi_bytes_acked", "tcpi_bytes_received", "tcpi_segs_out",
            "tcpi_segs_in", "tcpi_notsent_bytes", "tcpi_min_rtt", "tcpi_data_segs_in", "tcpi_data_segs_out", "tcpi_delivery_rate", "tcpi_busy_time",
            "tcpi_rwnd_limited", "tcpi_sndbuf_limited", "tcpi_delivered", "tcpi_delivered_ce", "tcpi_bytes_sent", "tcpi_bytes_retrans", "tcpi_dsack_dups",
            "tcpi_reord_seen", "tcpi_rcv_ooopack", "tcpi_snd_wnd", "tcpi_rcv_wnd", "tcpi_rehash", "tcpi_total_rto", "tcpi_total_rto_recoveries",
            "tcpi_total_rto_time", "tcpi_ecn_mode", "tcpi_accecn_opt_seen", "tcpi_accecn_fail_mode", "tcpi_options2", "tcpi_received_ce",
            "tcpi_delivered_e1_bytes", "tcpi_delivered_e0_bytes", "tcpi_delivered_ce_bytes", "tcpi_received_e1_bytes", "tcpi_received_e0_bytes",
            "tcpi_received_ce_bytes",
        ];
        Assert.Equal(names.Order(StringComparer.Ordinal), Enum.GetValues<TcpInfoField>().Select(TcpInfoNames.Name).Order(StringComparer.Ordinal));
        Assert.All(names, n => Assert.True(TcpInfoNames.TryField(n, out _), n));
    }

    [Theory]
    [InlineData("0 %{ assert cwnd == 1 }%", "`cwnd` is not a tcpi_ field, a packetdrill constant")]
    [InlineData("0 %{ cwnd += 1 }%", "`cwnd` is used before it is assigned")]
    [InlineData("0 %{ tcpi_rto = 1 }%", "`tcpi_rto` is a TCP_INFO field: it cannot be assigned")]
    [InlineData("0 %{ assert tcpi_rto == 'x' }%", "a string ('x') is only allowed in messages and print(...)")]
    [InlineData("0 %{ assert tcpi_rto / 2 }%", "unexpected character '/'")]
    public void Code_block_errors_name_what_is_wrong(string text, string message)
    {
        Assert.Contains(message, ParseError(text).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Variables_carry_from_block_to_block_and_fail_with_their_values()
    {
        const string Script = """
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1000>
            +0    > S. 0:0(0) ack 1 <...>
            +.1   < . 1:1(0) ack 1 win 502
            +0    %{ cwnd = 5 }%
            +0    %{ cwnd += 5; assert tcpi_snd_cwnd == cwnd, 'cwnd=%d' % tcpi_snd_cwnd; assert (tcpi_snd_cwnd * 2) // 4 == 5 }%
            +0    %{ cwnd += 1; assert tcpi_snd_cwnd == cwnd }%
            """;
        var trace = new List<string>();
        ScriptResult result = ScriptRunner.RunText(Script, "t.pkt", new ScriptRunOptions { Trace = trace.Add });
        Assert.Equal(new ScriptFailure(9, "assertion `tcpi_snd_cwnd == cwnd` failed at 0.100 s: tcpi_snd_cwnd is 10, cwnd is 11"), result.Failure);
        Assert.Contains(trace, t => t.EndsWith("line 8: assert tcpi_snd_cwnd == cwnd: true", StringComparison.Ordinal));
    }

    [Fact]
    public void Print_goes_to_the_trace_and_a_field_UserTcp_does_not_track_fails_naming_it()
    {
        const string Script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ print('state %d of %s' % (tcpi_state, 'x')); assert tcpi_delivery_rate == 0 }%\n";
        var trace = new List<string>();
        ScriptResult result = ScriptRunner.RunText(Script, "t.pkt", new ScriptRunOptions { Trace = trace.Add });
        Assert.Contains(trace, t => t.EndsWith("line 2: print: state 7 of x", StringComparison.Ordinal));
        Assert.Equal(2, result.Failure!.Line);
        Assert.StartsWith("tcpi_delivery_rate is not available: UserTcp answers tcpi_state, tcpi_ca_state", result.Failure.Message, StringComparison.Ordinal);
    }

    // ───────────── packetdrill's reading of outbound segments ─────────────

    [Fact]
    public void Under_relaxed_a_segment_no_line_claims_fails_only_when_a_later_line_meets_it_as_in_packetdrill()
    {
        const string Script = """
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
            +0    > S. 0:0(0) ack 1 <...>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    write(4, ..., 1000) = 1000
            +0    write(4, ..., 1000) = 1000
            +0    > P. 1:1001(1000) ack 1
            +0    > P. 1001:2001(1000) ack 1
            +.1   < . 1:1(0) ack 2001 win 502
            +0    write(4, ..., 500) = 500
            """;
        // The first write's segment is still unread when the second write runs, and the last one is never read:
        // packetdrill reads segments only for > lines. Strict mode fails at once.
        Assert.True(ScriptRunner.RunText(Script, "t.pkt", new ScriptRunOptions { Relaxed = true }).Passed);
        Assert.StartsWith("UserTcp sent `> P. 1:1001(1000) ack 1 win 32768` at 0.100 s, and no line expects it before this one",
            ScriptRunner.RunText(Script, "t.pkt").Failure!.Message, StringComparison.Ordinal);
        // A > line still takes the oldest segment, so an extra one before the expected one fails there.
        ScriptResult extra = ScriptRunner.RunText(Script.Replace("+0    > P. 1:1001(1000) ack 1\n", "", StringComparison.Ordinal),
            "t.pkt", new ScriptRunOptions { Relaxed = true });
        Assert.Equal(10, extra.Failure!.Line);
        Assert.Contains("seq 1 instead of 1001", extra.Failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_script_that_cannot_be_read_says_so()
    {
        ScriptFailure failure = ScriptRunner.RunText("0 > S 0:0(0) <bogus>", "t.pkt").Failure!;
        Assert.True(failure.Unreadable);
        Assert.StartsWith("line 1: cannot read the script: unknown TCP option `bogus`", failure.ToString(), StringComparison.Ordinal);
    }

    // ───────────── definitions and option values ─────────────

    [Fact]
    public void Definitions_replace_words_after_the_options()
    {
        var defines = new Dictionary<string, string> { ["TFO_COOKIE"] = "3021b9d889017eeb", ["CMSG_LEVEL_IP"] = "SOL_IP", ["N"] = "5", ["TEXT"] = "\"text\"" };
        PacketScript script = ScriptParser.Parse("""
            --define=M=7
            0 < S 0:0(0) win 100 <FO TFO_COOKIE,nop,nop>
            +0 setsockopt(3, CMSG_LEVEL_IP, N, M, TEXT) = 0
            """, "t.pkt", defines);
        Assert.Equal(new FastOpenOption(Convert.FromHexString("3021b9d889017eeb"), false), ((PacketEvent)script.Events[0]).Packet.Options![0]);
        Assert.Equal<ScriptExpression>(
            [new IntegerExpression(3, "3"), new WordExpression("SOL_IP"), new IntegerExpression(5, "5"), new IntegerExpression(7, "7"), new StringExpression("text")],
            ((SyscallEvent)script.Events[1]).Call.Arguments);
        Assert.Equal(new ScriptOption(1, "define", "M=7"), Assert.Single(script.Options));
    }

    [Fact]
    public void An_option_value_runs_to_the_next_blank_so_ipv6_addresses_read_whole()
    {
        PacketScript script = ScriptParser.Parse("--local_ip=fd::1 // comment\n--ip_version=ipv6\n0 close(3) = 0");
        Assert.Equal([new ScriptOption(1, "local_ip", "fd::1"), new ScriptOption(2, "ip_version", "ipv6")], script.Options);
        Assert.Equal(new ScriptFailure(2, "--ip_version=ipv6 is not supported: UserTcp is IPv4 only"), ScriptRunner.RunText("--local_ip=fd::1\n--ip_version=ipv6\n0 close(3) = 0", "t.pkt").Failure);
    }
}
