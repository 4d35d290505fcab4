using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Logging;
using UserTcp.Cli;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Services.Tests;

/// <summary>
/// --ecn on serve, connect and get: off, request and accept (or Linux's tcp_ecn numbers 0 to 2) parse, anything else
/// is one error naming them, leaving it out is accept (Linux's default); the value reaches the stack's TcpConfig; and
/// `usertcp ss` shows ECN as ss -i does.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CliEcnTests
{
    public static TheoryData<string> Commands() => ["serve", "connect 10.77.0.1 7", "get http://10.77.0.1/"];

    private static EcnMode Parse(string command, params string[] more)
    {
        var options = new StackOptionSet(LogLevel.Warning);
        var root = new Command(command.Split(' ')[0]);
        options.AddTo(root);
        ParseResult parsed = root.Parse(more);
        Assert.Empty(parsed.Errors);
        return options.Read(parsed).Tcp(new TcpConfig()).Ecn;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Each_command_takes_the_three_modes_and_accepts_by_default(string command)
    {
        Assert.Equal(EcnMode.Accept, Parse(command));
        Assert.Equal(EcnMode.Request, Parse(command, "--ecn", "request"));
        Assert.Equal(EcnMode.Off, Parse(command, "--ecn", "OFF"));
        Assert.Equal(EcnMode.Accept, Parse(command, "--ecn", "2"));
        Assert.Equal(EcnMode.Request, Parse(command, "--ecn", "1"));
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Anything_else_is_one_error_that_names_them(string command)
    {
        ParseResult parsed = CommandTree.Create().Parse([.. command.Split(' '), "--ecn", "3"]);

        Assert.Equal("--ecn '3' is not an ECN mode: use off, request or accept", Assert.Single(parsed.Errors).Message);
    }

    [Fact]
    public void The_table_shows_ecn_and_ecnseen_as_ss_i_does()
    {
        ConnectionSnapshot row = new(System.Net.NetworkInformation.TcpState.Established, new IpEndpoint(new Wire.Ipv4Address(10, 77, 0, 2), 80),
            new IpEndpoint(new Wire.Ipv4Address(10, 77, 0, 1), 40000), 0, 0, TcpTimer.None, null, 0, TimeSpan.FromMilliseconds(204), 14600);
        Assert.DoesNotContain("ecn", ConnectionTable.Format([row]), StringComparison.Ordinal);
        Assert.EndsWith("cwnd:14600 ecn", ConnectionTable.Format([row with { Info = new TcpConnectionInfo { Ecn = true } }]).TrimEnd('\n'), StringComparison.Ordinal);
        ConnectionSnapshot seen = row with { Info = new TcpConnectionInfo { Ecn = true, EcnSeen = true } };
        Assert.EndsWith("cwnd:14600 ecn ecnseen", ConnectionTable.Format([seen]).TrimEnd('\n'), StringComparison.Ordinal);
        string json = ConnectionTable.ToJson([seen]);
        Assert.Contains("\"ecn\": true", json, StringComparison.Ordinal);
        Assert.Contains("\"ecnSeen\": true", json, StringComparison.Ordinal);
    }

    [Fact]
    public void The_table_shows_delivered_and_delivered_ce_as_ss_i_does_leaving_out_zeros()
    {
        ConnectionSnapshot row = new(System.Net.NetworkInformation.TcpState.Established, new IpEndpoint(new Wire.Ipv4Address(10, 77, 0, 2), 80),
            new IpEndpoint(new Wire.Ipv4Address(10, 77, 0, 1), 40000), 0, 0, TcpTimer.None, null, 0, TimeSpan.FromMilliseconds(204), 14600);
        ConnectionSnapshot delivered = row with { Info = new TcpConnectionInfo { DeliveredSegments = 7 } };
        Assert.EndsWith("cwnd:14600 delivered:7", ConnectionTable.Format([delivered]).TrimEnd('\n'), StringComparison.Ordinal);
        ConnectionSnapshot marked = row with { Info = new TcpConnectionInfo { Ecn = true, DeliveredSegments = 7, DeliveredCeSegments = 2 } };
        Assert.EndsWith("cwnd:14600 ecn delivered:7 delivered_ce:2", ConnectionTable.Format([marked]).TrimEnd('\n'), StringComparison.Ordinal);
        string json = ConnectionTable.ToJson([marked]);
        Assert.Contains("\"delivered\": 7", json, StringComparison.Ordinal);
        Assert.Contains("\"deliveredCe\": 2", json, StringComparison.Ordinal);
    }
}
