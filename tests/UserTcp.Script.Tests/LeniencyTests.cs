using UserTcp.Wire;
using static UserTcp.Script.Tests.ScriptTestKit;

namespace UserTcp.Script.Tests;

/// <summary>
/// What upstream packetdrill fails against Linux the runner fails too: each case is a rule of packetdrill's own source
/// (run_packet.c, run.c, run_system_call.c, parser.y) that a script could break and still pass here.
/// </summary>
public class LeniencyTests
{
    [Fact]
    public void Poll_without_revents_expects_none_as_packetdrill_does()
    {
        // parser.y's opt_revents: a pollfd written without revents= expects revents 0, and pollfds_check compares it.
        ScriptFailure failure = Fails(Handshake + "+0    poll([{fd=4, events=POLLOUT}], 1, 0) = 1\n");
        Assert.Equal(8, failure.Line);
        Assert.Contains("revents=0x4", failure.Message, StringComparison.Ordinal);
        Passes(Handshake + "+0    poll([{fd=4, events=POLLIN}], 1, 0) = 0\n");
        Passes(Handshake + "+0    poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n");
    }

    [Fact]
    public void Urgent_pointer_left_out_is_compared_as_zero()
    {
        // parser.y's opt_urg_ptr is 0 when not written, and verify_tcp always compares tcp_urg_ptr.
        PacketSpec expected = ((PacketEvent)ScriptParser.Parse("0 > . 1:1(0) ack 1").Events.Single()).Packet;
        var sent = new RelativeSegment(TcpFlags.Ack, 1, 0, 1, 502, UrgentPointer: 7, []);
        Assert.Equal(["urg 7 instead of 0"], PacketMatcher.Differences(expected, sent, relaxed: false));
        Assert.Equal(["urg 7 instead of 0"], PacketMatcher.Differences(expected, sent, relaxed: true));
        Assert.Equal("> . 1:1(0) ack 1 urg 7", sent.Format(expected));
        Assert.Empty(PacketMatcher.Differences(expected, sent with { UrgentPointer = 0 }, relaxed: false));
    }

