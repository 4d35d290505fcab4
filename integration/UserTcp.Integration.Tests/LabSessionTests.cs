using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>What LabSession records of the applications it drives, on a scenario made here.</summary>
public sealed class LabSessionTests
{
    [RequiresNetAdminFact]
    public async Task Connect_is_marked_when_the_application_called_it_before_its_syn_not_once_the_handshake_is_done()
    {
        NetAdminEnvironment.Require();
        string captures = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");

        LabResult result = await LabRunner.RunAsync(new OpenBothWays(), LabRole.Both, new LabOptions { CaptureDirectory = captures, NamespaceCreated = LeftBehind.Record });
        File.Delete(result.CapturePath);

        Assert.Null(result.Record.Failure);
        LabMark[] connects = [.. result.Record.Marks.Where(m => m.What.StartsWith("connect()", StringComparison.Ordinal))];
        Assert.Equal([LabSide.Kernel, LabSide.UserTcp], connects.Select(m => m.Side));
        foreach (LabMark connect in connects)
        {
            FourTuple c = Assert.IsType<FourTuple>(connect.Connection);
            // The SYN left after connect() was called, so its sender's side had it before UserTcp (or the kernel) received it.
            WirePacket syn = result.Record.PacketsOf(c).First(p => p.Segment.Has(TcpFlags.Syn));
            Assert.True(connect.At <= syn.ArrivedAt, $"{connect.Side}'s connect() marked at {connect.At.TotalMilliseconds} ms, its SYN arrived at {syn.ArrivedAt.TotalMilliseconds} ms");
        }
    }

    [RequiresNetAdminFact]
    public async Task A_cancellation_of_the_scenarios_own_is_recorded_as_the_runs_failure_and_does_not_end_the_caller()
    {
        NetAdminEnvironment.Require();
        string captures = Path.Combine(Path.GetTempPath(), $"usertcp-it-lab-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");

        LabResult result = await LabRunner.RunAsync(new CancelsItsOwnWait(), LabRole.Both, new LabOptions { CaptureDirectory = captures, NamespaceCreated = LeftBehind.Record });
        File.Delete(result.CapturePath);

        Assert.Contains("a wait of the scenario's own", result.Record.Failure, StringComparison.Ordinal);
        Assert.False(result.Verdict.Passed);
        Assert.False(ScratchNamespace.Exists(result.Namespace));
    }

    /// <summary>A scenario whose own wait is cancelled (not the run's bound, not the caller).</summary>
    private sealed class CancelsItsOwnWait : LabScenario
    {
        public override string Name => "cancels-its-own-wait";
        public override string Question => "Is a scenario's stray cancellation the run's failure?";
        public override IReadOnlyList<LabRole> Roles => [LabRole.Both];

        public override async Task RunAsync(LabSession s)
        {
            using var own = new CancellationTokenSource();
            await own.CancelAsync().ConfigureAwait(false);
            await Task.Yield();
            throw new OperationCanceledException("a wait of the scenario's own", own.Token);
        }

        public override LabVerdict Judge(LabRecord r) => new VerdictBuilder().Build(this, r, "", SeedAgreement.NoClaim, "");
    }

    /// <summary>Opens one connection each way and ends.</summary>
    private sealed class OpenBothWays : LabScenario
    {
        public override string Name => "open-both-ways";
        public override string Question => "Does each application's connect() stand before its SYN?";
        public override IReadOnlyList<LabRole> Roles => [LabRole.Both];

        public override async Task RunAsync(LabSession s)
        {
            await s.OpenAsync(5020).ConfigureAwait(false);
            await s.OpenAsync(5021, kernelConnects: false).ConfigureAwait(false);
        }

        public override LabVerdict Judge(LabRecord r) => new VerdictBuilder().Build(this, r, "", SeedAgreement.NoClaim, "");
    }
}
