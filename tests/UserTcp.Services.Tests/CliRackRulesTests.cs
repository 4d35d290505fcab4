using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;

namespace UserTcp.Services.Tests;

/// <summary>
/// --rack-rules on serve, connect, get and the lab: both values parse, anything else is one error naming them, leaving
/// it out means rfc8985; and the value reaches the TcpConfig the command's stack (or each lab scenario) runs with.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliRackRulesTests
{
    public static TheoryData<string> Commands() =>
        ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/", "lab run rto-backoff", "lab run-all --report report"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_rfc8985_and_linux_and_leaves_rfc8985_by_default(string command)
    {
        Assert.Equal(RackRules.Rfc8985, Parse(command));
        Assert.Equal(RackRules.Linux, Parse(command, "--rack-rules", "linux"));
        Assert.Equal(RackRules.Rfc8985, Parse(command, "--rack-rules", "RFC8985"));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Anything_else_is_one_error_that_names_both(string command)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), "--rack-rules", "bsd"]);

        Assert.Equal("--rack-rules 'bsd' is not a set of RACK rules: use rfc8985 or linux", Assert.Single(parsed.Errors).Message);
    }

    [Fact]
    public void Serve_connect_and_get_build_their_stack_with_the_rules_and_keep_their_own_settings()
    {
        var options = new StackOptionSet(LogLevel.Warning);
        var command = new Command("serve");
        options.AddTo(command);

        TcpConfig tcp = options.Read(command.Parse(["--rack-rules", "linux", "--rto-formula", "linux"])).Tcp(new TcpConfig { TimeWait = TimeSpan.FromSeconds(5) });

        Assert.Equal(new TcpConfig { TimeWait = TimeSpan.FromSeconds(5), RackRules = RackRules.Linux, RtoFormula = RtoFormula.Linux }, tcp);
        Assert.Equal(RackRules.Rfc8985, options.Read(command.Parse([])).Tcp(new TcpConfig()).RackRules);
    }

    [Fact]
    public void The_lab_runs_each_scenario_with_its_own_timers_and_the_options_rules()
    {
        var fastRetransmit = new FastRetransmit();
        TcpConfig scenarios = fastRetransmit.UserTcpConfig(LabRole.UserTcpActive, full: false);

        TcpConfig linux = LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions { RackRules = RackRules.Linux });

        Assert.Equal(scenarios with { RackRules = RackRules.Linux }, linux);
        Assert.Equal(RackRules.Rfc8985, LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions()).RackRules);
    }

    private static RackRules Parse(string command, params string[] more)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--rack-rules");
        return Assert.IsType<RackRules>(((OptionResult)parsed.GetResult(option)!).GetValueOrDefault<object?>());
    }
}
