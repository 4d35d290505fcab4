using UserTcp.Lab;
using UserTcp.Link;

namespace UserTcp.Integration.Tests;

/// <summary>
/// `--fault` on the live path: `usertcp serve` with a rule, the kernel's nc as the client, and the pcapng capture read
/// back by tshark (Wireshark's engine), which must show every packet, the dropped one among them, with its comment.
/// </summary>
public sealed class LiveFaultTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [RequiresNetAdminFact("nc", "tshark")]
    public void Dropping_the_kernels_first_fin_makes_it_retransmit_and_tshark_shows_the_drop_marked()
    {
        using NetNamespace ns = NetNamespace.Create();
        string pcap = Path.Combine(Path.GetTempPath(), $"usertcp-fault-{Environment.ProcessId}.pcapng");
        try
        {
            PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "echo", "--time-wait", "0.5", "--log-level", "warning",
                "--fault", "drop from-kernel flags=FIN nth=1", "--fault-seed", "7", "--pcap", pcap);
            Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);

            PeerProgram nc = ns.Run(Timeout, "bash", "-c", $"printf 'hello' | nc -N -w 10 {Addresses.Stack} 7");
            Assert.True(nc.ExitCode == 0, nc.Transcript);
            Assert.Equal(["hello"], nc.OutputLines);

            Assert.True(serve.Terminate(Timeout), serve.Transcript); // a clean stop closes the capture
            Assert.Single(serve.ErrorLines, l => l.Contains("dropped by rule 'drop from-kernel flags=FIN nth=1': never reached UserTcp", StringComparison.Ordinal));

            // Every packet is in the capture; exactly one carries a fault's comment, the kernel's first FIN, and a second FIN
            // follows it. Other comments only say how late UserTcp read one of the kernel's packets.
            PeerProgram all = PeerProgram.Run(Timeout, "tshark", "-r", pcap, "-T", "fields", "-e", "ip.src", "-e", "tcp.flags.fin", "-e", "frame.comment");
            Assert.True(all.ExitCode == 0, all.Transcript);
            string[][] rows = [.. all.OutputLines.Select(l => l.Split('\t'))];
            Assert.True(rows.Length >= 8, all.Transcript);
            string[] marked = Assert.Single(rows, r => r[2].Contains(PcapNgWriter.CommentPrefix, StringComparison.Ordinal));
            Assert.All(rows.Where(r => r[2].Length > 0 && r != marked), r => Assert.Equal(("10.77.0.1", "UserTcp read it "), (r[0], r[2][.."UserTcp read it ".Length])));
            Assert.Equal(["10.77.0.1", "1"], marked[..2]);
            Assert.StartsWith("usertcp fault: dropped by rule 'drop from-kernel flags=FIN nth=1'", marked[2], StringComparison.Ordinal);
            Assert.Equal(2, rows.Count(r => r[0] == "10.77.0.1" && r[1] == "1"));
            PeerProgram filtered = PeerProgram.Run(Timeout, "tshark", "-r", pcap, "-Y", "frame.comment contains \"dropped\"");
            Assert.Single(filtered.OutputLines);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [RequiresNetAdminFact("nc", "tshark")]
    public void Marking_the_kernels_data_ce_shows_in_the_log_the_capture_and_the_counters_and_usertcp_echoes_it()
    {
        using NetNamespace ns = NetNamespace.Create();
        // The kernel asks for ECN in this namespace only; serve agrees by default (TcpConfig.Ecn Accept), so its data is ECT(0).
        Assert.Equal(0, ns.Run(Timeout, "sysctl", "-qw", "net.ipv4.tcp_ecn=1").ExitCode);
        string pcap = Path.Combine(Path.GetTempPath(), $"usertcp-mark-{Environment.ProcessId}.pcapng");
        try
        {
            PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "echo", "--time-wait", "0.5", "--log-level", "warning",
                "--fault", "mark from-kernel data nth=1", "--pcap", pcap);
            Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);

            PeerProgram nc = ns.Run(Timeout, "bash", "-c", $"printf 'hello' | nc -N -w 10 {Addresses.Stack} 7");
            Assert.True(nc.ExitCode == 0, nc.Transcript);
            Assert.Equal(["hello"], nc.OutputLines);
            PeerProgram stats = ns.Run(Timeout, Usertcp, "ss", "--stats", "--zeros");
            long Counter(string name) => long.Parse(Assert.Single(stats.OutputLines, l => l.StartsWith(name + " ", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(1, Counter("UserTcpFaultMarked"));
            Assert.Equal(0, Counter("UserTcpFaultDropped"));

            Assert.True(serve.Terminate(Timeout), serve.Transcript);
            Assert.Single(serve.ErrorLines, l => l.Contains("CE-marked by rule 'mark from-kernel data nth=1': ECT(0) → CE before UserTcp got it", StringComparison.Ordinal));

            // The capture holds the packet as marked, with the fault's comment; UserTcp's answer echoes ECE (RFC 3168 §6.1.3).
            PeerProgram ce = PeerProgram.Run(Timeout, "tshark", "-r", pcap, "-Y", "ip.dsfield.ecn == 3", "-T", "fields", "-e", "ip.src", "-e", "tcp.len", "-e", "frame.comment");
            Assert.True(ce.ExitCode == 0, ce.Transcript);
            string[] marked = Assert.Single(ce.OutputLines).Split('\t');
            Assert.Equal(["10.77.0.1", "5"], marked[..2]);
            Assert.StartsWith(PcapNgWriter.CommentPrefix + "CE-marked by rule 'mark from-kernel data nth=1'", marked[2], StringComparison.Ordinal);
            PeerProgram echoed = PeerProgram.Run(Timeout, "tshark", "-r", pcap, "-Y", "tcp.flags.ece == 1 && tcp.flags.syn == 0", "-T", "fields", "-e", "ip.src");
            Assert.Contains("10.77.0.2", echoed.OutputLines);
            Assert.DoesNotContain("10.77.0.1", echoed.OutputLines);
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [RequiresNetAdminFact("nc", "python3")]
    public void A_rule_that_drops_everything_touches_only_the_tun_link()
    {
        using NetNamespace ns = NetNamespace.Create();
        PeerProgram serve = ns.Start(Usertcp, "serve", "--services", "echo", "--fault", "drop", "--log-level", "error");
        Assert.True(serve.WaitForOutputLine(l => l.StartsWith("serving on", StringComparison.Ordinal), Timeout), serve.Transcript);

        // Through the TUN link nothing gets through: the kernel's connect times out.
        PeerProgram blocked = ns.Run(Timeout, "bash", "-c", $"printf x | nc -N -w 2 {Addresses.Stack} 7");
        Assert.NotEqual(0, blocked.ExitCode);
        // ss --stats counts what the injector did: every packet the link carried dropped, none forwarded.
        PeerProgram stats = ns.Run(Timeout, Usertcp, "ss", "--stats", "--zeros");
        long Counter(string name) => long.Parse(Assert.Single(stats.OutputLines, l => l.StartsWith(name + " ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Counter("UserTcpFaultTransmitted") > 0, stats.Transcript); // the kernel's SYNs at least
        Assert.Equal(Counter("UserTcpFaultTransmitted"), Counter("UserTcpFaultDropped"));
        Assert.Equal(0, Counter("UserTcpFaultForwarded"));

        // The namespace's own loopback, beside it, is untouched.
        PeerProgram server = ns.Start("python3", "-c", KernelPeers.EchoOnce, "127.0.0.1", "6000");
        Assert.True(server.WaitForOutputLine(l => l == "listening", Timeout), server.Transcript);
        PeerProgram loop = ns.Run(Timeout, "bash", "-c", "printf 'around' | nc -N -w 5 127.0.0.1 6000");
        Assert.True(loop.ExitCode == 0, loop.Transcript);
        Assert.Equal(["around"], loop.OutputLines);
        Assert.True(server.WaitForExit(Timeout), server.Transcript);
    }
}
