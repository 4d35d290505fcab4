using Microsoft.Extensions.Time.Testing;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using UserTcp.Cli;
using UserTcp.Sockets;

namespace UserTcp.Services.Tests;

/// <summary>Echo, discard, daytime and chargen on one stack, a UserTcp client on the other.</summary>
public sealed class ClassicServiceTests
{
    [Fact]
    public async Task Echo_answers_each_write_without_waiting_for_the_end()
    {
        await using TwoStacks net = TwoStacks.Start();
        await using UserTcpConnection client = await net.ConnectAsync(EchoService.Port);

        foreach (string line in new[] { "hello\n", "over UserTcp\n" })
        {
            await client.WriteAsync(Encoding.ASCII.GetBytes(line), net.Token);
            Assert.Equal(line, Encoding.ASCII.GetString(await ReadExactly(client, line.Length, net.Token)));
        }
    }

    [Fact]
    public async Task Echo_keeps_echoing_after_the_peers_half_close_and_then_closes()
    {
        await using TwoStacks net = TwoStacks.Start();
        await using UserTcpConnection client = await net.ConnectAsync(EchoService.Port);
        byte[] data = RandomNumberGenerator.GetBytes(1024 * 1024);

        // Write and read at once: echo sends back while we send, and both windows must keep draining. Corked, the tail
        // (less than an MSS) leaves with the FIN in one segment, so the server has data to echo after it entered
        // CLOSE-WAIT however fast it echoed the rest (an inline echo can finish everything before a separate FIN).
        Task<byte[]> echoed = ReadToEnd(client, net.Token);
        client.Corked = true;
        await client.WriteAsync(data, net.Token);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await echoed));
        await client.CloseAsync(net.Token);
        // The server saw our FIN (CLOSE-WAIT) and sent echoed data after it: the half-close did not cut the echo short.
        var id = new FourTuple(client.RemoteEndpoint, client.LocalEndpoint);
        IReadOnlyList<TcpEvent> events = net.ServerEvents.Events.Where(e => e.Connection == id).ToList();
        int closeWait = events.ToList().FindIndex(e => e.Kind == TcpEventKind.StateChanged && e.NewState == TcpState.CloseWait);
        Assert.True(closeWait >= 0, "the server never entered CLOSE-WAIT");
        Assert.Contains(events.Skip(closeWait), e => e.Kind == TcpEventKind.SegmentOut && e.Segment.PayloadLength > 0);
        Assert.Equal([TcpState.SynReceived, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed],
            await StatesWhenClosed(net, id));
        Assert.Equal(data.Length, net.Host["echo"]!.Statistics.BytesSent);
    }

    [Fact]
    public async Task Discard_reads_everything_and_closes_after_the_peers_fin()
    {
        await using TwoStacks net = TwoStacks.Start();
        await using UserTcpConnection client = await net.ConnectAsync(DiscardService.Port);

        await client.WriteAsync(new byte[3 * 1024 * 1024 + 5], net.Token);
        client.Shutdown(SocketShutdown.Send);

        Assert.Equal(0, await client.ReadAsync(new byte[16], net.Token)); // nothing comes back, then its FIN
        ServiceStatistics stats = net.Host["discard"]!.Statistics;
        await net.EventuallyAsync(() => stats.ActiveConnections == 0, "discard finished");
        Assert.Equal(3 * 1024 * 1024 + 5, stats.BytesReceived);
        Assert.Equal(0, stats.BytesSent);
        Assert.Equal(0, stats.ConnectionsFailed);
    }

    [Fact]
    public async Task Daytime_sends_one_line_and_closes_first_passing_fin_wait_1_fin_wait_2_and_time_wait()
    {
        var now = new DateTimeOffset(2026, 3, 1, 7, 8, 9, TimeSpan.Zero);
        await using TwoStacks net = TwoStacks.Start(new FakeTimeProvider(now)); // the daytime service's clock stands still
        await using UserTcpConnection client = await net.ConnectAsync(DaytimeService.Port);

        byte[] line = await ReadToEnd(client, net.Token);
        Assert.Equal("Sun Mar  1 07:08:09 2026\r\n", Encoding.ASCII.GetString(line));
        Assert.Equal(TcpState.CloseWait, client.State); // the server's FIN came first: we are the passive closer
        var id = new FourTuple(client.RemoteEndpoint, client.LocalEndpoint);
        // Our ACK of its FIN puts the server in FIN-WAIT-2; closing before that ACK left could merge ACK and FIN.
        await net.EventuallyAsync(() => net.ServerEvents.StatesOf(id) is [.., TcpState.FinWait2], "the server reached FIN-WAIT-2");
        await client.CloseAsync(net.Token);

        Assert.Equal(
            [TcpState.SynReceived, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.TimeWait, TcpState.Closed],
            await StatesWhenClosed(net, id));
        Assert.Equal([TcpState.SynSent, TcpState.Established, TcpState.CloseWait, TcpState.LastAck, TcpState.Closed],
            net.ClientEvents.StatesOf(new FourTuple(client.LocalEndpoint, client.RemoteEndpoint)));
    }

    [Fact]
    public void Daytime_lines_follow_ctime()
    {
        Assert.Equal("Tue Mar 10 12:34:56 2026\r\n", DaytimeService.Format(new DateTimeOffset(2026, 3, 10, 12, 34, 56, TimeSpan.Zero)));
        Assert.Equal("Thu Jan  1 00:00:00 1970\r\n", DaytimeService.Format(DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public async Task Chargen_sends_rotating_72_character_lines_through_a_half_close_until_reset()
    {
        await using TwoStacks net = TwoStacks.Start();
        UserTcpConnection client = await net.ConnectAsync(ChargenService.Port);

        const int Lines = 2000; // more than 21 periods of 95 lines
        byte[] first = await ReadExactly(client, 100 * 74, net.Token);
        client.Shutdown(SocketShutdown.Send); // RFC 864: only the end of the connection stops the stream
        byte[] rest = await ReadExactly(client, (Lines - 100) * 74, net.Token);
        string text = Encoding.ASCII.GetString([.. first, .. rest]);
        for (int i = 0; i < Lines; i++)
        {
            Assert.Equal(ChargenService.Line(i), text.Substring(i * 74, 74));
        }
        Assert.Equal(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n", ChargenService.Line(0));
        Assert.Equal(ChargenService.Line(0), ChargenService.Line(ChargenService.Period));

        // Closing with its data unread resets the connection (RFC 2525 §2.17): that ends the generator, not as a failure.
        await client.CloseAsync(net.Token);
        ServiceStatistics stats = net.Host["chargen"]!.Statistics;
        await net.EventuallyAsync(() => stats.ActiveConnections == 0, "chargen stopped after the reset");
        Assert.Equal(0, stats.ConnectionsFailed);
    }

    [Fact]
    public async Task Chargen_writes_more_than_the_send_buffer_holds_so_its_task_wakes_once_per_write_not_per_ack()
    {
        await using TwoStacks net = TwoStacks.Start();
        UserTcpConnection client = await net.ConnectAsync(ChargenService.Port);

        const int Received = 4 * 1024 * 1024;
        byte[] data = await ReadExactly(client, Received, net.Token);
        Assert.Equal(ChargenService.Line(Received / 74 - 1), Encoding.ASCII.GetString(data, (Received / 74 - 1) * 74, 74)); // the pattern runs on across writes
        await client.CloseAsync(net.Token);
        ServiceStatistics stats = net.Host["chargen"]!.Statistics;
        await net.EventuallyAsync(() => stats.ActiveConnections == 0, "chargen stopped after the reset");

        // Each write that finished handed TCP more than its whole send buffer (the one still waiting at the reset is not
        // counted), so it waited for room while the stack sent: one wake of the task per 267,140 bytes.
        Assert.True(new Engine.TcpConfig().SendBufferSize < ChargenService.WriteSize);
        Assert.True(stats.Writes >= Received / ChargenService.WriteSize - 1, $"{stats.Writes} writes");
        Assert.Equal(stats.Writes * ChargenService.WriteSize, stats.BytesSent);
    }

    [Fact]
    public async Task Stopping_the_host_closes_open_connections_with_a_fin()
    {
        await using TwoStacks net = TwoStacks.Start();
        await using UserTcpConnection client = await net.ConnectAsync(DiscardService.Port);
        await net.EventuallyAsync(() => net.Host["discard"]!.Statistics.ActiveConnections == 1, "discard accepted");

        await net.Host.StopAsync(net.Token);

        Assert.Equal(0, await client.ReadAsync(new byte[1], net.Token));
        Assert.Empty(net.Server.SnapshotListeners());
        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => net.ConnectAsync(EchoService.Port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task A_port_already_taken_fails_the_start_and_leaves_nothing_listening()
    {
        await using TwoStacks net = TwoStacks.Start(options: new ServiceHostOptions { Services = [new("echo", 7000)] });

        SocketException taken = Assert.Throws<SocketException>(() => ServiceHost.Start(net.Server,
            new ServiceHostOptions { Services = [new("discard", 7001), new("chargen", 7000)] }));

        Assert.Equal(SocketError.AddressAlreadyInUse, taken.SocketErrorCode);
        ConnectionSnapshot only = Assert.Single(net.Server.SnapshotListeners());
        Assert.Equal(7000, only.Local.Port);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // the table is the usertcp command's (UserTcp.Cli)
    public async Task The_table_lists_listeners_and_connections_as_ss_does()
    {
        await using TwoStacks net = TwoStacks.Start(options: new ServiceHostOptions { Services = [new("echo", 7), new("http", 80)] });
        await using UserTcpConnection client = await net.ConnectAsync(EchoService.Port);
        await net.EventuallyAsync(() => net.Host["echo"]!.Statistics.ActiveConnections == 1, "echo accepted");

        string[] lines = ConnectionTable.Format(ConnectionTable.Collect(net.Server)).TrimEnd('\n').Split('\n');

        Assert.Matches(@"^State +Recv-Q Send-Q Local Address:Port +Peer Address:Port +Timer$", lines[0]);
        Assert.Matches(@"^LISTEN +0 +128 10\.0\.0\.2:7 +0\.0\.0\.0:\*$", lines[1]);
        Assert.Matches(@"^LISTEN +0 +512 10\.0\.0\.2:80 +0\.0\.0\.0:\*$", lines[2]); // Kestrel's backlog
        Assert.Matches($@"^ESTAB +0 +0 10\.0\.0\.2:7 +10\.0\.0\.1:{client.LocalEndpoint.Port} +timer:\((off|delack|[a-z0-9]+),.*\)", lines[3]);
        Assert.Equal(4, lines.Length);
        string json = ConnectionTable.ToJson(ConnectionTable.Collect(net.Server));
        Assert.Contains("\"ssState\": \"ESTAB\"", json, StringComparison.Ordinal);
        Assert.Contains("\"state\": \"LISTEN\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "0ms")]
    [InlineData(208, "208ms")]
    [InlineData(1200, "1.2sec")]
    [InlineData(59_000, "59sec")]
    [InlineData(150_000, "2.5min")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Durations_print_as_ss_prints_them(int milliseconds, string expected) =>
        Assert.Equal(expected, ConnectionTable.Duration(TimeSpan.FromMilliseconds(milliseconds)));

    private static async Task<IReadOnlyList<TcpState>> StatesWhenClosed(TwoStacks net, FourTuple id)
    {
        await net.EventuallyAsync(() => net.ServerEvents.StatesOf(id) is [.., TcpState.Closed], $"{id} closed on the server");
        return net.ServerEvents.StatesOf(id);
    }

    internal static async Task<byte[]> ReadExactly(UserTcpConnection connection, int count, CancellationToken token)
    {
        byte[] buffer = new byte[count];
        int have = 0;
        while (have < count)
        {
            int n = await connection.ReadAsync(buffer.AsMemory(have), token);
            if (n == 0) throw new EndOfStreamException($"end of stream after {have} of {count} bytes");
            have += n;
        }
        return buffer;
    }

    internal static async Task<byte[]> ReadToEnd(UserTcpConnection connection, CancellationToken token)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = await connection.ReadAsync(buffer, token)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }
}
