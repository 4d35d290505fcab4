using System.Security.Cryptography;
using System.Text.RegularExpressions;
using UserTcp.Engine;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>Teardown against kernel clients: echo's half-close (nc -N) and daytime's active close.</summary>
public sealed partial class HalfCloseTests : IDisposable
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StateTimeout = TimeSpan.FromSeconds(5);
    private readonly string _directory = Directory.CreateTempSubdirectory("usertcp-it-close-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [RequiresNetAdminFact("nc")]
    public async Task Nc_half_closes_and_echo_keeps_sending_after_its_fin()
    {
        const int Size = 256 * 1024;
        string input = Path.Combine(_directory, "in"), output = Path.Combine(_directory, "out"), pcap = Path.Combine(_directory, "echo.pcap");
        byte[] data = RandomNumberGenerator.GetBytes(Size);
        File.WriteAllBytes(input, data);
        FourTuple echo;
        IReadOnlyList<TcpState> states;
        await using (LiveStack live = LiveStack.Start(services: true, pcapPath: pcap))
        {
            // nc -N: at the end of its input nc shuts down its sending side (a FIN) and reads on until echo closes. What
            // nc reads goes through a pipe whose reader starts a second late, so echo is held back by nc's window: nc's
            // socket and the pipe take at most ~192 KiB (tcp_rmem's 128 KiB, not grown while nc reads nothing, and the
            // 64 KiB pipe) of the 256 KiB, while echo's 256 KiB send buffer takes all of nc's input at once and nc's FIN
            // leaves at once. So echo still has data to send after the FIN, in every device mode, however fast it runs.
            PeerProgram nc = live.Namespace.Run(PeerTimeout, "bash", "-c",
                $"nc -N -w 10 {Addresses.Stack} 7 < {input} | (sleep 1; cat > {output})");

            Assert.True(nc.ExitCode == 0, nc.Transcript);
            echo = Assert.Single(live.Events.Connections(7));
            Assert.True(live.Events.WaitForState(echo, TcpState.Closed, StateTimeout), live.Events.Trace(echo));
            states = live.Events.States(echo);
        }

        Assert.Equal(data, File.ReadAllBytes(output));
        // Echo is the passive closer: nc's FIN first (CLOSE-WAIT), echo's own once all is echoed (LAST-ACK).
        Assert.Equal([TcpState.Listen, TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed], states);
        // The half-close on the wire: after nc's FIN arrived, data still left UserTcp, and UserTcp's FIN came last.
        IReadOnlyList<CapturedSegment> segments = Pcap.ReadTcp(pcap);
        string trace = string.Join('\n', segments.Where(s => s.Flags.HasFlag(UserTcp.Wire.TcpFlags.Fin) || s.PayloadLength > 0).Take(20).Concat(segments.TakeLast(10)));
        // The kernel may send its FIN more than once (a loss probe, or a probe of echo's shut window): one FIN, at one
        // sequence number, and the half-close starts with its first sending.
        CapturedSegment[] ncFins = [.. segments.Where(s => s.DestinationPort == 7 && s.Flags.HasFlag(UserTcp.Wire.TcpFlags.Fin))];
        Assert.NotEmpty(ncFins);
        Assert.Single(ncFins.Select(s => unchecked(s.Sequence + (uint)s.PayloadLength)).Distinct());
        CapturedSegment ncFin = ncFins[0];
        CapturedSegment[] dataAfterFin = [.. segments.Where(s => s.Index > ncFin.Index && s.SourcePort == 7 && s.PayloadLength > 0)];
        Assert.True(dataAfterFin.Length > 0, $"no data from echo after nc's FIN:\n{trace}");
        CapturedSegment echoFin = segments.First(s => s.SourcePort == 7 && s.Flags.HasFlag(UserTcp.Wire.TcpFlags.Fin));
        Assert.True(echoFin.Index >= dataAfterFin[^1].Index, $"echo's FIN went out before its last data:\n{trace}");
        Assert.True(segments.Where(s => s.SourcePort == 7).Sum(s => s.PayloadLength) >= Size, trace);
    }

    [RequiresNetAdminFact("python3", "ss")]
    public async Task Daytime_closes_actively_through_fin_wait_and_time_wait_while_the_kernel_waits_in_close_wait()
    {
        await using LiveStack live = LiveStack.Start(services: true);
        PeerProgram client = live.Namespace.StartInteractive("python3", "-c", KernelPeers.ReadThenHold, Addresses.Stack, "13");

        // The client has read the line and the end of stream, and holds its socket open.
        Assert.True(client.WaitForOutputLine(l => l == "eof", PeerTimeout), client.Transcript);
        string local = client.OutputLines.Single(l => l.StartsWith("local ", StringComparison.Ordinal))["local ".Length..];
        Assert.Matches(DaytimeLine(), client.OutputLines.Single(l => l.StartsWith("line ", StringComparison.Ordinal))["line ".Length..]);
        FourTuple daytime = Assert.Single(live.Events.Connections(13));

        // UserTcp closed first: its FIN is acknowledged (FIN-WAIT-2), and the kernel's side is in CLOSE-WAIT.
        Assert.True(live.Events.WaitForState(daytime, TcpState.FinWait2, StateTimeout), live.Events.Trace(daytime));
        IReadOnlyList<KernelSocket> sockets = [];
        Assert.True(Poll.Until(() => (sockets = live.Namespace.Sockets()).Any(s => s.Local == local && s.State == "CLOSE-WAIT"), StateTimeout),
            $"ss -tan shows no CLOSE-WAIT for {local}:\n{string.Join('\n', sockets)}");
        Assert.Equal(TcpState.FinWait2, live.Events.States(daytime)[^1]);

        // The client closes: its FIN takes UserTcp to TIME-WAIT, UserTcp's ACK takes the kernel from LAST-ACK to closed.
        client.WriteInput("close");
        Assert.True(client.WaitForOutputLine(l => l == "closed", PeerTimeout), client.Transcript);
        Assert.True(Poll.Until(() => !(sockets = live.Namespace.Sockets()).Any(s => s.Local == local), StateTimeout),
            $"the kernel's socket {local} is still there:\n{string.Join('\n', sockets)}");
        Assert.True(live.Events.WaitForState(daytime, TcpState.Closed, StateTimeout), live.Events.Trace(daytime));

        Assert.Equal(
            [TcpState.Listen, TcpState.SynReceived, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.TimeWait, TcpState.Closed],
            live.Events.States(daytime));
        // TIME-WAIT ran its (shortened) course rather than being cut short.
        TcpEvent[] changes = [.. live.Events.Events.Where(e => e.Connection == daytime && e.Kind == TcpEventKind.StateChanged)];
        TimeSpan timeWait = changes.Single(e => e.OldState == TcpState.TimeWait).Time - changes.Single(e => e.NewState == TcpState.TimeWait).Time;
        Assert.InRange(timeWait, LiveStack.ShortTimeWait, LiveStack.ShortTimeWait + TimeSpan.FromSeconds(2));
        Assert.True(client.WaitForExit(PeerTimeout), client.Transcript);
        Assert.Equal(0, client.ExitCode);
    }

    // ctime(3) layout, as inetd's daytime prints it: "Tue Mar 10 12:34:56 2026".
    [GeneratedRegex(@"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")]
    private static partial Regex DaytimeLine();
}