    [Theory]
    [InlineData("")]
    [InlineData("// a comment, and nothing else\n")]
    [InlineData("--tolerance_usecs=10000\n`sysctl -q net.ipv4.tcp_sack=0`\n/* the rest of the file was lost */\n")]
    public void A_script_without_events_is_an_error_not_a_pass(string text)
    {
        // parser.y's events needs one event at least; an empty or cut-off file is a syntax error there.
        ScriptFailure failure = Fails(text);
        Assert.True(failure.Unreadable);
        Assert.Contains("no events", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Outbound_payload_must_be_the_zeros_the_script_wrote()
    {
        // run_packet.c's verify_outbound_live_payload compares the payload with the script packet's, which is zeros,
        // as is all the data packetdrill's write() sends.
        PacketSpec expected = ((PacketEvent)ScriptParser.Parse("0 > P. 1:4(3) ack 1").Events.Single()).Packet;
        var garbage = new RelativeSegment(TcpFlags.Psh | TcpFlags.Ack, 1, 3, 1, 502, 0, []) { ZeroPayload = false };
        Assert.Equal(["payload bytes that are not the zeros the script wrote"], PacketMatcher.Differences(expected, garbage, relaxed: false));
        Assert.Equal(["payload bytes that are not the zeros the script wrote"], PacketMatcher.Differences(expected, garbage, relaxed: true));
        Assert.Empty(PacketMatcher.Differences(expected, garbage with { ZeroPayload = true }, relaxed: false));

        // The segment's bytes are read as sent: zeros pass, and after a write of a string (UserTcp's extension) the
        // payload is no longer expected to be zeros.
        Assert.True(CapturedSegment.TryParse(Segment([0, 0, 0]), 0, out _)!.ZeroPayload);
        Assert.False(CapturedSegment.TryParse(Segment([0, 0, 1]), 0, out _)!.ZeroPayload);
        Passes(Handshake + "+0    write(4, ..., 3) = 3\n+0    > P. 1:4(3) ack 1\n");
        Passes(Handshake + "+0    write(4, \"abc\", 3) = 3\n+0    > P. 1:4(3) ack 1\n");
    }

    [Fact]
    public void Relaxed_joins_only_pieces_packetdrill_would_join()
    {
        // run_packet.c's verify_packet_fragments: every piece but the one that completes the line has the size of the
        // piece before it (and the same headers). A 500-byte write and a 2920-byte one leave as 500 + 1460 + 1460.
        const string TwoWrites = Handshake + """
            +0    setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0
            +0    write(4, ..., 500) = 500
            +0    write(4, ..., 2920) = 2920

            """;
        ScriptFailure failure = Fails(TwoWrites + "+0    > P. 1:3421(3420) ack 1\n", relaxed: true);
        Assert.Equal(11, failure.Line);
        Assert.Contains("a 1460-byte piece after a 500-byte one", failure.Message, StringComparison.Ordinal);
        Passes(TwoWrites + "+0    > P. 1:501(500) ack 1\n+0    > P. 501:3421(2920) ack 1\n", relaxed: true);
    }

    [Fact]
    public void Epoll_wait_compares_the_event_it_did_not_return_with_zeros()
    {
        // run_system_call.c's syscall_epoll_wait compares the script's event with the first one returned, a zeroed
        // struct when none was: {events=EPOLLIN, fd=4} with = 0 fails there.
        const string Registered = Handshake + """
            +0    epoll_create(1) = 5
            +0    epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0

            """;
        ScriptFailure failure = Fails(Registered + "+0    epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 0\n");
        Assert.Equal(10, failure.Line);
        Assert.Contains("epoll_wait gave {events=0x0, data=0}", failure.Message, StringComparison.Ordinal);
        Passes(Registered + "+0    epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0\n");
    }

    [Fact]
    public void Absolute_time_going_backward_is_an_error_even_within_tolerance()
    {
        // run.c's get_next_event: an absolute time before the previous absolute time is "time goes backward in script".
        ScriptFailure failure = Fails("""
            --tolerance_usecs=100000
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            0.200 close(3) = 0
            0.150 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            """);
        Assert.Equal(4, failure.Line);
        Assert.Contains("time goes backward in script from 0.200 s to 0.150 s", failure.Message, StringComparison.Ordinal);
        // A relative line, or an absolute one after a relative one, is no step back.
        Passes("--tolerance_usecs=100000\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n0.200 close(3) = 0\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n0.150 close(3) = 0\n");
    }

    [Fact]
    public void A_command_without_a_time_comes_only_first_or_last()
    {
        // parser.y's script: opt_options opt_init_command events opt_cleanup_command; any other untimed command, or a
        // second one at either end, is a syntax error.
        const string Sack = "`sysctl -q net.ipv4.tcp_sack=0`\n";
        const string Events = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) = 0\n";
        ScriptFailure middle = Fails("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n" + Sack + "+0 close(3) = 0\n");
        Assert.True(middle.Unreadable);
        Assert.Equal(3, middle.Line);
        Assert.Contains("on line 2 comes after the events", middle.Message, StringComparison.Ordinal);
        Assert.Equal(2, Fails(Sack + Sack + Events).Line);
        Assert.Equal(4, Fails(Events + Sack + Sack).Line);
        Passes(Sack + Events + Sack);
        Passes(Events + "+0 " + Sack);
    }

    [Fact]
    public void Getsockopt_compares_an_int_with_optlen_4_or_a_string_of_optlen_bytes()
    {
        // run_system_call.c's syscall_getsockopt: an [N] value needs optlen [4] ("Unsupported getsockopt optlen"), a
        // string optlen of its length, and any other value ("unsupported getsockopt value type: linger") fails.
        ScriptFailure failure = Fails(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [8]) = 0\n");
        Assert.Equal(8, failure.Line);
        Assert.Contains("optlen [4]", failure.Message, StringComparison.Ordinal);
        failure = Fails(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=0, linger=0}, [8]) = 0\n");
        Assert.Equal(8, failure.Line);
        Assert.Contains("unsupported getsockopt value type", failure.Message, StringComparison.Ordinal);
        Assert.Contains("unsupported getsockopt value type", Fails(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_ERROR, ..., [4]) = 0\n").Message, StringComparison.Ordinal);
        Assert.Contains("optlen is [N]", Fails(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_ERROR, [0], 4) = 0\n").Message, StringComparison.Ordinal);
        Assert.Contains("optlen [5]", Fails(Handshake + "+0    getsockopt(4, IPPROTO_TCP, TCP_CONGESTION, \"cubic\", [16]) = 0\n").Message, StringComparison.Ordinal);
        // Linux copies min(optlen, the option's size): optlen 4 reads SO_LINGER's l_onoff.
        Passes(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n+0    getsockopt(4, SOL_SOCKET, SO_LINGER, [0], [4]) = 0\n"
            + "+0    getsockopt(4, IPPROTO_TCP, TCP_CONGESTION, \"cubic\", [5]) = 0\n");
        Assert.Contains("gave [0]", Fails(Handshake + "+0    getsockopt(4, SOL_SOCKET, SO_LINGER, [1], [4]) = 0\n").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_and_connect_take_no_address_as_in_packetdrill()
    {
        // run_system_call.c's syscall_bind and syscall_connect: the address is ... (connect's may be an address family),
        // its length ...; packetdrill fills in the addresses it plays ("Bad type; actual: sockaddr_in expected: integer").
        const string Socket = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        ScriptFailure failure = Fails(Socket + "+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = -1 EINPROGRESS\n");
        Assert.Equal(2, failure.Line);
        Assert.StartsWith("connect's address is ... or an address family as in packetdrill", failure.Message, StringComparison.Ordinal);
        Assert.Contains("address length is ...", Fails(Socket + "+0 connect(3, ..., 16) = -1 EINPROGRESS\n").Message, StringComparison.Ordinal);
        Assert.StartsWith("bind's address is ... as in packetdrill", Fails(Socket + "+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"0.0.0.0\")}, 16) = 0\n").Message, StringComparison.Ordinal);
        Assert.StartsWith("bind's address is ...", Fails(Socket + "+0 bind(3, AF_INET, ...) = 0\n").Message, StringComparison.Ordinal);
        Passes(Socket + "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 connect(3, AF_INET, ...) = -1 EINPROGRESS\n+0 > S 0:0(0) <...>\n");
    }

    [Fact]
    public void A_call_on_a_descriptor_the_script_does_not_hold_fails_the_script()
    {
        // run_system_call.c's to_live_fd: "unable to find fd with script fd N" for one never made or already closed.
        const string Socket = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        ScriptFailure failure = Fails(Socket + "+0 close(3) = 0\n+0 shutdown(3, SHUT_WR) = -1 EBADF (Bad file descriptor)\n");
        Assert.Equal(3, failure.Line);
        Assert.StartsWith("unable to find fd with script fd 3", failure.Message, StringComparison.Ordinal);
        Assert.Equal(2, Fails(Socket + "+0 close(4) = -1 EBADF (Bad file descriptor)\n").Line);
        Passes(Socket + "+0 shutdown(3, SHUT_WR) = -1 ENOTCONN (Transport endpoint is not connected)\n+0 close(3) = 0\n");
    }

    [Fact]
    public void Ioctl_takes_no_buffer_or_an_int_in_brackets_as_in_packetdrill()
    {
        // run_system_call.c's syscall_ioctl: 2 or 3 arguments, the third [N]; it compares [N] even after an error, with
        // whatever the kernel left there, so an error is asked without a buffer.
        const string Listen = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n";
        Passes(Listen + "+0 ioctl(3, SIOCINQ) = -1 EINVAL (Invalid argument)\n");
        Assert.Contains("third argument is [N]", Fails(Listen + "+0 ioctl(3, SIOCINQ, ...) = -1 EINVAL (Invalid argument)\n").Message, StringComparison.Ordinal);
        Passes(Handshake + "+0    ioctl(4, SIOCINQ) = -1 EFAULT (Bad address)\n+0    ioctl(4, SIOCINQ, [0]) = 0\n");
        // symbols_linux.c names SIOCINQ and FIONREAD only.
        Assert.Contains("SIOCOUTQ", Fails(Handshake + "+0    ioctl(4, SIOCOUTQ, [0]) = 0\n").Message, StringComparison.Ordinal);
        Passes(Handshake + "+0    ioctl(4, 0x5411, [0]) = 0\n+0    ioctl(4, 0x894b, [0]) = 0\n+0    ioctl(4, FIONREAD, [0]) = 0\n");
    }

    [Fact]
    public void A_note_after_a_result_holds_words_only()
    {
        // parser.y: note is '(' word_list ')', and a word is [a-zA-Z0-9_]+, so "O_RDWR|O_NONBLOCK" is a syntax error there.
        const string Socket = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n";
        ScriptFailure failure = Fails(Socket + "+0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n");
        Assert.Equal(3, failure.Line);
        Assert.Contains("a note in parentheses holds words only", failure.Message, StringComparison.Ordinal);
        Assert.Contains("words only", Fails(Socket + "+0 fcntl(3, F_GETFL) = 0x802 ()\n").Message, StringComparison.Ordinal);
        Passes(Socket + "+0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR O_NONBLOCK)\n");
    }

    [Fact]
    public void Reserved_tcp_bits_and_ip_options_are_differences()
    {
        // run_packet.c's verify_tcp compares tcp_reserved_bits and tcp_ae, verify_ipv4 the ipv4_header_length.
        PacketSpec expected = ((PacketEvent)ScriptParser.Parse("0 > - 0:0(0)").Events.Single()).Packet;
        byte[] plain = Segment([]);
        Assert.Empty(PacketMatcher.Differences(expected, RelativeSegment.From(CapturedSegment.TryParse(plain, 0, out _)!, 0, 0), relaxed: false));

        byte[] reserved = Segment([], tcpByte12: (5 << 4) | 0x1);
        Assert.Equal(["reserved TCP header bits 0x1 set"],
            PacketMatcher.Differences(expected, RelativeSegment.From(CapturedSegment.TryParse(reserved, 0, out _)!, 0, 0), relaxed: true));

        byte[] ipOptions = Segment([], ipOptions: [1, 1, 1, 0]);
        Assert.Equal(["an IP header of 24 bytes (IP options) instead of 20"],
            PacketMatcher.Differences(expected, RelativeSegment.From(CapturedSegment.TryParse(ipOptions, 0, out _)!, 0, 0), relaxed: false));
    }

    [Fact]
    public void Setsockopt_with_an_optlen_shorter_than_the_option_is_einval()
    {
        // run_system_call.c's syscall_setsockopt hands the script's optlen to the kernel, which refuses a socket or TCP
        // option shorter than an int (sk_setsockopt, do_tcp_setsockopt) and an SO_LINGER shorter than struct linger.
        ScriptFailure failure = Fails(Handshake + "+0    setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 2) = 0\n");
        Assert.Equal(8, failure.Line);
        Assert.Contains("EINVAL", failure.Message, StringComparison.Ordinal);
        Passes(Handshake + """
            +0    setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 2) = -1 EINVAL (Invalid argument)
            +0    setsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], 3) = -1 EINVAL (Invalid argument)
            +0    setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 4) = -1 EINVAL (Invalid argument)
            +0    setsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0
            +0    setsockopt(4, SOL_IP, IP_TOS, [4], 1) = 0

            """);
    }

    /// <summary>
    /// An IPv4 packet carrying a TCP segment (no TCP options) with <paramref name="payload"/>, checksums filled in;
    /// <paramref name="tcpByte12"/> is the data offset byte, <paramref name="ipOptions"/> lengthen the IP header.
    /// </summary>
    private static byte[] Segment(byte[] payload, int tcpByte12 = TcpSegment.MinHeaderLength / 4 << 4, byte[]? ipOptions = null)
    {
        Ipv4Address from = new(192, 168, 0, 1), to = new(192, 0, 2, 1);
        ipOptions ??= [];
        int ipHeader = Ipv4Packet.MinHeaderLength + ipOptions.Length;
        byte[] packet = new byte[ipHeader + TcpSegment.MinHeaderLength + payload.Length];
        PacketWriter.WriteIpv4Header(packet, new Ipv4Repr(from, to), TcpSegment.MinHeaderLength + payload.Length + ipOptions.Length);
        if (ipOptions.Length > 0)
        {
            packet[0] = (byte)(0x40 | ipHeader / 4);
            ipOptions.CopyTo(packet, Ipv4Packet.MinHeaderLength);
            packet[10] = packet[11] = 0;
            ushort header = InternetChecksum.Compute(packet.AsSpan(0, ipHeader));
            packet[10] = (byte)(header >> 8);
            packet[11] = (byte)header;
        }
        Span<byte> tcp = packet.AsSpan(ipHeader);
        tcp[12] = (byte)tcpByte12;
        payload.CopyTo(tcp[TcpSegment.MinHeaderLength..]);
        ulong sum = InternetChecksum.PseudoHeader(from, to, Ipv4Packet.ProtocolTcp, (ushort)tcp.Length);
        ushort check = InternetChecksum.Finish(InternetChecksum.Add(sum, tcp));
        tcp[16] = (byte)(check >> 8);
        tcp[17] = (byte)check;
        return packet;
    }
}
