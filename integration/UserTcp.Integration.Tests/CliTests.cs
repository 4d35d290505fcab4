using System.Text.Json;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>Runs the built `usertcp` executable the way a person would.</summary>
public sealed partial class CliTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void The_command_runs_with_thread_pool_workers_that_sleep_instead_of_spinning()
    {
        // docs/design.md "Runtime": spinning idle workers took the CPU from the stack on a shared vCPU.
        string config = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "usertcp.runtimeconfig.json"));
        using var json = JsonDocument.Parse(config);
        JsonElement properties = json.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.Equal(0, properties.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit").GetInt32());
    }

    [RequiresNetAdminFact]
    public void Doctor_passes_as_root_and_leaves_no_namespace_behind()
    {
        NetAdminEnvironment.Require();
        using PeerProgram doctor = PeerProgram.Run(CommandTimeout, Usertcp, "doctor");

        Assert.True(doctor.ExitCode == 0, doctor.Transcript);
        Assert.Contains(doctor.OutputLines, line => line.StartsWith("ok    tun in netns", StringComparison.Ordinal));
        Assert.DoesNotContain(doctor.OutputLines, line => line.StartsWith("FAIL", StringComparison.Ordinal));
        using PeerProgram namespaces = PeerProgram.Run(CommandTimeout, "ip", "netns", "list");
        Assert.DoesNotContain(namespaces.OutputLines, line => line.StartsWith($"usertcp-doctor-{doctor.Id}", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("ping", "curl")]
    public void Ss_stats_prints_the_counters_of_a_running_serve_named_like_nstats()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "http", "--log-level", "warning");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), CommandTimeout), serve.Transcript);
        PeerProgram ping = ns.Run(CommandTimeout, "ping", "-c", "2", "-i", "0.2", "-W", "2", Addresses.Stack);
        Assert.True(ping.ExitCode == 0, ping.Transcript);
        PeerProgram curl = ns.Run(CommandTimeout, "curl", "-sS", "--fail", "--noproxy", "*", "-o", "/dev/null", $"http://{Addresses.Stack}/bytes/1000");
        Assert.True(curl.ExitCode == 0, curl.Transcript);

        PeerProgram stats = ns.Run(CommandTimeout, Usertcp, "ss", "--stats");
        Assert.True(stats.ExitCode == 0, stats.Transcript);
        Assert.Equal("#UserTcp", stats.OutputLines[0]);
        long Counter(PeerProgram p, string name) => long.Parse(Assert.Single(p.OutputLines, l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(2, Counter(stats, "IcmpInEchos"));
        Assert.Equal(2, Counter(stats, "IcmpOutEchoReps"));
        Assert.Equal(1, Counter(stats, "TcpPassiveOpens"));
        Assert.DoesNotContain(stats.OutputLines, l => l.StartsWith("TcpExtTCPChallengeACK ", StringComparison.Ordinal)); // zero: left out, as nstat
        PeerProgram zeros = ns.Run(CommandTimeout, Usertcp, "ss", "--stats", "--zeros");
        Assert.Equal(0, Counter(zeros, "TcpExtTCPChallengeACK"));
        Assert.Equal(0, Counter(zeros, "UserTcpMalformedBadTcpChecksum"));
        PeerProgram mistake = ns.Run(CommandTimeout, Usertcp, "ss", "--zeros");
        Assert.Equal(2, mistake.ExitCode);
        Assert.True(serve.Terminate(CommandTimeout), serve.Transcript);
    }

    [RequiresNetAdminFact("nc")]
    public void Past_max_time_wait_connections_skip_time_wait_and_ss_stats_counts_each()
    {
        // Daytime closes first, so each kernel client leaves UserTcp a TIME-WAIT; two records fit, the other three overflow.
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "daytime", "--max-time-wait", "2", "--time-wait", "120", "--log-level", "warning");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), CommandTimeout), serve.Transcript);
        const int Clients = 5;
        for (int i = 0; i < Clients; i++)
        {
            PeerProgram nc = ns.Run(CommandTimeout, "nc", "-w", "5", Addresses.Stack, "13");
            Assert.True(nc.ExitCode == 0 && nc.OutputLines.Count == 1, nc.Transcript);
        }

        long Counter(PeerProgram p, string name) => long.Parse(Assert.Single(p.OutputLines, l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        PeerProgram stats = ns.Run(CommandTimeout, Usertcp, "ss", "--stats", "--zeros");
        // Each client has exited after its FIN; UserTcp's last ACK to it may still be on its way (bounded: 10 s).
        for (long deadline = Environment.TickCount64 + 10_000; Counter(stats, "TcpPassiveOpens") < Clients
            || Counter(stats, "TcpExtTCPTimeWaitOverflow") + CountTimeWaits(ns) < Clients;)
        {
            Assert.True(Environment.TickCount64 < deadline, stats.Transcript);
            Thread.Sleep(100);
            stats = ns.Run(CommandTimeout, Usertcp, "ss", "--stats", "--zeros");
        }
        Assert.Equal(Clients - 2, Counter(stats, "TcpExtTCPTimeWaitOverflow"));
        Assert.Equal(2, CountTimeWaits(ns));
        Assert.Equal(0, Counter(stats, "TcpExtTW"));
        Assert.Equal(0, Counter(stats, "UserTcpProcessingErrors")); // the runtime's: packets whose processing threw
        Assert.Equal(0, Counter(stats, "UserTcpTunWritesDropped")); // the device's: writes the kernel refused
        Assert.DoesNotContain(stats.OutputLines, l => l.StartsWith("UserTcpFault", StringComparison.Ordinal)); // no --fault, no injector
        PeerProgram json = ns.Run(CommandTimeout, Usertcp, "ss", "--stats", "--json");
        Assert.Contains($"\"TcpExtTCPTimeWaitOverflow\":{Clients - 2}", json.OutputLines[0], StringComparison.Ordinal);
        PeerProgram nonZero = ns.Run(CommandTimeout, Usertcp, "ss", "--stats");
        Assert.DoesNotContain(nonZero.OutputLines, l => l.StartsWith("TcpExtTW ", StringComparison.Ordinal)); // zero: left out
        Assert.True(serve.Terminate(CommandTimeout), serve.Transcript);
    }

    [RequiresNetAdminFact("python3")]
    public void Connect_into_a_closed_pipe_stops_instead_of_reading_for_ever()
    {
        // `usertcp connect HOST PORT | head -1` against a peer that never stops sending: once head has gone, writing to
        // stdout fails (EPIPE); connect must stop as nc does, not go on reading into the void.
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram sender = ns.Start("python3", "-c",
            "import socket\n"
            + "s = socket.create_server(('0.0.0.0', 5019)); print('listening', flush=True)\n"
            + "c, _ = s.accept()\n"
            + "try:\n    while True: c.sendall(b'x' * 72 + b'\\r\\n')\nexcept OSError: pass\n");
        Assert.True(sender.WaitForOutputLine(l => l == "listening", CommandTimeout), sender.Transcript);

        PeerProgram pipeline = ns.Run(CommandTimeout, "bash", "-c",
            $"timeout 20 {Usertcp} connect {Addresses.KernelAddress} 5019 --log-level error </dev/null | head -c 100 >/dev/null; echo \"${{PIPESTATUS[0]}}\"");

        Assert.True(pipeline.OutputLines is ["0"], pipeline.Transcript); // 124: still reading when timeout ended it
        Assert.Empty(pipeline.ErrorLines);
        sender.Kill();
    }

    [RequiresNetAdminFact]
    public void Serve_txqueuelen_sets_the_tun_interfaces_queue_and_a_bad_one_is_one_line()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "echo", "--txqueuelen", "4321", "--log-level", "warning");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), CommandTimeout), serve.Transcript);
        PeerProgram link = ns.Run(CommandTimeout, "ip", "-j", "link", "show", Addresses.Interface);
        Assert.True(link.ExitCode == 0, link.Transcript);
        Assert.Contains("\"txqlen\":4321", link.OutputText, StringComparison.Ordinal);
        Assert.True(serve.Terminate(CommandTimeout), serve.Transcript);

        using PeerProgram mistake = PeerProgram.Run(CommandTimeout, Usertcp, "serve", "--txqueuelen", "0");
        Assert.Equal(2, mistake.ExitCode);
        Assert.Contains("--txqueuelen", Assert.Single(mistake.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public void A_congestion_control_usertcp_lacks_is_one_line_and_exit_2()
    {
        using PeerProgram mistake = PeerProgram.Run(CommandTimeout, Usertcp, "serve", "--cc", "vegas");
        Assert.Equal(2, mistake.ExitCode);
        Assert.Contains("--cc 'vegas'", Assert.Single(mistake.ErrorLines), StringComparison.Ordinal);
    }

    [RequiresNetAdminTheory("python3")]
    [InlineData("rfc6298")]
    [InlineData("linux")]
    public void Serve_rto_formula_sets_the_rto_of_the_connections_it_accepts(string formula)
    {
        // After the handshake's one sample R (under 66 ms): RFC 6298 gives max(3R, 200 ms) = 200 ms, exactly; Linux's
        // R + max(2R, 200 ms) = 200 ms and R more. `ss --json` reports the RTO to the microsecond. The first connection
        // of a fresh serve waits on the runtime compiling its path (R of 24 to 88 ms seen), so the second one is read.
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "echo", "--rto-formula", formula, "--log-level", "warning");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), CommandTimeout), serve.Transcript);
        PeerProgram client = ns.Start("python3", "-c",
            "import socket, sys, time\n"
            + "first = socket.create_connection((sys.argv[1], 7)); time.sleep(0.2)\n"
            + "second = socket.create_connection((sys.argv[1], 7)); print(second.getsockname()[1], flush=True); time.sleep(30)",
            Addresses.Stack);
        Assert.True(client.WaitForOutputLine(l => l.Length > 0, CommandTimeout), client.Transcript);
        string remote = $"{Addresses.KernelAddress}:{client.OutputLines[0]}";

        PeerProgram ss = ns.Run(CommandTimeout, Usertcp, "ss", "--json");
        using var json = JsonDocument.Parse(ss.OutputText);
        JsonElement accepted = Assert.Single(json.RootElement.GetProperty("connections").EnumerateArray(),
            c => c.GetProperty("remote").GetString() == remote);
        double rtoMs = accepted.GetProperty("rtoMs").GetDouble();
        if (formula == "rfc6298") Assert.True(rtoMs == 200, ss.Transcript);
        else Assert.True(rtoMs > 200 && rtoMs < 266, ss.Transcript);
        client.Kill();
        Assert.True(serve.Terminate(CommandTimeout), serve.Transcript);
    }

    [RequiresNetAdminFact]
    public void Lab_run_with_linux_rules_runs_usertcp_on_them_and_says_so()
    {
        NetAdminEnvironment.Require();
        string report = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-linux-rules-{Environment.ProcessId}");
        using PeerProgram lab = PeerProgram.Start(Usertcp, "lab", "run", "close-unread-rst", "--role", "active", "--linux-rules", "--report", report);
        LeftBehind.Record(lab.Id);
        try
        {
            Assert.True(lab.WaitForExit(CommandTimeout), lab.Transcript);
            Assert.True(lab.ExitCode == 0, lab.Transcript);
            // The settings line reads the TcpConfig the run's stack had; the report's index and page say it too.
            Assert.Contains(lab.OutputLines, l => l.StartsWith("  UserTcp: Linux rules (every switch: TcpConfig.WithLinuxRules), ", StringComparison.Ordinal)
                && l.Contains("RTO formula linux, CUBIC arithmetic linux, RACK rules linux,", StringComparison.Ordinal));
            Assert.Contains("UserTcp ran every Linux rule (--linux-rules).", File.ReadAllText(Path.Combine(report, "index.html")), StringComparison.Ordinal);
            Assert.Contains("UserTcp: Linux rules (every switch: TcpConfig.WithLinuxRules), ", File.ReadAllText(Path.Combine(report, "close-unread-rst.html")), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(report)) Directory.Delete(report, recursive: true);
        }
    }

    [RequiresNetAdminFact]
    public void Lab_run_with_rto_formula_linux_runs_usertcp_on_it_and_says_so()
    {
        NetAdminEnvironment.Require();
        string report = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-rto-{Environment.ProcessId}");
        using PeerProgram lab = PeerProgram.Start(Usertcp, "lab", "run", "rto-backoff", "--role", "active", "--rto-formula", "linux", "--report", report);
        LeftBehind.Record(lab.Id);
        try
        {
            Assert.True(lab.WaitForExit(CommandTimeout), lab.Transcript);
            Assert.True(lab.ExitCode == 0, lab.Transcript);
            // The settings line reads the TcpConfig the run's stack had; the report's index says it for every run.
            Assert.Contains(lab.OutputLines, l => l.StartsWith("  UserTcp: ", StringComparison.Ordinal) && l.Contains("RTO formula linux,", StringComparison.Ordinal));
            Assert.Contains("SRTT + 200 ms, Linux's formula", Regex.Replace(lab.OutputText, @"\s+", " "), StringComparison.Ordinal); // the observation, wrapped
            Assert.Contains("UserTcp's RTO formula: linux.", File.ReadAllText(Path.Combine(report, "index.html")), StringComparison.Ordinal);
            Assert.Contains("RTO formula linux,", File.ReadAllText(Path.Combine(report, "rto-backoff.html")), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(report)) Directory.Delete(report, recursive: true);
        }
    }

    private static int CountTimeWaits(NetNamespace ns) =>
        ns.Run(CommandTimeout, Usertcp, "ss").OutputLines.Count(l => l.StartsWith("TIME-WAIT", StringComparison.Ordinal));

    [RequiresNetAdminFact]
    public void Capture_prints_the_kernels_syn_in_tcpdump_style()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram capture = ns.Start(Usertcp, "capture", "--iface", Addresses.Interface, "--address", Addresses.KernelCidr,
            "--mtu", "1500", "--count", "1", "--timeout", "10");
        Assert.True(capture.WaitForErrorLine(line => line.StartsWith("listening on utcp0", StringComparison.Ordinal), CommandTimeout),
            capture.Transcript);

        ns.Start(Addresses.KernelConnect);

        Assert.True(capture.WaitForExit(CommandTimeout), capture.Transcript);
        Assert.True(capture.ExitCode == 0, capture.Transcript);
        string line = Assert.Single(capture.OutputLines);
        Assert.Matches(SynLine(), line);
    }

    [RequiresNetAdminFact]
    public void Capture_on_a_name_in_use_exits_1_with_one_line()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options());

        PeerProgram capture = ns.Run(CommandTimeout, Usertcp, "capture", "--iface", Addresses.Interface, "--count", "1", "--timeout", "1");

        Assert.Equal(1, capture.ExitCode);
        Assert.Equal(["usertcp: interface utcp0 already in use: pick another --iface name"], capture.ErrorLines);
    }

    [Fact]
    public void A_bad_address_exits_2_with_one_line_saying_how_to_write_it()
    {
        using PeerProgram capture = PeerProgram.Run(CommandTimeout, Usertcp, "capture", "--address", "10.1/24");

        Assert.Equal(2, capture.ExitCode);
        string line = Assert.Single(capture.ErrorLines);
        Assert.Contains("write it as a.b.c.d/n", line, StringComparison.Ordinal);
        Assert.Empty(capture.OutputLines);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        using PeerProgram help = PeerProgram.Run(CommandTimeout, Usertcp, "--help");

        Assert.Equal(0, help.ExitCode);
        Assert.Contains(help.OutputLines, line => line.TrimStart().StartsWith("doctor", StringComparison.Ordinal));
        Assert.Contains(help.OutputLines, line => line.TrimStart().StartsWith("capture", StringComparison.Ordinal));
        Assert.Contains(help.OutputLines, line => line.TrimStart().StartsWith("demo", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^\d\d:\d\d:\d\d\.\d{6} IP 10\.77\.0\.1\.\d+ > 10\.77\.0\.2\.80: Flags \[S\], seq \d+, win \d+, options \[mss 1460,sackOK,TS val \d+ ecr 0,nop,wscale \d+\], length 0$")]
    private static partial Regex SynLine();
}
