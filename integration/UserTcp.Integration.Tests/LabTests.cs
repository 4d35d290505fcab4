using System.Globalization;
using UserTcp.Lab;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Every lab scenario in every role, against the kernel, as `usertcp lab run-all` runs them: each in a namespace of its
/// own, with short timers, within its bound; the test passes when every expectation of the scenario holds. The run's
/// terminal description (ladder, verdict) is the failure message and the test output.
/// </summary>
public sealed class LabTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Runs()
    {
        var runs = new TheoryData<string, string>();
        foreach (LabScenario scenario in LabCatalog.All)
        {
            foreach (LabRole role in scenario.Roles) runs.Add(scenario.Name, role.Key());
        }
        return runs;
    }

    [RequiresNetAdminTheory]
    [MemberData(nameof(Runs))]
    public async Task Scenario_runs_green_against_the_kernel(string name, string role)
    {
        NetAdminEnvironment.Require();
        LabScenario scenario = LabCatalog.Find(name)!;
        LabRole which = scenario.Roles.Single(r => r.Key() == role);
        string captures = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        LabResult result = await LabRunner.RunAsync(scenario, which, new LabOptions { CaptureDirectory = captures, NamespaceCreated = LeftBehind.Record });
        string description = string.Join('\n', LabText.Describe(result));
        output.WriteLine(description);
        long captured = new FileInfo(result.CapturePath).Length;
        File.Delete(result.CapturePath);

        Assert.True(result.Verdict.Passed, description);
        Assert.True(result.Duration < scenario.Bound(full: false), $"{name} ({role}) took {result.Duration.TotalSeconds:0.0} s");
        Assert.True(captured > 200, $"the capture has {captured} bytes");
    }

    [RequiresNetAdminFact]
    public void Every_scenario_the_issue_names_is_in_the_catalog_with_its_roles()
    {
        string[] names =
        [
            "fin-no-reply", "fin-ack-only", "last-ack-lost", "simultaneous-close", "fin-with-ack", "half-close", "half-open",
            "close-wait-leak", "syn-rcvd", "syn-lost", "rto-backoff", "fast-retransmit", "time-wait-reuse", "close-unread-rst",
            "delayed-fin-ack",
        ];
        Assert.Equal(names.Order(StringComparer.Ordinal), LabCatalog.All.Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.All(LabCatalog.All.Where(s => s.Name is not ("simultaneous-close" or "syn-lost")),
            s => Assert.Equal([LabRole.UserTcpActive, LabRole.UserTcpPassive], s.Roles));
    }
}
