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

    [GeneratedRegex(@"^usertcp bench: (?<workload>\w+): UserTcp \d+\.\d Mbit/s, kernel \d+\.\d Mbit/s, ratio UserTcp/kernel \d+\.\d{3}$")]
    private static partial Regex ResultLine();
}
