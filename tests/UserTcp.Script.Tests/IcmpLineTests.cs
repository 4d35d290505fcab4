using static UserTcp.Script.Tests.ScriptTestKit;

namespace UserTcp.Script.Tests;

/// <summary>
/// Inbound ICMP lines (packetdrill's icmp_packet_spec): the message quotes the connection under test's segment, its
/// sequence number counted from UserTcp's ISN, and UserTcp acts as Linux's tcp_v4_err does.
/// </summary>
public class IcmpLineTests
{
    // A passive open to SYN-RECEIVED: UserTcp's SYN-ACK is out, the handshake's ACK is not in yet.
    private const string SynReceived = """
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    bind(3, ..., ...) = 0
        +0    listen(3, 1) = 0
        +0    < S 0:0(0) win 32792 <mss 1460>
        +0    > S. 0:0(0) ack 1 <mss 1460>

        """;

    // Fast Open without a cookie (tcp_fastopen 0x200 | 0x400 | 3): the SYN's 10 bytes make a connection accept() takes at once.
    private const string FastOpenChild = """
        `sysctl -q net.ipv4.tcp_fastopen=0x603`
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    bind(3, ..., ...) = 0
        +0    listen(3, 1) = 0
        +0    < S 0:10(10) win 32792 <mss 1460>
        +0    > S. 0:0(0) ack 11 <mss 1460>

        """;

    [Fact]
    public void Host_unreachable_for_our_SYN_ACK_drops_the_SYN_queue_entry_without_a_word()
    {
        // Linux's tcp_req_err: no RST goes out; the handshake's ACK then meets only the listener, which resets it.
        Passes(SynReceived + """
            +.1   < icmp unreachable host_unreachable
            +0    < . 1:1(0) ack 1 win 32792
            +0    > R 1:1(0)
            """);
    }

    [Fact]
    public void An_icmp_error_naming_another_sequence_number_or_a_code_a_router_does_not_send_leaves_the_entry_alone()
    {
        // tcp_req_err believes only the SYN-ACK's own number; port unreachable is not one of the codes that drop a request.
        Passes(SynReceived + """
            +.1   < icmp unreachable host_unreachable [1:1(0)]
            +0    < icmp unreachable port_unreachable
            +0    < . 1:1(0) ack 1 win 32792
            +0    accept(3, ..., ...) = 4
            +0    write(4, ..., 10) = 10
            +0    > P. 1:11(10) ack 1
            """);
    }

    [Fact]
    public void A_Fast_Open_connection_not_yet_accepted_is_closed_by_the_error_and_still_accepted_with_its_data()
    {
        // tcp_v4_err: done with EHOSTUNREACH (an error quoting data not in flight is not believed); accept() still
        // returns it, the SYN's data reads, then the error once, then EPIPE; the peer's ACK meets no connection: RST.
        Passes(FastOpenChild + """
            +.1   < icmp unreachable host_unreachable [5000:6000(1000)]
            +0    < icmp unreachable host_unreachable [0:10(10)]
            +0    accept(3, ..., ...) = 4
            +0    read(4, ..., 512) = 10
            +0    read(4, ..., 512) = -1 EHOSTUNREACH (No route to host)
            +0    write(4, ..., 100) = -1 EPIPE (Broken pipe)
            +.1   < . 1:1(0) ack 1 win 32792
            +0    > R 1:1(0)
            """);
    }

    [Fact]
    public void Once_accepted_a_Fast_Open_connection_takes_the_error_as_soft()
    {
        // tcp_v4_err treats an accepted Fast Open socket as a connected one: the handshake then completes.
        Passes(FastOpenChild + """
            +0    accept(3, ..., ...) = 4
            +.1   < icmp unreachable host_unreachable
            +0    < . 11:11(0) ack 1 win 32792
            +0    write(4, ..., 10) = 10
            +0    > P. 1:11(10) ack 11
            """);
    }

