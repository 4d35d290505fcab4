using static UserTcp.Script.Tests.ScriptTestKit;

namespace UserTcp.Script.Tests;

/// <summary>
/// Sequence numbers as packetdrill maps them (run_packet.c, socket.h): the numbers after an inbound SYN count from that
/// SYN's own number, and an outbound SYN's seq names UserTcp's ISN, whatever number the script gives it.
/// </summary>
public class SequenceNumberTests
{
    [Fact]
    public void Numbers_after_a_passive_SYN_count_from_its_sequence_number()
    {
        // As fastopen/server/pure-syn-data.pkt: the SYN says 999000, the next segment 1.
        Passes("""
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 999000:999000(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 999001 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    < P. 1:11(10) ack 1 win 502
            +0    > . 1:1(0) ack 11 win 32766
            +0    read(4, ..., 100) = 10
            """);
    }

    [Fact]
    public void Numbers_after_a_SYN_are_not_taken_as_counting_from_zero()
    {
        // Segment 1 must be the byte after the SYN's 999000: sent as 1 after zero, UserTcp drops it as out of window.
        ScriptFailure failure = Fails("""
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 999000:999000(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 999001 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 999001:999001(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            """);
        Assert.Equal(7, failure.Line);
    }

    [Fact]
    public void A_SYN_ACK_line_names_our_ISN_with_any_number_and_later_lines_count_from_zero()
    {
        // pure-syn-data.pkt's `> S. 1234:1234(0)`: packetdrill's script.local_isn is 1234, live data still starts at 1.
        Passes("""
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 1234:1234(0) ack 1 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    write(4, ..., 10) = 10
            +0    > P. 1:11(10) ack 1 win 32768
            +0    < . 1:1(0) ack 11 win 502
            """);
    }

    [Fact]
    public void An_active_SYN_line_names_our_ISN_and_the_SYN_ACK_acknowledges_that_number()
    {
        // local_seq_script_to_live_offset: an inbound SYN-ACK's ack counts from the script's SYN seq (100 here).
        Passes("""
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
            +0    > S 100:100(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 3>
            +.1   < S. 5000:5000(0) ack 101 win 65535 <mss 1460,nop,wscale 7>
            +0    > . 1:1(0) ack 1 win 32768
            +0    write(3, ..., 10) = 10
            +0    > P. 1:11(10) ack 1 win 32768
            """);
    }

    [Fact]
    public void A_new_listener_meets_its_SYN_on_a_new_connection_not_the_last_ones_TIME_WAIT()
    {
        // As fastopen/server/simple1.pkt: UserTcp closed first (TIME-WAIT), a new listener takes a SYN with another ISN.
        // packetdrill gives each passive connection a port of its own, so this is a fresh handshake from our own ISN.
        Passes(Handshake + """
            +0    close(4) = 0
            +0    > F. 1:1(0) ack 1
            +.1   < F. 1:1(0) ack 2 win 502
            +0    > . 2:2(0) ack 2
            +0    close(3) = 0
            +.1   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 6814000:6814000(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 6814001 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            """);
    }

    [Fact]
    public void A_SYN_on_an_established_connection_does_not_move_the_numbers()
    {
        // Only a listener's first SYN (or a SYN-ACK) sets the remote ISN; RFC 5961 §4.2 answers this one with an ACK.
        Passes(Handshake + """
            +0    < S 5000:5000(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > . 1:1(0) ack 1
            +0    < P. 1:11(10) ack 1 win 502
            +0    > . 1:1(0) ack 11
            """, relaxed: true);
    }

    [Fact]
    public void Accept_may_reuse_the_number_of_a_descriptor_still_open()
    {
        // packetdrill's descriptors are names: pure-syn-data.pkt accepts `= 4` again while the first 4 is still open.
        Passes("""
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    close(3) = 0
            +0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    write(4, ..., 10) = 10
            +0    > P. 1:11(10) ack 1 win 32768
            """);
    }
}
