using System.Globalization;
using System.Text;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets;

namespace UserTcp.Integration.Tests;

/// <summary>
/// TCP Fast Open (RFC 7413), UserTcp the client and the kernel the server, over TUN in a namespace: the first connection
/// gets a cookie, the second sends its request in the SYN and the kernel takes it (TcpExtTCPFastOpenPassive); against a
/// kernel without Fast Open the client falls back and loses nothing.
/// </summary>
public sealed class FastOpenClientLiveTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);

    // A kernel server that answers each connection's request with "echo:" and the request, n times; TCP_FASTOPEN gives the
    // listener a Fast Open queue (qlen 16), which is what makes the kernel hand out cookies and take data in SYNs.
    private const string FastOpenEcho = """
        import socket, sys
        port, count, fastopen = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fastopen:
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        server.bind(("0.0.0.0", port))
        server.listen(8)
        print("listening", flush=True)
        for _ in range(count):
            conn, _ = server.accept()
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"echo:" + data)
            conn.close()
            print("served", len(data), flush=True)
        """;

    [RequiresNetAdminFact("python3", "nstat", "sysctl")]
    public async Task The_second_connection_sends_its_request_in_the_syn_and_the_kernel_takes_it()
    {
        await using LiveStack live = LiveStack.Start(tcp: new TcpConfig { TimeWait = LiveStack.ShortTimeWait });
        Sysctl(live, "net.ipv4.tcp_fastopen=3");
        PeerProgram server = live.Namespace.Start("python3", "-c", FastOpenEcho, "5071", "2", "1");
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
        var options = new UserTcpConnectionOptions { FastOpenConnect = true };

        // First: no cookie yet, so the SYN asks for one and connecting waits for the handshake.
        Assert.Equal("echo:first\n", await RequestAsync(live, 5071, options, "first\n"));
        Assert.NotNull(live.Stack.FastOpenCookies.Get(Addresses.KernelAddress)?.Cookie);
        long passiveBefore = KernelCounter(live, "TcpExtTCPFastOpenPassive");

        // Second: the cookie is cached, so connecting completes at once and the request rides in the SYN.
        await using (UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5071), options, live.Token))
        {
            Assert.True(connection.FastOpenAwaitsData);
            await connection.WriteAsync(Encoding.ASCII.GetBytes("second\n"), live.Token);
            Assert.Equal("echo:second\n", await ReadAllAsync(connection, live.Token));
            Assert.True(connection.FastOpenSynDataAcknowledged);
        }
        Assert.True(server.WaitForExit(PeerTimeout), server.Transcript);
        Assert.Equal(passiveBefore + 1, KernelCounter(live, "TcpExtTCPFastOpenPassive"));
        Assert.Equal(1, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenActive]);
        Assert.Equal(0, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenActiveFail]);
    }

    [RequiresNetAdminFact("python3", "sysctl")]
    public async Task Against_a_kernel_without_fast_open_the_data_goes_after_the_handshake_and_nothing_is_lost()
    {
        await using LiveStack live = LiveStack.Start(tcp: new TcpConfig { TimeWait = LiveStack.ShortTimeWait });
        Sysctl(live, "net.ipv4.tcp_fastopen=0");
        PeerProgram server = live.Namespace.Start("python3", "-c", FastOpenEcho, "5072", "2", "0");
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
        var options = new UserTcpConnectionOptions { FastOpenConnect = true };
        string large = new string('x', 3000) + "\n"; // more than a SYN carries: the rest follows the handshake

        // A cookie the kernel never gave (as after the server turned Fast Open off): the SYN carries data it ignores.
        live.Stack.FastOpenCookies.Put(Addresses.KernelAddress, new FastOpenCacheEntry([1, 2, 3, 4, 5, 6, 7, 8], false, 1460, 0, default, 0));
        Assert.Equal("echo:" + large, await RequestAsync(live, 5072, options, large));
        Assert.Equal(1, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenActiveFail]); // the SYN-ACK acknowledged only the SYN
        // Without a cookie: the request for one goes unanswered, and the data follows the handshake.
        live.Stack.FastOpenCookies.Flush();
        Assert.Equal("echo:plain\n", await RequestAsync(live, 5072, options, "plain\n"));
        Assert.True(server.WaitForExit(PeerTimeout), server.Transcript);
        Assert.Equal(0, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenActive]);
    }

    // An HTTP server whose listener has a Fast Open queue: each connection's request (to its blank line) gets "ok".
    private const string FastOpenHttp = """
        import socket, sys
        port, count = int(sys.argv[1]), int(sys.argv[2])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        server.bind(("0.0.0.0", port))
        server.listen(8)
        print("listening", flush=True)
        for _ in range(count):
            conn, _ = server.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            conn.close()
            print("served", flush=True)
        """;

    [RequiresNetAdminFact("python3", "nstat", "sysctl")]
    public void Usertcp_get_fast_open_asks_for_a_cookie_then_sends_the_request_in_the_syn_of_the_next_run()
    {
        string cache = Directory.CreateTempSubdirectory("usertcp-it-tfo-").FullName;
        try
        {
            using NetNamespace ns = NetNamespace.Create();
            Assert.Equal(0, ns.Run(TimeSpan.FromSeconds(10), "sysctl", "-qw", "net.ipv4.tcp_fastopen=3").ExitCode);
            // The server binds before the interface exists: usertcp get creates it.
            PeerProgram server = ns.Start("python3", "-c", FastOpenHttp, "8071", "2");
            Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);
            string usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");
            string url = $"http://{Addresses.KernelCidr.Split('/')[0]}:8071/";

            PeerProgram first = ns.Run(PeerTimeout, "env", $"XDG_CACHE_HOME={cache}", usertcp, "get", "--fast-open", url);
            Assert.True(first.ExitCode == 0, first.Transcript);
            Assert.Contains(" cookie ", File.ReadAllText(Path.Combine(cache, "usertcp", "fastopen-cookies")), StringComparison.Ordinal);
            long passive = NstatIn(ns, "TcpExtTCPFastOpenPassive");

            PeerProgram second = ns.Run(PeerTimeout, "env", $"XDG_CACHE_HOME={cache}", usertcp, "get", "--fast-open", url);
            Assert.True(second.ExitCode == 0, second.Transcript);
            Assert.Contains("ok", second.OutputLines);
            Assert.True(server.WaitForExit(PeerTimeout), server.Transcript);
            Assert.Equal(passive + 1, NstatIn(ns, "TcpExtTCPFastOpenPassive")); // the second request came in the SYN
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    private static long NstatIn(NetNamespace ns, string name)
    {
        PeerProgram run = ns.Run(TimeSpan.FromSeconds(10), "nstat", "-az", name);
        Assert.True(run.ExitCode == 0, run.Transcript);
        string? line = run.OutputLines.FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private static async Task<string> RequestAsync(LiveStack live, ushort port, UserTcpConnectionOptions options, string request)
    {
        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, port), options, live.Token);
        await connection.WriteAsync(Encoding.ASCII.GetBytes(request), live.Token);
        return await ReadAllAsync(connection, live.Token);
    }

    private static async Task<string> ReadAllAsync(UserTcpConnection connection, CancellationToken token)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[65536];
        int read;
        while ((read = await connection.ReadAsync(buffer, token)) > 0) text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        return text.ToString();
    }

    private static void Sysctl(LiveStack live, string setting)
    {
        PeerProgram run = live.Namespace.Run(TimeSpan.FromSeconds(10), "sysctl", "-qw", setting);
        Assert.True(run.ExitCode == 0, run.Transcript);
    }

    private static long KernelCounter(LiveStack live, string name) => NstatIn(live.Namespace, name);
}