    [Fact]
    public void Fragmentation_needed_for_a_Fast_Open_SYN_sends_a_plain_SYN_at_once_offering_the_path_MSS()
    {
        // tcp_v4_mtu_reduced in SYN-SENT: the SYN with data is lost for sure (tcp_simple_retransmit); the plain SYN offers
        // 800 - 40, and after the SYN-ACK the data goes in pieces the path carries.
        Passes("""
            `sysctl -q net.ipv4.tcp_timestamps=0`
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0    sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
            +0    > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 3,FO,nop,nop>
            +.01  < S. 0:0(0) ack 1 win 5840 <mss 1040,nop,nop,sackOK,nop,wscale 6,FO abcd1234,nop,nop>
            +0    > . 1:1(0) ack 1 win 32768
            +0    close(3) = 0
            +0    > F. 1:1(0) ack 1 win 32768
            +.01  < F. 1:1(0) ack 2 win 92
            +0    > . 2:2(0) ack 2 win 32768
            +.1   socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
            +0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0    sendto(4, ..., 1000, MSG_FASTOPEN, ..., ...) = 1000
            +0    > S 0:1000(1000) <mss 1460,nop,nop,sackOK,nop,wscale 3,FO abcd1234,nop,nop>
            +.01  < icmp unreachable frag_needed mtu 800
            +0    > S 0:0(0) <mss 760,nop,nop,sackOK,nop,wscale 3>
            +.01  < S. 0:0(0) ack 1 win 5840 <mss 1040,nop,nop,sackOK,nop,wscale 6>
            +0    > . 1:761(760) ack 1 win 32768
            +0    > P. 761:1001(240) ack 1 win 32768
            """);
    }

    [Fact]
    public void Fragmentation_needed_for_a_plain_SYN_waits_for_the_timer_and_the_SYN_then_offers_the_path_MSS()
    {
        // A SYN without data fits any path: tcp_simple_retransmit leaves it; the retransmission timer's SYN offers 760.
        Passes("""
            `sysctl -q net.ipv4.tcp_timestamps=0`
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
            +0    > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 3>
            +.01  < icmp unreachable frag_needed mtu 800
            1.000 > S 0:0(0) <mss 760,nop,nop,sackOK,nop,wscale 3>
            """);
    }

    [Fact]
    public void An_icmp_line_reads_as_packetdrill_reads_it()
    {
        PacketScript script = ScriptParser.Parse("""
            0 < icmp unreachable CODE
            +0 < [tos 0x4] icmp unreachable frag_needed mtu 840 [0:1000(1000)]
            +0 < icmp time_exceeded
            """, "t.pkt", new Dictionary<string, string> { ["CODE"] = "host_unreachable" });
        IcmpSpec[] lines = [.. script.Events.Cast<IcmpEvent>().Select(e => e.Icmp)];
        Assert.Equal(new IcmpSpec(PacketDirection.Inbound, "unreachable", "host_unreachable", 3, 1, null, 0, 0, 0), lines[0]);
        Assert.Equal(("frag_needed", (byte)4, (ushort?)840, 0u, 1000, (byte?)4), (lines[1].CodeName, lines[1].Code, lines[1].Mtu, lines[1].Seq, lines[1].PayloadLength, lines[1].Ip?.Tos));
        Assert.Equal(((byte)11, (byte)0, (string?)null), (lines[2].Type, lines[2].Code, lines[2].CodeName));
        Assert.Equal("< [tos 0x4] icmp unreachable frag_needed mtu 840 [0:1000(1000)]", lines[1].ToString());
    }

    [Fact]
    public void An_mtu_belongs_to_unreachable_frag_needed_only_and_outbound_icmp_is_refused()
    {
        Assert.Contains("ICMPv4 MTU is only valid for unreachable-frag_needed", Fails("0 < icmp unreachable host_unreachable mtu 800").Message, StringComparison.Ordinal);
        Assert.Contains("outbound ICMP lines", Fails("0 > icmp unreachable port_unreachable").Message, StringComparison.Ordinal);
        Assert.Contains("bad ICMP code nonsense", Fails("0 < icmp unreachable nonsense").Message, StringComparison.Ordinal);
        Assert.Contains("ICMPv6", Fails("0 < icmp packet_too_big mtu 1280").Message, StringComparison.Ordinal);
    }
}
