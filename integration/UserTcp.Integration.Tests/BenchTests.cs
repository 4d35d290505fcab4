using System.Globalization;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>`usertcp bench` as a person runs it, small: it finishes, reports both workloads with a ratio, and cleans up. No speed is asserted.</summary>
public sealed partial class BenchTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan BenchTimeout = TimeSpan.FromSeconds(120);

    [RequiresNetAdminFact("curl", "nc", "python3")]
    public void Bench_reports_download_and_upload_beside_the_kernel_with_a_ratio_and_removes_its_namespaces()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--size", "4194304", "--runs", "1");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript);
        foreach (string workload in (string[])["download", "upload"])
        {
            Assert.Single(bench.OutputLines, l => ResultLine().Match(l) is { Success: true } m && m.Groups["workload"].Value == workload);
        }
        string id = bench.Id.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(ScratchNamespace.ListAll(), n => n.StartsWith($"usertcp-bench-{id}-", StringComparison.Ordinal)
            || n.StartsWith($"usertcp-bench-peer-{id}-", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("curl", "python3", "iptables", "ethtool", "sha256sum")]
    public void Bench_with_loss_loses_packets_on_both_paths_both_ways_checks_every_byte_and_removes_its_namespaces()
    {
        NetAdminEnvironment.Require();
        using PeerProgram bench = PeerProgram.Start(Usertcp, "bench", "--loss", "5", "--size", "1048576", "--runs", "1");
        LeftBehind.Record(bench.Id);

        Assert.True(bench.WaitForExit(BenchTimeout), bench.Transcript);

        Assert.True(bench.ExitCode == 0, bench.Transcript); // a transfer that is not byte-exact fails the run
        foreach (string workload in (string[])["download", "upload"])
        {
            Match row = Assert.Single(bench.OutputLines.Select(l => LossRow().Match(l)), m => m.Success && m.Groups["workload"].Value == workload);
            // The loss is real on both paths: each sender had to retransmit (about 36 of 725 segments are lost each way).
            Assert.True(long.Parse(row.Groups["userTcpSenderRetx"].Value, CultureInfo.InvariantCulture) > 0, $"{workload}: {row.Value}");
            Assert.True(long.Parse(row.Groups["kernelSenderRetx"].Value, CultureInfo.InvariantCulture) > 0, $"{workload}: {row.Value}");
        }
        string id = bench.Id.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(ScratchNamespace.ListAll(), n => n.StartsWith($"usertcp-bench-{id}-", StringComparison.Ordinal)
            || n.StartsWith($"usertcp-bench-peer-{id}-", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^\| 5 % \| (?<workload>\w+) \| \d+\.\d\d s \| \d+\.\d\d s \| \d+\.\d\d \| (?<userTcpSenderRetx>\d+) · \d+ \| \d+ · \d+ \| (?<kernelSenderRetx>\d+) · \d+ \| \d+ · \d+ \|$")]
    private static partial Regex LossRow();

    [GeneratedRegex(@"^usertcp bench: (?<workload>\w+): UserTcp \d+\.\d Mbit/s, kernel \d+\.\d Mbit/s, ratio UserTcp/kernel \d+\.\d{3}$")]
    private static partial Regex ResultLine();
}
