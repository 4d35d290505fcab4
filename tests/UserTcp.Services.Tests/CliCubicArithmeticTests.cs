using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;

namespace UserTcp.Services.Tests;

/// <summary>
/// --cubic-arithmetic on the live commands and the lab, as --rto-formula: both values parse, anything else is one error
/// naming them, leaving it out means rfc9438; and the value reaches the TcpConfig each command's stack is built with.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliCubicArithmeticTests
{
    public static TheoryData<string> Commands() =>
        ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/", "lab run rto-backoff", "lab run-all --report report"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_rfc9438_and_linux_and_leaves_rfc9438_by_default(string command)
    {
        Assert.Equal(CubicArithmetic.Rfc9438, Parse(command));
        Assert.Equal(CubicArithmetic.Linux, Parse(command, "--cubic-arithmetic", "linux"));
        Assert.Equal(CubicArithmetic.Rfc9438, Parse(command, "--cubic-arithmetic", "rfc9438"));
        Assert.Equal(CubicArithmetic.Linux, Parse(command, "--cubic-arithmetic", "LINUX"));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Anything_else_is_one_error_that_names_both(string command)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), "--cubic-arithmetic", "bic"]);

        Assert.Equal("--cubic-arithmetic 'bic' is not a CUBIC arithmetic: use rfc9438 or linux", Assert.Single(parsed.Errors).Message);
    }

    [Fact]
    public void Serve_connect_and_get_build_their_stack_with_it_and_keep_their_own_settings()
    {
        var options = new StackOptionSet(LogLevel.Warning);
        var command = new Command("serve");
        options.AddTo(command);

        TcpConfig tcp = options.Read(command.Parse(["--cubic-arithmetic", "linux", "--rto-formula", "linux"])).Tcp(new TcpConfig { TimeWait = TimeSpan.FromSeconds(5) });

        Assert.Equal(CubicArithmetic.Linux, tcp.CubicArithmetic);
        Assert.Equal(RtoFormula.Linux, tcp.RtoFormula);
        Assert.Equal(TimeSpan.FromSeconds(5), tcp.TimeWait);
        Assert.Equal(CubicArithmetic.Rfc9438, options.Read(command.Parse([])).Tcp(new TcpConfig()).CubicArithmetic);
    }

    [Fact]
    public void The_lab_runs_each_scenario_with_its_own_timers_and_the_options_arithmetic()
    {
        var fastRetransmit = new FastRetransmit();
        TcpConfig scenarios = fastRetransmit.UserTcpConfig(LabRole.UserTcpActive, full: false);

        TcpConfig linux = LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions { CubicArithmetic = CubicArithmetic.Linux });

        Assert.Equal(scenarios with { CubicArithmetic = CubicArithmetic.Linux }, linux);
        Assert.Equal(CubicArithmetic.Rfc9438, LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions()).CubicArithmetic);
        Assert.Contains("CUBIC arithmetic linux", LabText.Settings(linux), StringComparison.Ordinal);
    }

    private static CubicArithmetic Parse(string command, params string[] more)
    {
        RootCommand root = CommandTree.Create();
        ParseResult parsed = root.Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--cubic-arithmetic");
        return Assert.IsType<CubicArithmetic>(((OptionResult)parsed.GetResult(option)!).GetValueOrDefault<object?>());
    }
}
