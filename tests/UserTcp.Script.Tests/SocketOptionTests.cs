namespace UserTcp.Script.Tests;

/// <summary>Socket options as the scripts set them, through UserTcp.Sockets: per socket, before listen, after listen, and refused values.</summary>
public class SocketOptionTests
{
    private static ScriptResult Run(string text) => ScriptRunner.RunText(text, "options.pkt");

    private static void Passes(string text)
    {
        ScriptResult result = Run(text);
        Assert.True(result.Passed, result.ToString());
    }

    private const string Listen = """
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    bind(3, ..., ...) = 0

        """;

    private const string Accept = """
        +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
        +0    > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 3>
        +.1   < . 1:1(0) ack 1 win 502
        +0    accept(3, ..., ...) = 4

        """;

    [Fact]
    public void Options_set_before_listen_are_those_of_the_accepted_socket()
    {
        Passes(Listen + """
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_KEEPIDLE, [30], 4) = 0
            +0    setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0
            +0    listen(3, 1) = 0

            """ + Accept + """
            +0    getsockopt(4, IPPROTO_TCP, TCP_CONGESTION, "reno", [4]) = 0
            +0    getsockopt(4, IPPROTO_TCP, TCP_NODELAY, [1], [4]) = 0
            +0    getsockopt(4, IPPROTO_TCP, TCP_KEEPIDLE, [30], [4]) = 0
            +0    getsockopt(4, SOL_SOCKET, SO_KEEPALIVE, [1], [4]) = 0
            """);
    }

    [Fact]
    public void Options_set_on_a_listener_after_listen_apply_to_what_it_accepts_next()
    {
        Passes(Listen + """
            +0    listen(3, 1) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_KEEPCNT, [4], 4) = 0

            """ + Accept + """
            +0    getsockopt(4, IPPROTO_TCP, TCP_CONGESTION, "reno", [4]) = 0
            +0    getsockopt(4, IPPROTO_TCP, TCP_KEEPCNT, [4], [4]) = 0
            """);
    }

    [Fact]
    public void Values_out_of_linuxs_range_are_einval_and_unknown_algorithms_enoent()
    {
        Passes(Listen + """
            +0    setsockopt(3, IPPROTO_TCP, TCP_KEEPIDLE, [0], 4) = -1 EINVAL (Invalid argument)
            +0    setsockopt(3, IPPROTO_TCP, TCP_KEEPINTVL, [32768], 4) = -1 EINVAL (Invalid argument)
            +0    setsockopt(3, IPPROTO_TCP, TCP_KEEPCNT, [128], 4) = -1 EINVAL (Invalid argument)
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "vegas", 5) = -1 ENOENT (No such file or directory)
            +0    getsockopt(3, IPPROTO_TCP, TCP_KEEPIDLE, [7200], [4]) = 0
            +0    getsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "cubic", [5]) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "bbr", 3) = 0
            +0    getsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "bbr", [3]) = 0
            """);
    }

    [Fact]
    public void A_wrong_algorithm_read_back_fails_naming_both()
    {
        ScriptResult result = Run(Listen + """
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) = 0
            +0    getsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "cubic", [5]) = 0
            +0    setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "bbr", 3) = 0
            +0    getsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "bbr", [3]) = 0
            """);
        Assert.False(result.Passed);
        Assert.Equal(4, result.Failure!.Line);
        Assert.Contains("gave \"reno\", the script expects \"cubic\"", result.Failure.Message, StringComparison.Ordinal);
    }
}
