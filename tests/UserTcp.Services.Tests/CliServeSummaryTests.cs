using UserTcp.Cli.Commands;
using UserTcp.Engine;

namespace UserTcp.Services.Tests;

/// <summary>serve's last line counts what its stop reset: connections still open apart from those already closing.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")] // serve is the usertcp command's (UserTcp.Cli)
public sealed class CliServeSummaryTests
{
    [Fact]
    public void Connections_the_services_closed_count_as_closing_not_open_and_finished_ones_not_at_all()
    {
        ServeCommand.ConnectionsLeft left = ServeCommand.ConnectionsLeft.Of(
        [
            TcpState.Established, TcpState.CloseWait, TcpState.SynReceived,               // never closed by the application
            TcpState.FinWait1, TcpState.FinWait2, TcpState.FinWait2, TcpState.LastAck, TcpState.Closing, // closed, not yet answered
            TcpState.TimeWait, TcpState.Closed,                                          // done
        ]);

        Assert.Equal(new ServeCommand.ConnectionsLeft(3, 5), left);
        Assert.Equal(", 3 still open and 5 still closing were reset", left.Describe());
        Assert.Equal(", 1 still closing was reset", ServeCommand.ConnectionsLeft.Of([TcpState.FinWait2, TcpState.TimeWait]).Describe());
        Assert.Equal("", ServeCommand.ConnectionsLeft.Of([TcpState.TimeWait, TcpState.Closed]).Describe());
    }
}
