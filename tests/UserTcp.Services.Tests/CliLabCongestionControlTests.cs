using System.CommandLine;
using System.CommandLine.Parsing;
using UserTcp.Cli;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;

namespace UserTcp.Services.Tests;

/// <summary>
/// --cc on the lab: cubic, reno and bbr parse, anything else is one error naming them, leaving it out means cubic; the
/// value reaches UserTcp's TcpConfig in every scenario, and the record and the settings lines name the kernel's sockets' one.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliLabCongestionControlTests
{
    public static TheoryData<string> Commands() => ["lab run fast-retransmit", "lab run-all --report report"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Lab_run_and_run_all_take_cubic_reno_and_bbr_and_leave_cubic_by_default(string command)
    {
        Assert.Equal(CongestionControlAlgorithm.Cubic, Parse(command));
        Assert.Equal(CongestionControlAlgorithm.NewReno, Parse(command, "--cc", "reno"));
        Assert.Equal(CongestionControlAlgorithm.Bbr, Parse(command, "--cc", "BBR"));
        Assert.Equal(CongestionControlAlgorithm.Cubic, Parse(command, "--cc", "cubic"));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Anything_else_is_one_error_that_names_them(string command)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), "--cc", "vegas"]);

        Assert.Equal("--cc 'vegas' is no congestion control UserTcp has: use cubic, reno or bbr", Assert.Single(parsed.Errors).Message);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Bbr)]
    public void Every_scenario_runs_UserTcp_on_the_options_algorithm_with_its_own_timers(CongestionControlAlgorithm congestion)
    {
        foreach (LabScenario scenario in LabCatalog.All)
        {
            foreach (LabRole role in scenario.Roles)
            {
                TcpConfig own = scenario.UserTcpConfig(role, full: false);
                TcpConfig run = LabRunner.UserTcpConfig(scenario, role, new LabOptions { CongestionControl = congestion });
                Assert.Equal(own with { CongestionControl = congestion }, run);
            }
        }
        Assert.Equal(CongestionControlAlgorithm.Cubic, new LabOptions().CongestionControl);
    }

    [Fact]
    public void The_settings_lines_name_the_kernels_sockets_algorithm_and_UserTcps()
    {
        var record = new LabRecord
        {
            Scenario = "fast-retransmit",
            Role = LabRole.UserTcpActive,
            Packets = [],
            Events = [],
            KernelSockets = [],
            Marks = [],
            KernelSettings = new Dictionary<string, string> { ["tcp_fin_timeout"] = "3" },
            KernelCongestionControl = CongestionControlAlgorithm.NewReno,
            Faults = [],
            UserTcpConfig = new TcpConfig { CongestionControl = CongestionControlAlgorithm.NewReno },
            End = TimeSpan.Zero,
            KernelSamples = 0,
            KernelLongestGap = TimeSpan.Zero,
        };

        Assert.Equal("TCP_CONGESTION=reno (every socket) tcp_fin_timeout=3", LabText.KernelSettings(record));
        Assert.StartsWith("congestion control reno, ", LabText.Settings(record.UserTcpConfig), StringComparison.Ordinal);
    }

    private static CongestionControlAlgorithm Parse(string command, params string[] more)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--cc");
        return Assert.IsType<CongestionControlAlgorithm>(((OptionResult)parsed.GetResult(option)!).GetValueOrDefault<object?>());
    }
}
