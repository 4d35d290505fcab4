using UserTcp.Engine;

namespace UserTcp.Script.Tests;

/// <summary>
/// Back-quoted set-up blocks and --options as upstream scripts write them: read into typed commands, mapped onto
/// UserTcp's configuration where an equivalent exists, "not applied" (once, under --relaxed) or an error otherwise.
/// </summary>
public sealed class SetupTests : IDisposable
{
    private readonly string _tree = Path.Combine(Path.GetTempPath(), $"usertcp-setup-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public SetupTests() => Directory.CreateDirectory(Path.Combine(_tree, "common"));

    public void Dispose() => Directory.Delete(_tree, recursive: true);

    private const string SynRetries = """
        `sysctl -q net.ipv4.tcp_syn_retries=2`
        0          socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        0...7      connect(3, ..., ...) = -1 ETIMEDOUT (Connection timed out)
        0          > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 3>
        1          > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1000 ecr 0,nop,wscale 3>
        3          > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 3000 ecr 0,nop,wscale 3>
        """;

    private static ScriptResult Run(string text, bool relaxed = false, string? directory = null) =>
        ScriptRunner.RunText(text, "test.pkt", new ScriptRunOptions { Relaxed = relaxed, SetupDirectory = directory });

    private static void Passes(ScriptResult result) => Assert.True(result.Passed, result.ToString());

    // ───────────── the shell reader ─────────────

    [Fact]
    public void A_multi_line_block_reads_into_typed_commands()
    {
        IReadOnlyList<ShellCommand> commands = ShellReader.Read("""
            ../../common/defaults.sh
            tc qdisc replace dev tun0 root fq
            sysctl -q net.ipv4.tcp_congestion_control=cubic net/ipv4/tcp_min_tso_segs=4
            # Disable TLP to avoid flakes from spurious retransmits:
            sysctl -q net.ipv4.tcp_rmem="4096 540000 $((15*1024*1024))" > /dev/null 2>&1
            ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \
                /proc/sys/net/ipv4/tcp_sack=0
            echo 0 > /sys/module/tcp_cubic/parameters/hystart_detect; ip tcp_metrics flush all &> /dev/null
            ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11
            ethtool -K tun0 gso off tso off
            nstat | grep TcpExtOutOfWindowIcmps > /dev/null
            /tmp/sysctl_restore_${PPID}.sh
            """);
        Assert.Collection(commands,
            c => Assert.Equal(new RunFileCommand("../../common/defaults.sh", "../../common/defaults.sh"), c),
            c => Assert.Equal(new QdiscCommand("tc qdisc replace dev tun0 root fq", "replace", "fq", null), c),
            c => Assert.Equal<SysctlAssignment>(
                [new("net.ipv4.tcp_congestion_control", "cubic"), new("net.ipv4.tcp_min_tso_segs", "4")],
                Assert.IsType<SysctlCommand>(c).Settings),
            c => Assert.Equal<SysctlAssignment>([new("net.ipv4.tcp_rmem", "4096 540000 15728640")], Assert.IsType<SysctlCommand>(c).Settings),
            c =>
            {
                var set = Assert.IsType<SysctlCommand>(c);
                Assert.True(set.SavesForRestore);
                Assert.Equal<SysctlAssignment>([new("net.ipv4.tcp_timestamps", "0"), new("net.ipv4.tcp_sack", "0")], set.Settings);
            },
            c => Assert.Equal(new ModuleParameterCommand("echo 0 > /sys/module/tcp_cubic/parameters/hystart_detect", "tcp_cubic", "hystart_detect", "0"), c),
            c => Assert.IsType<FlushMetricsCommand>(c),
            c =>
            {
                var route = Assert.IsType<RouteCommand>(c);
                Assert.Equal("192.0.2.1", route.Destination);
                Assert.Equal<RouteMetric>([new("advmss", "600", false), new("mtu", "640", true), new("initcwnd", "11", false)], route.Metrics);
            },
            c => Assert.Equal<(string, bool)>([("gso", false), ("tso", false)], Assert.IsType<OffloadCommand>(c).Features),
            c => Assert.Equal(new OtherCommand("nstat | grep TcpExtOutOfWindowIcmps > /dev/null"), c),
            c => Assert.IsType<RestoreSysctlsCommand>(c));
    }

    [Fact]
    public void Echo_into_proc_sys_is_a_sysctl_write()
    {
        var command = Assert.IsType<SysctlCommand>(Assert.Single(ShellReader.Read("echo 1 > /proc/sys/net/ipv4/tcp_rfc1337")));
        Assert.Equal<SysctlAssignment>([new("net.ipv4.tcp_rfc1337", "1")], command.Settings);
        Assert.False(command.SavesForRestore);
    }

    [Fact]
    public void A_back_quoted_block_may_span_lines_and_line_numbers_count_through_it()
    {
        PacketScript script = ScriptParser.Parse("`a\nb\\\nc`\n0 close(3) = 0\n+0 `d`");
        Assert.Equal(["a\nb\\\nc", "d"], script.Events.OfType<CommandEvent>().Select(c => c.Command));
        Assert.Equal([1, 4, 5], script.Events.Select(e => e.Line));
    }

    [Fact]
    public void An_unclosed_back_quote_names_the_line_it_opens_on()
    {
        ScriptParseException error = Assert.Throws<ScriptParseException>(() => ScriptParser.Parse("0 close(3) = 0\n+0 `sysctl -q\nnet.ipv4.tcp_sack=0\n"));
        Assert.Equal(2, error.Line);
        Assert.Contains("never closed", error.Message, StringComparison.Ordinal);
    }

    // ───────────── what the settings do ─────────────

    [Fact]
    public void A_sysctl_with_an_equivalent_changes_the_engine()
    {
        // tcp_syn_retries=2: two retransmissions (1 s, 3 s) and ETIMEDOUT at 7 s instead of six and 127 s.
        Passes(Run(SynRetries));
        Assert.False(Run(SynRetries.Replace("tcp_syn_retries=2", "tcp_syn_retries=3", StringComparison.Ordinal)).Passed);
    }

    [Fact]
    public void Tcp_rmem_and_tcp_wmem_defaults_size_the_buffers_as_getsockopt_reports_them()
    {
        // The default (middle) value is what getsockopt reports; the engine's receive buffer holds half of it, as after
        // setsockopt, 10000 bytes, so the SYN offers 8760 (rounded down to six MSS, as Linux's tcp_select_initial_window)
        // with no scaling (auto-tuning is off in the script world, so the max, where it would stop, does not count).
        Passes(Run("""
            `sysctl -q net.ipv4.tcp_rmem="4096 20000 6291456"
             sysctl -q net.ipv4.tcp_wmem="4096 $((16*1024)) 4194304"`
            0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0  getsockopt(3, SOL_SOCKET, SO_RCVBUF, [20000], [4]) = 0
            +0  getsockopt(3, SOL_SOCKET, SO_SNDBUF, [16384], [4]) = 0
            +0  fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0  connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
            +0  > S 0:0(0) win 8760 <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 0>
            """));
    }

    [Fact]
    public void A_timed_block_applies_to_sockets_made_after_it()
    {
        Passes(Run("""
            0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0  getsockopt(3, SOL_SOCKET, SO_SNDBUF, [262144], [4]) = 0
            +1  `sysctl -q net.ipv4.tcp_wmem="4096 100000 4194304"`
            +0  socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
            +0  getsockopt(4, SOL_SOCKET, SO_SNDBUF, [100000], [4]) = 0
            """));
    }

    [Fact]
    public void Route_metrics_towards_the_peer_bound_the_mss_and_set_the_initial_window()
    {
        // cwnd 2: TSO packets of one segment (at most half of cwnd), so neither carries PSH (the write does not end there).
        Passes(Run("""
            `ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 2`
            0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0   fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
            +0   connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
            +0   > S 0:0(0) win 65535 <mss 600,sackOK,TS val 0 ecr 0,nop,wscale 3>
            +.1  < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 0>
            +0   > . 1:1(0) ack 1 win 32768
            +0   write(3, ..., 3000) = 3000
            +0   > . 1:601(600) ack 1 win 32768
            +0   > . 601:1201(600) ack 1 win 32768
            """));
    }

    [Fact]
    public void The_mss_follows_the_mtu_option_unless_mss_is_given()
    {
        const string Syn = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
            + "+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n+0 > S 0:0(0) <mss MSS,sackOK,TS val 0 ecr 0,nop,wscale 3>\n";
        Passes(Run("--mtu=1200\n" + Syn.Replace("MSS", "1160", StringComparison.Ordinal), relaxed: true));
        Passes(Run("--mtu=1200\n--mss=1000\n" + Syn.Replace("MSS", "1000", StringComparison.Ordinal), relaxed: true));
    }

    [Fact]
    public void Defaults_sh_is_read_from_the_script_directory_and_what_has_no_equivalent_is_reported_once()
    {
        File.WriteAllText(Path.Combine(_tree, "common", "defaults.sh"), """
            #!/bin/bash
            ip tcp_metrics flush all > /dev/null 2>&1
            sysctl -q net.ipv4.tcp_syn_retries=2
            sysctl -q net.ipv4.tcp_autocorking=1
            sysctl -q net.ipv4.tcp_fack=0
            tc qdisc add dev tun0 root pfifo
            """);
        Directory.CreateDirectory(Path.Combine(_tree, "area"));
        string script = Path.Combine(_tree, "area", "test.pkt");
        File.WriteAllText(script, "`../common/defaults.sh`\n" + SynRetries.Replace("`sysctl -q net.ipv4.tcp_syn_retries=2`", "+0 `sysctl -q net.ipv4.tcp_autocorking=1`", StringComparison.Ordinal));

        ScriptResult relaxed = ScriptRunner.RunFile(script, new ScriptRunOptions { Relaxed = true });
        Passes(relaxed);
        Assert.Equal(["line 1: ../common/defaults.sh: net.ipv4.tcp_autocorking=1: not applied (UserTcp does not cork small writes)"], relaxed.Notices);

        ScriptResult strict = ScriptRunner.RunFile(script);
        Assert.Equal(new ScriptFailure(1, "../common/defaults.sh: `net.ipv4.tcp_autocorking=1` has no equivalent in UserTcp (UserTcp does not cork small writes); "
            + "run with --relaxed to go on without it"), strict.Failure);
    }

    [Fact]
    public void A_pfifo_of_no_room_makes_the_device_refuse_until_it_is_deleted_or_replaced()
    {
        var setup = new ScriptSetup(null, new UserTcp.Wire.Ipv4Address(192, 0, 2, 1), relaxed: false, _ => { }, trace: null);
        var config = new UserTcp.Engine.TcpConfig();
        Assert.False(setup.LocalQueueRefuses);
        setup.Run(1, "tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0", config, connectionsExist: false);
        Assert.True(setup.LocalQueueRefuses); // applied, not refused as "no equivalent" (strict mode would throw)
        setup.Run(2, "tc qdisc delete dev tun0 root", config, connectionsExist: true);
        Assert.False(setup.LocalQueueRefuses);
        setup.Run(3, "tc qdisc replace dev tun0 root pfifo limit 0", config, connectionsExist: true);
        Assert.True(setup.LocalQueueRefuses);
        setup.Run(4, "tc qdisc replace dev tun0 root pfifo limit 1000", config, connectionsExist: true);
        Assert.False(setup.LocalQueueRefuses);
        setup.Run(5, "tc qdisc add dev tun0 root bfifo limit 0", config, connectionsExist: true);
        Assert.True(setup.LocalQueueRefuses);
    }

    [Fact]
    public void Segments_the_refusing_queue_drops_never_reach_the_script()
    {
        // The write's segment is refused: an outbound line for it fails, no line for it passes, and once the queue is
        // deleted the probe timer sends it.
        const string Head = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n"
            + "+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n+.1 < . 1:1(0) ack 1 win 65535\n"
            + "+0 accept(3, ..., ...) = 4\n+0 `tc qdisc add dev tun0 root pfifo limit 0`\n+0 write(4, ..., 100) = 100\n";
        Assert.False(Run(Head + "+0 > P. 1:101(100) ack 1\n", relaxed: true).Passed);
        Passes(Run(Head + "+.1 %{ assert tcpi_unacked == 0 }%\n+0 `tc qdisc delete dev tun0 root`\n+.1~+.3 > P. 1:101(100) ack 1\n", relaxed: true));
    }

    [Fact]
    public void A_missing_shell_file_or_an_unknown_command_is_not_applied()
    {
        ScriptResult result = Run("`../common/defaults.sh\nnstat > /dev/null`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", relaxed: true, directory: _tree);
        Passes(result);
        Assert.Equal(2, result.Notices.Count);
        Assert.StartsWith("line 1: ../common/defaults.sh: not applied (no file at ", result.Notices[0], StringComparison.Ordinal);
        Assert.Equal("line 1: nstat > /dev/null: not applied (no equivalent in UserTcp)", result.Notices[1]);

        ScriptFailure failure = Run("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 `nstat`\n").Failure!;
        Assert.Equal(new ScriptFailure(2, "`nstat` has no equivalent in UserTcp (no equivalent in UserTcp); run with --relaxed to go on without it"), failure);
    }

    [Fact]
    public void A_shell_file_that_is_a_dangling_link_is_not_applied_and_does_not_crash_the_run()
    {
        // Upstream's common/ files are often links; one whose target is gone exists for File.Exists but cannot be read.
        string dir = Directory.CreateTempSubdirectory("usertcp-dangling-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "common"));
            Directory.CreateDirectory(Path.Combine(dir, "tests"));
            File.CreateSymbolicLink(Path.Combine(dir, "common", "defaults.sh"), Path.Combine(dir, "gone", "defaults.sh"));
            ScriptResult result = Run("`../common/defaults.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", relaxed: true, directory: Path.Combine(dir, "tests"));
            Passes(result);
            Assert.StartsWith("line 1: ../common/defaults.sh: not applied (cannot read ", Assert.Single(result.Notices), StringComparison.Ordinal);
            ScriptFailure failure = Run("`../common/defaults.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", directory: Path.Combine(dir, "tests")).Failure!;
            Assert.Equal(1, failure.Line);
            Assert.Contains("cannot read", failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Values_that_describe_what_UserTcp_does_are_already_so()
    {
        Passes(Run("`sysctl -q net.ipv4.tcp_sack=0 net.ipv4.tcp_timestamps=0 net.ipv4.tcp_fack=0 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_ecn=0 "
            + "net.ipv4.tcp_ecn_option=2 net.ipv4.tcp_congestion_control=reno net.ipv4.tcp_notsent_lowat=4294967295`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"));
        Assert.False(Run("`sysctl -q net.ipv4.tcp_ecn=3 net.ipv4.tcp_ecn_option=2`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").Passed);
    }

    private static (UserTcp.Engine.TcpConfig Config, List<string> Notices) Setup(string block, bool relaxed = true)
    {
        var notices = new List<string>();
        var setup = new ScriptSetup(null, new UserTcp.Wire.Ipv4Address(192, 0, 2, 1), relaxed, notices.Add, trace: null);
        return (setup.Run(1, block, new UserTcp.Engine.TcpConfig(), connectionsExist: false), notices);
    }

    [Theory]
    [InlineData("sysctl -q net.ipv4.tcp_early_retrans=4 net.ipv4.tcp_recovery=1", true, true)]
    [InlineData("sysctl -q net.ipv4.tcp_recovery=0 net.ipv4.tcp_early_retrans=0", false, false)]
    [InlineData("sysctl -q net.ipv4.tcp_early_retrans=0", true, false)]
    [InlineData("sysctl -q net.ipv4.tcp_recovery=0\nsysctl -q net.ipv4.tcp_early_retrans=3", false, true)]
    public void Rack_and_the_tail_loss_probe_are_each_their_own_switch(string block, bool rack, bool tailLossProbe)
    {
        (UserTcp.Engine.TcpConfig config, List<string> notices) = Setup(block, relaxed: false);
        Assert.Equal((rack, tailLossProbe), (config.Rack, config.TailLossProbe));
        Assert.Empty(notices);
    }

    [Fact]
    public void Tcp_timestamps_two_means_no_random_offset()
    {
        Assert.False(Setup("sysctl -q net.ipv4.tcp_timestamps=0").Config.Timestamps);
        UserTcp.Engine.TcpConfig one = Setup("sysctl -q net.ipv4.tcp_timestamps=1").Config;
        Assert.True(one.Timestamps);
        Assert.Null(one.TimestampOffset);
        UserTcp.Engine.TcpConfig two = Setup("sysctl -q net.ipv4.tcp_timestamps=2").Config;
        Assert.True(two.Timestamps);
        Assert.Equal(0u, two.TimestampOffset!(default));
    }

    [Fact]
    public void The_restore_script_puts_back_what_set_sysctls_changed()
    {
        Passes(Run("""
            0   `../common/set_sysctls.py /proc/sys/net/ipv4/tcp_wmem="4096 100000 4194304"`
            +0  socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0  getsockopt(3, SOL_SOCKET, SO_SNDBUF, [100000], [4]) = 0
            +0  `/tmp/sysctl_restore_${PPID}.sh`
            +0  socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
            +0  getsockopt(4, SOL_SOCKET, SO_SNDBUF, [262144], [4]) = 0
            """));
    }

    [Fact]
    public void A_bad_value_is_not_applied_and_says_what_was_expected()
    {
        ScriptFailure failure = Run("`sysctl -q net.ipv4.tcp_syn_retries=lots`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").Failure!;
        Assert.Contains("net.ipv4.tcp_syn_retries=lots` has no equivalent in UserTcp (expected a number from 1 to 127)", failure.Message, StringComparison.Ordinal);
    }

    // ───────────── options ─────────────

    [Fact]
    public void Packetdrill_options_that_change_tcp_behaviour_are_read_into_settings()
    {
        ScriptSettings settings = ScriptOptionTable.Read(
            ScriptParser.Parse("--tcp_ts_tick_usecs=1000\n--tcp_ts_ecr_scaled\n--strict_segments\n--mss=1000\n--tolerance_usecs=7000\n0 close(3) = 0").Options,
            relaxed: false, _ => { });
        Assert.Equal((1000, true, true, (ushort)1000, 7000L), (settings.TimestampTickMicros, settings.TimestampEcrScaled, settings.StrictSegments, settings.Mss, settings.ToleranceMicros));
    }

    /// <summary>
    /// Two 100 ms samples, then a lost segment: Linux's formula (under --relaxed, or --rto_formula=linux) resends it
    /// 300 ms later, SRTT + the 200 ms minimum; RFC 6298's (plain runs) 250 ms later, SRTT + 4 RTTVAR.
    /// </summary>
    private const string RtoScript = """
        `sysctl -q net.ipv4.tcp_early_retrans=0`
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    bind(3, ..., ...) = 0
        +0    listen(3, 1) = 0
        +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
        +0    > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
        +.1   < . 1:1(0) ack 1 win 502
        +0    accept(3, ..., ...) = 4
        +0    write(4, ..., 100) = 100
        +0    > P. 1:101(100) ack 1
        +.1   < . 1:1(0) ack 101 win 502
        +0    write(4, ..., 100) = 100
        +0    > P. 101:201(100) ack 1

        """;

    [Fact]
    public void Relaxed_runs_use_linux_rto_formula_and_plain_runs_rfc6298()
    {
        const string Linux = RtoScript + "+.3   > P. 101:201(100) ack 1\n";
        const string Rfc = RtoScript + "+.25  > P. 101:201(100) ack 1\n";
        Passes(Run(Linux, relaxed: true));
        Passes(Run(Rfc));
        Passes(Run("--rto_formula=linux\n" + Linux));
        Passes(Run("--rto_formula=rfc6298\n" + Rfc, relaxed: true));
        Assert.NotNull(Run(Rfc, relaxed: true).Failure); // Linux's formula does not resend at RFC 6298's instant
        Assert.NotNull(Run(Linux).Failure);
    }

    [Fact]
    public void Relaxed_runs_use_linux_rack_rules_and_plain_runs_rfc8985_unless_an_option_line_says()
    {
        static RackRules Rules(string options, bool relaxed) =>
            ScriptOptionTable.Read(ScriptParser.Parse(options + "0 close(3) = 0").Options, relaxed, _ => { }).RackRules;
        Assert.Equal(RackRules.Linux, Rules("", relaxed: true));
        Assert.Equal(RackRules.Rfc8985, Rules("", relaxed: false));
        Assert.Equal(RackRules.Linux, Rules("--rack_rules=linux\n", relaxed: false));
        Assert.Equal(RackRules.Rfc8985, Rules("--rack_rules=rfc8985\n", relaxed: true));
        ScriptFailureException bad = Assert.Throws<ScriptFailureException>(() => Rules("--rack_rules=bsd\n", relaxed: false));
        Assert.Contains("--rack_rules needs linux or rfc8985, not 'bsd'", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Strict_segments_keeps_relaxed_from_joining_a_burst_into_one_expected_segment()
    {
        const string Script = """
            0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
            +0    bind(3, ..., ...) = 0
            +0    listen(3, 1) = 0
            +0    < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
            +0    > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
            +.1   < . 1:1(0) ack 1 win 502
            +0    accept(3, ..., ...) = 4
            +0    write(4, ..., 2920) = 2920
            +0    > P. 1:2921(2920) ack 1
            """;
        Passes(Run(Script, relaxed: true));
        Assert.Contains("1460 payload bytes instead of 2920", Run("--strict_segments\n" + Script, relaxed: true).Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_for_packetdrills_own_machinery_are_not_applied_and_unknown_ones_fail()
    {
        ScriptResult relaxed = Run("--verbose\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", relaxed: true);
        Passes(relaxed);
        Assert.Equal(["line 1: --verbose: not applied (it concerns packetdrill's own machinery)"], relaxed.Notices);
        Assert.Contains("concerns packetdrill's own machinery", Run("--verbose\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").Failure!.Message, StringComparison.Ordinal);
        Assert.Contains("option --bogus is not supported", Run("--bogus\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", relaxed: true).Failure!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_sysctl_the_table_maps_is_in_the_documentation()
    {
        string docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "scripts.md"));
        Assert.All(LinuxSysctls.Names, name => Assert.Contains(name["net.ipv4.".Length..], docs, StringComparison.Ordinal));
    }

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "UserTcp.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("the repository root (UserTcp.sln) is not above the test binaries");
    }
}
