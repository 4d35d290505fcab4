using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets;

namespace UserTcp.Integration.Tests;

/// <summary>UserTcp as the client (ConnectAsync) and the kernel as the server, over TUN in a namespace.</summary>
public sealed class ClientTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);

    [RequiresNetAdminFact("python3")]
    public async Task Connect_to_a_kernel_listener_moves_10_MB_each_way_with_equal_sha256()
    {
        const int Size = 10 * 1024 * 1024;
        await using LiveStack live = LiveStack.Start(recordSegments: false);
        PeerProgram server = live.Namespace.Start("python3", "-c", KernelPeers.ListenBothWays, "5001", Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
        byte[] up = RandomNumberGenerator.GetBytes(Size);

        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5001), live.Token);
        Task send = Task.Run(async () =>
        {
            await connection.WriteAsync(up, live.Token);
            connection.Shutdown(SocketShutdown.Send);
        });
        using var down = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long received = 0;
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await connection.ReadAsync(buffer, live.Token)) > 0)
        {
            down.AppendData(buffer, 0, read);
            received += read;
        }
        await send;

        Assert.True(server.WaitForExit(PeerTimeout), server.Transcript);
        Assert.Contains($"received {Size} {Convert.ToHexStringLower(SHA256.HashData(up))}", server.OutputLines);
        Assert.Equal(Size, received);
        Assert.Contains($"sent {Size} {Convert.ToHexStringLower(down.GetHashAndReset())}", server.OutputLines);
    }

    [RequiresNetAdminFact("python3")]
    public async Task Closing_after_an_idle_half_close_waits_the_whole_fin_wait_2_timeout()
    {
        // The kernel peer acknowledges UserTcp's FIN but never sends its own: UserTcp sits in FIN-WAIT-2 (no timeout
        // while the application has merely shut down sending). Once the application closes, the connection is
        // orphaned and FIN-WAIT-2 may last FinWait2Timeout from then on (Linux: tcp_fin_timeout after close).
        var tcp = new TcpConfig { TimeWait = LiveStack.ShortTimeWait, FinWait2Timeout = TimeSpan.FromSeconds(1) };
        await using LiveStack live = LiveStack.Start(tcp: tcp);
        PeerProgram server = live.Namespace.Start("python3", "-c", KernelPeers.ListenAndStall, "5003");
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5003), live.Token);
        connection.Shutdown(SocketShutdown.Send);
        FourTuple id = Assert.Single(live.Events.Events.Select(e => e.Connection).Where(c => c.Remote.Port == 5003).Distinct());
        Assert.True(live.Events.WaitForState(id, TcpState.FinWait2, PeerTimeout), live.Events.Trace(id));

        // Idle for longer than the timeout: nothing happens on the connection meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(1.5), live.Token);
        long closed = Stopwatch.GetTimestamp();
        await connection.CloseAsync(live.Token);
        Assert.True(live.Events.WaitForState(id, TcpState.Closed, PeerTimeout), live.Events.Trace(id));
        TimeSpan orphaned = Stopwatch.GetElapsedTime(closed);

        // Fails while NetStack runs application calls against the engine's clock of its last Receive/Poll: the
        // FIN-WAIT-2 deadline is then armed 1.5 s in the past and fires at once (see the report on issue 4).
        Assert.True(orphaned >= TimeSpan.FromSeconds(0.9),
            $"orphaned FIN-WAIT-2 ended {orphaned.TotalMilliseconds:F0} ms after the close, not after the 1 s timeout:\n{live.Events.Trace(id)}");
    }

    [RequiresNetAdminFact("python3")]
    public void Usertcp_get_downloads_from_a_kernel_http_server()
    {
        const int Size = 5 * 1024 * 1024;
        string directory = Directory.CreateTempSubdirectory("usertcp-it-get-").FullName;
        try
        {
            byte[] blob = RandomNumberGenerator.GetBytes(Size);
            File.WriteAllBytes(Path.Combine(directory, "blob"), blob);
            string output = Path.Combine(directory, "downloaded");
            using NetNamespace ns = NetNamespace.Create();
            // The server binds before the interface exists: usertcp get creates it.
            PeerProgram server = ns.Start("python3", "-u", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", directory);
            Assert.True(server.WaitForOutputLine(l => l.StartsWith("Serving HTTP", StringComparison.Ordinal), PeerTimeout), server.Transcript);

            PeerProgram get = ns.Run(PeerTimeout, Path.Combine(AppContext.BaseDirectory, "usertcp"), "get",
                $"http://{Addresses.KernelCidr.Split('/')[0]}:8000/blob", "-o", output);

            Assert.True(get.ExitCode == 0, get.Transcript);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(blob)), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(output))));
            Assert.Contains(server.ErrorLines, l => l.Contains("\"GET /blob HTTP/1.1\" 200", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [RequiresNetAdminFact]
    public async Task Connect_to_a_closed_kernel_port_is_refused()
    {
        await using LiveStack live = LiveStack.Start();

        SocketException refused = await Assert.ThrowsAsync<SocketException>(() =>
            live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5999), live.Token));

        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        FourTuple connection = Assert.Single(live.Events.Events.Select(e => e.Connection).Where(c => c.Remote.Port == 5999).Distinct());
        Assert.Equal([TcpState.Closed, TcpState.SynSent, TcpState.Closed], live.Events.States(connection));
    }

    [RequiresNetAdminFact("python3")]
    public async Task Kernel_peer_killed_mid_transfer_resets_the_connection()
    {
        await using LiveStack live = LiveStack.Start(recordSegments: false);
        PeerProgram server = live.Namespace.Start("python3", "-c", KernelPeers.ListenAndStall, "5002");
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5002), live.Token);
        Assert.True(server.WaitForOutputLine(l => l == "accepted", PeerTimeout), server.Transcript);

        // The kernel acknowledges into its receive buffer what the program never reads; then UserTcp keeps writing
        // into a closing window when the program is killed. Linux resets a connection closed with unread data.
        byte[] chunk = new byte[64 * 1024];
        await connection.WriteAsync(chunk, live.Token);
        await connection.FlushAsync(live.Token);
        Task transfer = Task.Run(async () =>
        {
            for (int i = 0; i < 1600; i++)
            {
                await connection.WriteAsync(chunk, live.Token);
            }
        });
        server.Kill();

        SocketException reset = await Assert.ThrowsAsync<SocketException>(() => transfer);
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(TcpError.ConnectionReset, connection.Error);
        // The failure is reported once, as Linux's sock_error does: the next read sees end-of-stream.
        Assert.Equal(0, await connection.ReadAsync(chunk, live.Token));
    }
}
