using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Engine;

namespace UserTcp.Services.Tests;

/// <summary>
/// --linux-rules on serve, connect and get: off unless given, and given, the command's stack runs TcpConfig.WithLinuxRules
/// over the command's own settings and the separate rule options.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliLinuxRulesTests
{
    public static TheoryData<string> Commands() => ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_the_flag_and_leaves_it_off_by_default(string command)
    {
        Assert.False(Parse(command));
        Assert.True(Parse(command, "--linux-rules"));
    }

    [Fact]
    public void The_stack_runs_every_linux_rule_over_the_commands_own_settings()
    {
        var options = new StackOptionSet(LogLevel.Warning);
        var command = new Command("serve");
        options.AddTo(command);
        var own = new TcpConfig { TimeWait = TimeSpan.FromSeconds(5) };

        TcpConfig tcp = options.Read(command.Parse(["--linux-rules", "--rto-formula", "rfc6298", "--cc", "reno"])).Tcp(own);

        Assert.Equal((own with { CongestionControl = CongestionControlAlgorithm.NewReno }).WithLinuxRules(), tcp);
        Assert.Equal(RtoFormula.Linux, tcp.RtoFormula); // the preset wins over a rule option
        Assert.Equal(own, options.Read(command.Parse([])).Tcp(own)); // without the flag: nothing of it
    }

    private static bool Parse(string command, params string[] more)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), .. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        Option option = parsed.CommandResult.Command.Options.Single(o => o.Name == "--linux-rules");
        return Assert.IsType<bool>(((OptionResult?)parsed.GetResult(option))?.GetValueOrDefault<object?>() ?? false);
    }
}
