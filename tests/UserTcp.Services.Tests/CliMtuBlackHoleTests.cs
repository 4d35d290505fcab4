using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Engine;

namespace UserTcp.Services.Tests;

/// <summary>--mtu-black-hole-detection and --mtu-probing on serve, connect and get: off unless given (as Linux's tcp_mtu_probing 0), and given, every connection of the command's stack runs with it.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliMtuBlackHoleTests
{
    public static TheoryData<string> Commands() => ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_the_flag_and_leaves_it_off_by_default(string command)
    {
        Assert.Empty(CommandTree.Create().Parse([.. command.Split(' '), "--mtu-black-hole-detection"]).Errors);
        Assert.False(Tcp(command).MtuBlackHoleDetection);
        Assert.True(Tcp(command, "--mtu-black-hole-detection").MtuBlackHoleDetection);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Mtu_probing_is_mode_2_and_black_hole_detection_mode_1(string command)
    {
        Assert.Empty(CommandTree.Create().Parse([.. command.Split(' '), "--mtu-probing"]).Errors);
        Assert.Equal(MtuProbing.Off, Tcp(command).MtuProbing);
        Assert.Equal(MtuProbing.AfterBlackHole, Tcp(command, "--mtu-black-hole-detection").MtuProbing);
        Assert.Equal(MtuProbing.Always, Tcp(command, "--mtu-probing").MtuProbing);
        Assert.Equal(MtuProbing.Always, Tcp(command, "--mtu-probing", "--mtu-black-hole-detection").MtuProbing);
    }

    [Fact]
    public void The_flag_turns_it_on_over_the_commands_own_settings_and_leaves_the_rest()
    {
        var own = new TcpConfig { TimeWait = TimeSpan.FromSeconds(5), BaseMss = 512 };
        var options = new StackOptionSet(LogLevel.Warning);
        var command = new Command("serve");
        options.AddTo(command);
        Assert.Equal(own with { MtuBlackHoleDetection = true }, options.Read(command.Parse(["--mtu-black-hole-detection"])).Tcp(own));
        Assert.Equal(own, options.Read(command.Parse([])).Tcp(own));
    }

    private static TcpConfig Tcp(string command, params string[] more)
    {
        var options = new StackOptionSet(LogLevel.Warning);
        var root = new Command(command.Split(' ')[0]);
        options.AddTo(root);
        ParseResult parsed = root.Parse([.. more]);
        Assert.Empty(parsed.Errors.Select(e => e.Message));
        return options.Read(parsed).Tcp(new TcpConfig());
    }
}
