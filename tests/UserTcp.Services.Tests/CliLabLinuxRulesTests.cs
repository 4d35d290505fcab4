using System.CommandLine;
using System.CommandLine.Parsing;
using UserTcp.Cli;
using UserTcp.Engine;
using UserTcp.Lab;

namespace UserTcp.Services.Tests;

/// <summary>
/// --linux-rules on the lab: off unless given; given, UserTcp's side of every scenario in every role runs
/// TcpConfig.WithLinuxRules over the scenario's own timers and the other options, and the settings line says so.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliLabLinuxRulesTests
{
    public static TheoryData<string> Commands() => ["lab run fast-retransmit", "lab run-all --report report"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Lab_run_and_run_all_take_the_flag_and_leave_it_off_by_default(string command)
    {
        Assert.False(Parse(command));
        Assert.True(Parse(command, "--linux-rules"));
    }

    [Fact]
    public void Every_scenario_runs_UserTcp_on_every_linux_rule_over_its_own_settings_and_the_options()
    {
        var options = new LabOptions { LinuxRules = true, CongestionControl = CongestionControlAlgorithm.NewReno, RtoFormula = RtoFormula.Rfc6298 };
        foreach (LabScenario scenario in LabCatalog.All)
        {
            foreach (LabRole role in scenario.Roles)
            {
                TcpConfig own = scenario.UserTcpConfig(role, full: false);
                TcpConfig run = LabRunner.UserTcpConfig(scenario, role, options);
                Assert.Equal((own with { CongestionControl = CongestionControlAlgorithm.NewReno }).WithLinuxRules(), run);
                Assert.Equal(RtoFormula.Linux, run.RtoFormula); // the preset wins over a rule option
                Assert.Equal(own, LabRunner.UserTcpConfig(scenario, role, new LabOptions { CongestionControl = own.CongestionControl })); // without it: nothing of it
            }
        }
        Assert.False(new LabOptions().LinuxRules);
    }

    [Fact]
    public void The_settings_line_names_the_linux_rules_only_when_every_one_is_on()
    {
        var own = new TcpConfig { TimeWait = TimeSpan.FromSeconds(2) };

        Assert.StartsWith("Linux rules (every switch: TcpConfig.WithLinuxRules), congestion control cubic, TIME-WAIT 2 s, ", LabText.Settings(own.WithLinuxRules()), StringComparison.Ordinal);
        Assert.Contains("RTO formula linux, CUBIC arithmetic linux, RACK rules linux", LabText.Settings(own.WithLinuxRules()), StringComparison.Ordinal);
        Assert.StartsWith("congestion control cubic, ", LabText.Settings(own), StringComparison.Ordinal);
        // Some of the switches (--rto-formula linux alone, say) are not the Linux rules.
        Assert.StartsWith("congestion control cubic, ", LabText.Settings(own with { RtoFormula = RtoFormula.Linux }), StringComparison.Ordinal);
    }

    private static bool Parse(string command, params string[] more)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--linux-rules");
        return Assert.IsType<bool>(((OptionResult?)parsed.GetResult(option))?.GetValueOrDefault<object?>() ?? false);
    }
}
