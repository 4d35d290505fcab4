using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>`usertcp bench` as a person runs it, small: it finishes, reports every figure with a ratio, and cleans up. No speed is asserted.</summary>
public sealed partial class BenchTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan BenchTimeout = TimeSpan.FromSeconds(120);

    [RequiresNetAdminFact("curl", "nc", "python3")]
    public void Bench_reports_every_figure_beside_the_kernel_with_a_ratio_and_removes_its_namespaces()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--size", "4194304", "--runs", "1", "--seconds", "0.5", "--connections", "100");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript);
        foreach ((string workload, string unit) in (ReadOnlySpan<(string, string)>)[("download", "Mbit/s"), ("upload", "Mbit/s"), ("rr", "requests/s"), ("cc", "connections/s"), ("held", "connections/s")])
        {
            Assert.Single(bench.OutputLines, l => ResultLine().Match(l) is { Success: true } m && m.Groups["workload"].Value == workload && m.Groups["unit"].Value == unit);
        }
        Assert.Single(bench.OutputLines, l => l.Contains("managed heap per held connection", StringComparison.Ordinal));
        Assert.Contains(bench.OutputLines, l => l.Contains("kernel congestion control", StringComparison.Ordinal)
            && l.Contains("UserTcp cubic, RTO formula rfc6298;", StringComparison.Ordinal)); // the defaults, as its stack ran them
        string id = bench.Id.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(ScratchNamespace.ListAll(), n => n.StartsWith($"usertcp-bench-{id}-", StringComparison.Ordinal)
            || n.StartsWith($"usertcp-bench-peer-{id}-", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("curl", "python3", "iptables", "ethtool", "sha256sum")]
    public void Bench_with_loss_loses_packets_on_both_paths_both_ways_checks_every_byte_and_removes_its_namespaces()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--loss", "5", "--size", "1048576", "--echo-size", "262144", "--runs", "1");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript); // a transfer that is not byte-exact fails the run
        foreach (string workload in (string[])["download", "upload", "mixed"])
        {
            Match row = Assert.Single(bench.OutputLines.Select(l => LossRow().Match(l)), m => m.Success && m.Groups["workload"].Value == workload);
            // The loss is real on both paths: each sender had to retransmit (about 36 of 725 segments are lost each way) —
            // the servers in downloads (and the mixed workload), the clients in uploads.
            string side = workload == "upload" ? "Clients" : "Server";
            Assert.True(long.Parse(row.Groups[$"userTcp{side}Retx"].Value, CultureInfo.InvariantCulture) > 0, $"{workload}: {row.Value}");
            Assert.True(long.Parse(row.Groups[$"kernel{side}Retx"].Value, CultureInfo.InvariantCulture) > 0, $"{workload}: {row.Value}");
        }
        // Like with like by default: UserTcp runs the kernel senders' algorithm, and the bench says which each side used.
        Assert.Contains("Congestion control: UserTcp cubic, kernel cubic.", bench.OutputLines);
        Assert.Contains("RTO formula: UserTcp rfc6298 (--rto-formula), kernel linux.", bench.OutputLines);
        string id = bench.Id.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(ScratchNamespace.ListAll(), n => n.StartsWith($"usertcp-bench-{id}-", StringComparison.Ordinal)
            || n.StartsWith($"usertcp-bench-peer-{id}-", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("curl", "python3", "iptables", "ethtool", "sha256sum")]
    public void Bench_with_loss_runs_bbr_against_bbr_byte_exact()
    {
        // UserTcp's BBR live against the kernel's, at 5 % loss each way: every byte arrives (the bench fails otherwise).
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--loss", "5", "--kernel-cc", "bbr", "--workloads", "download",
            "--size", "1048576", "--runs", "1");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);
        Assert.True(bench.ExitCode == 0, bench.Transcript);
        Assert.Contains("Congestion control: UserTcp bbr, kernel bbr.", bench.OutputLines);
        Match row = Assert.Single(bench.OutputLines.Select(l => LossRow().Match(l)), m => m.Success);
        Assert.True(long.Parse(row.Groups["userTcpServerRetx"].Value, CultureInfo.InvariantCulture) > 0, row.Value);
    }

    [GeneratedRegex(@"^\| 5 % \| (?<workload>\w+) \| \d+\.\d\d s \| \d+\.\d\d s \| \d+\.\d\d \| (?<userTcpServerRetx>\d+) · \d+ \| (?<userTcpClientsRetx>\d+) · \d+ \| (?<kernelServerRetx>\d+) · \d+ \| (?<kernelClientsRetx>\d+) · \d+ \|$")]
    private static partial Regex LossRow();

    [RequiresNetAdminFact("curl", "nc", "python3")]
    public void Bench_json_holds_every_run_of_each_side_with_median_spread_and_ratio()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--json", "--figures", "rr,held", "--runs", "3", "--seconds", "0.5", "--connections", "20");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript);
        using var json = JsonDocument.Parse(bench.OutputText);
        JsonElement root = json.RootElement;
        Assert.Equal(3, root.GetProperty("context").GetProperty("runs").GetInt32());
        Assert.Equal(["rr", "held"], root.GetProperty("figures").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        foreach (JsonElement figure in root.GetProperty("figures").EnumerateArray())
        {
            foreach (string side in (string[])["userTcp", "kernel"])
            {
                JsonElement s = figure.GetProperty(side);
                double[] runs = [.. s.GetProperty("runs").EnumerateArray().Select(r => r.GetDouble())];
                Assert.Equal(3, runs.Length);
                Assert.All(runs, r => Assert.True(r > 0));
                Assert.Equal(runs.Order().ElementAt(1), s.GetProperty("median").GetDouble(), 3);
                Assert.Equal(runs.Min(), s.GetProperty("min").GetDouble(), 3);
                Assert.Equal(runs.Max(), s.GetProperty("max").GetDouble(), 3);
            }
            Assert.True(figure.GetProperty("ratio").GetDouble() > 0);
        }
        Assert.Equal(JsonValueKind.Number, root.GetProperty("userTcpManagedBytesPerHeldConnection").ValueKind);
    }

    [RequiresNetAdminFact("curl", "nc", "python3")]
    public void Bench_rto_formula_linux_runs_usertcp_on_it_and_the_json_records_it_beside_the_congestion_control()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--json", "--figures", "rr", "--runs", "1", "--seconds", "0.5",
            "--cc", "reno", "--rto-formula", "linux");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript);
        using var json = JsonDocument.Parse(bench.OutputText);
        JsonElement context = json.RootElement.GetProperty("context");
        // Both read back from the TcpConfig UserTcp's stack ran with.
        Assert.Equal("reno", context.GetProperty("userTcpCongestionControl").GetString());
        Assert.Equal("linux", context.GetProperty("userTcpRtoFormula").GetString());
    }

    [GeneratedRegex(@"^usertcp bench: (?<workload>\w+): UserTcp \d+(\.\d)? (?<unit>[a-z/A-Z]+), kernel \d+(\.\d)? \k<unit>, ratio UserTcp/kernel \d+\.\d{3}$")]
    private static partial Regex ResultLine();
}
