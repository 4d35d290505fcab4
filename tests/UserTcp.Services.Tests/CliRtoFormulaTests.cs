using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Cli.Bench;
using UserTcp.Cli.Demo;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Live;

namespace UserTcp.Services.Tests;

/// <summary>
/// --rto-formula on every command that runs UserTcp against the kernel: both values parse, anything else is one error
/// naming them, leaving it out means rfc6298; and the value reaches the TcpConfig each command's stack is built with.
/// (The executable's exit code 2 is in <see cref="CliMistakeTests"/>; the kernel runs in the integration tests.)
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliRtoFormulaTests
{
    public static TheoryData<string> Commands() =>
        ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/", "demo", "bench", "lab run rto-backoff", "lab run-all --report report"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_rfc6298_and_linux_and_leaves_rfc6298_by_default(string command)
    {
        Assert.Equal(RtoFormula.Rfc6298, Parse(command));
        Assert.Equal(RtoFormula.Linux, Parse(command, "--rto-formula", "linux"));
        Assert.Equal(RtoFormula.Rfc6298, Parse(command, "--rto-formula", "rfc6298"));
        Assert.Equal(RtoFormula.Linux, Parse(command, "--rto-formula", "LINUX"));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Anything_else_is_one_error_that_names_both(string command)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), "--rto-formula", "reno"]);

        Assert.Equal("--rto-formula 'reno' is not an RTO formula: use rfc6298 or linux", Assert.Single(parsed.Errors).Message);
    }

    [Fact]
    public void Serve_connect_and_get_build_their_stack_with_the_formula_and_keep_their_own_settings()
    {
        // The path of CommandStack.Start: StackOptionSet.Read, then StackSettings.Tcp over the command's own TcpConfig.
        var options = new StackOptionSet(LogLevel.Warning);
        var command = new Command("serve");
        options.AddTo(command);

        StackSettings linux = options.Read(command.Parse(["--rto-formula", "linux", "--cc", "reno"]));
        TcpConfig tcp = linux.Tcp(new TcpConfig { TimeWait = TimeSpan.FromSeconds(5) });

        Assert.Equal(RtoFormula.Linux, tcp.RtoFormula);
        Assert.Equal(CongestionControlAlgorithm.NewReno, tcp.CongestionControl);
        Assert.Equal(TimeSpan.FromSeconds(5), tcp.TimeWait);
        Assert.Equal(RtoFormula.Rfc6298, options.Read(command.Parse([])).Tcp(new TcpConfig()).RtoFormula);
    }

    [Fact]
    public void The_lab_runs_each_scenario_with_its_own_timers_and_the_options_formula()
    {
        var fastRetransmit = new FastRetransmit();
        TcpConfig scenarios = fastRetransmit.UserTcpConfig(LabRole.UserTcpActive, full: false);

        TcpConfig linux = LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions { RtoFormula = RtoFormula.Linux });

        Assert.Equal(scenarios with { RtoFormula = RtoFormula.Linux }, linux);
        Assert.NotEqual(new TcpConfig().MinRto, linux.MinRto); // the scenario's own minimum survives
        Assert.Equal(RtoFormula.Rfc6298, LabRunner.UserTcpConfig(fastRetransmit, LabRole.UserTcpActive, new LabOptions()).RtoFormula);
    }

    [Fact]
    public void Demo_and_bench_build_their_stack_with_the_formula()
    {
        var demo = new DemoSettings(1, 1, TimeSpan.FromSeconds(2), null, RtoFormula.Linux);
        var bench = new BenchSettings(1, 1, 1500, TunDeviceMode.Plain, ["rr"], 1, 1, Json: false,
            CongestionControl: CongestionControlAlgorithm.Bbr, RtoFormula: RtoFormula.Linux);

        Assert.Equal(new TcpConfig { TimeWait = TimeSpan.FromSeconds(2), RtoFormula = RtoFormula.Linux }, demo.Tcp);
        Assert.Equal(new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr, RtoFormula = RtoFormula.Linux }, bench.Tcp);
        Assert.Equal(RtoFormula.Rfc6298, new DemoSettings(1, 1, TimeSpan.FromSeconds(2), null).Tcp.RtoFormula);
    }

    private static RtoFormula Parse(string command, params string[] more)
    {
        RootCommand root = CommandTree.Create();
        ParseResult parsed = root.Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--rto-formula");
        return Assert.IsType<RtoFormula>(((OptionResult)parsed.GetResult(option)!).GetValueOrDefault<object?>());
    }
}
