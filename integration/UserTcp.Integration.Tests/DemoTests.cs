using System.Globalization;
using System.Text.RegularExpressions;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>`usertcp demo` as a person runs it: end to end, interrupted with Ctrl-C, and killed outright.</summary>
public sealed partial class DemoTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
    private static readonly TimeSpan DemoTimeout = TimeSpan.FromSeconds(120);

    [RequiresNetAdminFact("curl", "nc", "ss", "ping")]
    public void Demo_runs_end_to_end_and_exits_0()
    {
        NetAdminEnvironment.Require();
        using PeerProgram demo = PeerProgram.Start(Usertcp, "demo");
        LeftBehind.Record(demo.Id);

        Assert.True(demo.WaitForExit(DemoTimeout), demo.Transcript);

        Assert.True(demo.ExitCode == 0, demo.Transcript);
        Assert.Equal("usertcp demo: all 9 checks passed", demo.OutputLines[^1]);
        // ping -c 3 to the stack's address, in the demo's namespace: three replies, counted by the stack too.
        Assert.Contains(demo.OutputLines, l => l.Contains("3 packets transmitted, 3 received", StringComparison.Ordinal)
            && l.EndsWith("IcmpOutEchoReps counter went up by 3", StringComparison.Ordinal));
        Assert.DoesNotContain(demo.OutputLines, l => l.TrimStart().StartsWith("FAIL", StringComparison.Ordinal));
        // Each connection is shown from both sides.
        Assert.Contains(demo.OutputLines, l => l.Contains("UserTcp  10.77.0.2:13", StringComparison.Ordinal)
            && l.EndsWith("FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED", StringComparison.Ordinal));
        Assert.Equal(3, demo.OutputLines.Count(l => l.TrimStart().StartsWith("kernel   10.77.0.1:", StringComparison.Ordinal)));
        string name = NamespaceOf(demo);
        Assert.False(ScratchNamespace.Exists(name), $"{name} is still there");
    }

    [RequiresNetAdminFact("curl", "nc", "ss", "ping")]
    public void Demo_rto_formula_linux_runs_usertcp_on_it_and_says_so()
    {
        NetAdminEnvironment.Require();
        using PeerProgram demo = PeerProgram.Start(Usertcp, "demo", "--size", "100000", "--echo-size", "1000", "--rto-formula", "linux");
        LeftBehind.Record(demo.Id);

        Assert.True(demo.WaitForExit(DemoTimeout), demo.Transcript);

        Assert.True(demo.ExitCode == 0, demo.Transcript);
        // The line reads the TcpConfig of the demo's stack, whose services accepted every connection.
        Assert.Contains(demo.OutputLines, l => l.Contains("RTO formula linux (--rto-formula)", StringComparison.Ordinal));
    }

    [RequiresNetAdminFact("curl", "nc", "ss", "python3")]
    public void Ctrl_c_stops_the_demo_which_removes_its_namespace_and_exits_130()
    {
        NetAdminEnvironment.Require();
        // As a terminal's Ctrl-C: SIGINT, with its default disposition restored (a runner may start tests with it ignored).
        using PeerProgram demo = PeerProgram.Start("python3", "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])", Usertcp, "demo");
        LeftBehind.Record(demo.Id);
        Assert.True(demo.WaitForOutputLine(l => l.StartsWith("1. HTTP", StringComparison.Ordinal), DemoTimeout), demo.Transcript);
        string name = NamespaceOf(demo);
        Assert.True(ScratchNamespace.Exists(name));

        Assert.Equal(0, PeerProgram.Run(TimeSpan.FromSeconds(10), "bash", "-c", $"kill -INT {demo.Id.ToString(CultureInfo.InvariantCulture)}").ExitCode);

        Assert.True(demo.WaitForExit(DemoTimeout), demo.Transcript);
        Assert.True(demo.ExitCode == 130, demo.Transcript);
        Assert.Equal("usertcp demo: interrupted; cleaned up", demo.OutputLines[^1]);
        Assert.False(ScratchNamespace.Exists(name), $"{name} is still there");
    }

    [RequiresNetAdminFact("curl", "nc", "ss")]
    public void A_demo_killed_outright_leaves_a_stale_namespace_that_the_next_start_removes_with_its_processes()
    {
        NetAdminEnvironment.Require();
        using PeerProgram demo = PeerProgram.Start(Usertcp, "demo");
        LeftBehind.Record(demo.Id);
        Assert.True(demo.WaitForOutputLine(l => l.StartsWith("1. HTTP", StringComparison.Ordinal), DemoTimeout), demo.Transcript);
        string name = NamespaceOf(demo);
        LeftBehind.Record(name);

        // Kept from every other process's sweep (each Create sweeps), so the namespace left stale is this test's next Create's to take.
        using IDisposable sweeps = ScratchNamespace.HoldSweeps();
        demo.Kill(); // SIGKILL: no cleanup runs

        Assert.True(ScratchNamespace.Exists(name));
        Assert.Contains(name, ScratchNamespace.FindStale());
        // Something the dead run left running inside (curl may be there too, waiting on a device that is gone).
        using PeerProgram orphan = PeerProgram.Start("ip", "netns", "exec", name, "sleep", "60");
        LeftBehind.Record(orphan.Id);
        Assert.True(Poll.Until(() => PeerProgram.Run(TimeSpan.FromSeconds(10), "ip", "netns", "pids", name).OutputLines
            .Contains(orphan.Id.ToString(CultureInfo.InvariantCulture)), TimeSpan.FromSeconds(10)));

        // The next namespace anyone makes sweeps it first.
        using (NetNamespace next = NetNamespace.Create())
        {
            Assert.Contains(name, next.Scratch.RemovedStale);
        }

        Assert.False(ScratchNamespace.Exists(name));
        Assert.True(orphan.WaitForExit(TimeSpan.FromSeconds(10)), "the process left inside the stale namespace still runs");
    }

    private static string NamespaceOf(PeerProgram demo)
    {
        Match match = demo.OutputLines.Select(l => NamespaceLine().Match(l)).FirstOrDefault(m => m.Success)
            ?? throw new InvalidOperationException($"the demo did not name its namespace:\n{demo.Transcript}");
        return match.Groups[1].Value;
    }

    [GeneratedRegex(@"namespace  (usertcp-demo-\d+-\d+):")]
    private static partial Regex NamespaceLine();
}
