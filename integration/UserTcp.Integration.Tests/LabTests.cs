using System.Globalization;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
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

    [RequiresNetAdminTheory]
    [InlineData("active")]
    [InlineData("passive")]
    public async Task Fin_with_ack_repeats_an_attempt_whose_application_closed_too_late_and_judges_the_next(string role)
    {
        NetAdminEnvironment.Require();
        LabResult result = await RunAsync(new FinWithAck { SlowAttempts = 1 }, role);

        // The slow first attempt let the delayed ACK go alone (the premise failed); the second is the one judged.
        Assert.Equal(2, result.Record.Connections.Count);
        Assert.True(result.Verdict.Passed, string.Join('\n', LabText.Describe(result)));
        Assert.Equal(SeedAgreement.Agrees, result.Verdict.Agreement);
        Assert.StartsWith("Attempt 2 of up to 3:", result.Verdict.Observed, StringComparison.Ordinal);
    }

    [RequiresNetAdminFact]
    public async Task Fin_with_ack_is_inconclusive_not_disagreeing_when_every_attempt_closed_too_late()
    {
        NetAdminEnvironment.Require();
        LabResult result = await RunAsync(new FinWithAck { SlowAttempts = 3 }, "active");

        Assert.Equal(3, result.Record.Connections.Count);
        Assert.Equal(SeedAgreement.Inconclusive, result.Verdict.Agreement);
        Assert.False(result.Verdict.Passed);
        Assert.Single(result.Verdict.Expectations, e => !e.Passed);
    }

    [RequiresNetAdminTheory]
    [InlineData("active")]
    [InlineData("passive")]
    public async Task Reordering_is_resent_once_per_held_segment_and_undone_and_the_kernels_counters_say_so(string role)
    {
        NetAdminEnvironment.Require();
        LabResult result = await RunAsync(new Reordering(), role);

        Assert.True(result.Verdict.Passed, string.Join('\n', LabText.Describe(result)));
        LabRecord r = result.Record;
        if (role == "active")
        {
            // The kernel received: each late original drew a D-SACK below RCV.NXT (tcp_dsack_set's TCPDSACKOldSent).
            Assert.True(r.KernelCounter("TcpExtTCPDSACKOldSent") >= 2, string.Join(", ", r.KernelCounters.Select(c => $"{c.Key} {c.Value}")));
            Assert.Equal(0, r.KernelCounter("TcpRetransSegs"));
        }
        else
        {
            // The kernel sent: it heard UserTcp's two D-SACKs (each late original is older than its retransmission, so PAWS drops it).
            Assert.Equal(2, r.KernelCounter("TcpExtTCPDSACKRecv"));
            Assert.Equal(0, r.KernelCounter("TcpExtTCPTimeouts"));
        }
    }

    private async Task<LabResult> RunAsync(LabScenario scenario, string role)
    {
        string captures = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        LabResult result = await LabRunner.RunAsync(scenario, scenario.Roles.Single(r => r.Key() == role),
            new LabOptions { CaptureDirectory = captures, NamespaceCreated = LeftBehind.Record });
        output.WriteLine(string.Join('\n', LabText.Describe(result)));
        File.Delete(result.CapturePath);
        return result;
    }

    [RequiresNetAdminFact]
    public void Every_scenario_the_issue_names_is_in_the_catalog_with_its_roles()
    {
        string[] names =
        [
            "fin-no-reply", "fin-ack-only", "last-ack-lost", "fin-lost", "simultaneous-close", "fin-with-ack", "half-close", "half-open",
            "close-wait-leak", "syn-rcvd", "syn-lost", "syn-ack-lost", "last-ack-new-syn", "time-wait-port", "rto-backoff", "fast-retransmit", "lost-retransmission", "mtu-black-hole", "time-wait-reuse", "close-unread-rst",
            "delayed-fin-ack", "spurious-rto", "reordering", "tail-loss", "ack-loss", "zero-window", "ecn", "fast-open", "dead-peer", "local-queue-full", "time-wait-assassination", "fin-wait-1-zero-window", "linger-abort",
        ];
        Assert.Equal(names.Order(StringComparer.Ordinal), LabCatalog.All.Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.All(LabCatalog.All.Where(s => s.Name is not ("simultaneous-close" or "syn-lost")),
            s => Assert.Equal([LabRole.UserTcpActive, LabRole.UserTcpPassive], s.Roles));
    }
}
