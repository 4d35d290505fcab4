using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Sockets;

namespace UserTcp.Integration.Tests;

/// <summary>
/// TCP Fast Open (RFC 7413) with a kernel client over TUN, net.ipv4.tcp_fastopen=1 set inside the test's own namespace
/// only: the client's first sendto(MSG_FASTOPEN) asks for a cookie and sends its data after the handshake; its second
/// carries the request in the SYN with the cookie, and UserTcp's SYN-ACK acknowledges it (the kernel's
/// TcpExtTCPFastOpenActive, UserTcp's TcpExtTCPFastOpenPassive). A cookie the server no longer takes (its key changed)
/// falls back cleanly: the SYN's data is not acknowledged, the kernel sends it again, and the exchange completes.
/// </summary>
public sealed class FastOpenLiveTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);

    // python3 -c Client HOST PORT COUNT: COUNT connections, each sendto(MSG_FASTOPEN) of a request, reads the echo
    // of it, prints "echoed N", closes.
    private const string Client = """
        import socket, sys
        host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        for i in range(count):
            conn = socket.socket()
            request = b"request %d" % i
            conn.sendto(request, socket.MSG_FASTOPEN, (host, port))
            got = b""
            while len(got) < len(request):
                data = conn.recv(100)
                if not data:
                    break
                got += data
            print("echoed", i if got == request else -1, flush=True)
            conn.close()
        """;

    private static TcpConfig FastOpenServer(FastOpenKey key) =>
        new() { TimeWait = LiveStack.ShortTimeWait, FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = key };

    private static void EnableKernelFastOpen(LiveStack live) =>
        Assert.Equal(0, live.Namespace.Run(TimeSpan.FromSeconds(10), "sysctl", "-qw", "net.ipv4.tcp_fastopen=1").ExitCode);

    private static long KernelCounter(LiveStack live, string name)
    {
        PeerProgram nstat = live.Namespace.Run(TimeSpan.FromSeconds(10), "nstat", "-saz", name);
        string line = Assert.Single(nstat.OutputLines, l => l.StartsWith(name, StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>Echoes what each accepted connection sends until it closes, <paramref name="count"/> connections.</summary>
    private static async Task<List<TcpConnectionInfo>> EchoAsync(UserTcpListener listener, int count, CancellationToken token)
    {
        var infos = new List<TcpConnectionInfo>();
        byte[] buffer = new byte[100];
        for (int i = 0; i < count; i++)
        {
            await using UserTcpConnection connection = await listener.AcceptAsync(token).AsTask().WaitAsync(PeerTimeout, token);
            infos.Add(connection.Info()); // at accept: a Fast Open connection may still be in SYN-RECEIVED
            int read;
            while ((read = await connection.ReadAsync(buffer, token)) > 0) await connection.WriteAsync(buffer.AsMemory(0, read), token);
        }
        return infos;
    }

    [RequiresNetAdminFact("python3", "nstat")]
    public async Task A_kernel_client_gets_a_cookie_then_its_next_syn_carries_data_that_usertcp_acknowledges()
    {
        await using LiveStack live = LiveStack.Start(tcp: FastOpenServer(FastOpenKey.CreateRandom()));
        EnableKernelFastOpen(live);
        using UserTcpListener listener = live.Stack.Listen(5041, options: new UserTcpConnectionOptions { FastOpenQueueLength = 8 });
        Task<List<TcpConnectionInfo>> serving = EchoAsync(listener, 2, live.Token);
        PeerProgram client = live.Namespace.Start("python3", "-c", Client, Addresses.StackAddress.ToString(), "5041", "2");
        Assert.True(client.WaitForExit(PeerTimeout), client.Transcript);
        Assert.Equal(["echoed 0", "echoed 1"], client.OutputLines);
        List<TcpConnectionInfo> infos = await serving.WaitAsync(PeerTimeout, live.Token);

        Assert.False(infos[0].FastOpenSynData); // the first asked for a cookie only
        Assert.True(infos[1].FastOpenSynData, "the second SYN's data was not taken");
        Assert.Equal(1, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenCookieReqd]);
        Assert.Equal(1, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
        Assert.Equal(0, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenPassiveFail]);
        Assert.Equal(1, KernelCounter(live, "TcpExtTCPFastOpenActive"));
        Assert.Equal(0, KernelCounter(live, "TcpExtTCPFastOpenActiveFail"));
    }

    // python3 -c AnswerClient HOST PORT1 PORT2: a cookie from PORT1's connection, then PORT2's request in the SYN; prints
    // "echoed SECONDS" for each, the time from sendto to the whole echo.
    private const string AnswerClient = """
        import socket, sys, time
        host = sys.argv[1]
        for port in (int(sys.argv[2]), int(sys.argv[3])):
            conn = socket.socket()
            start = time.monotonic()
            conn.sendto(b"request", socket.MSG_FASTOPEN, (host, port))
            got = b""
            while len(got) < 7:
                data = conn.recv(100)
                if not data:
                    break
                got += data
            print("echoed" if got == b"request" else "short", "%.3f" % (time.monotonic() - start), flush=True)
            conn.close()
        """;

    [RequiresNetAdminFact("python3")]
    public async Task Usertcps_answer_to_a_request_in_the_syn_goes_before_the_handshakes_ack_which_the_link_loses()
    {
        // The kernel's handshake ACK on the second port is lost: the answer still leaves at once (Linux's tcp_passive_fastopen
        // lets the accepted connection send in SYN-RECEIVED), and the kernel's ACK of it completes the handshake; no SYN-ACK
        // is resent. A server that waited for the handshake's ACK would answer after its SYN-ACK's 1 s timeout.
        await using LiveStack live = LiveStack.Start(tcp: FastOpenServer(FastOpenKey.CreateRandom()),
            faults: [FaultRule.Parse("drop from-kernel flags==ACK empty port=5044 nth=1")]);
        EnableKernelFastOpen(live);
        var options = new UserTcpConnectionOptions { FastOpenQueueLength = 8 };
        using UserTcpListener cookies = live.Stack.Listen(5043, options: options);
        using UserTcpListener listener = live.Stack.Listen(5044, options: options);
        Task<List<TcpConnectionInfo>> first = EchoAsync(cookies, 1, live.Token);
        Task<List<TcpConnectionInfo>> second = EchoAsync(listener, 1, live.Token);
        PeerProgram client = live.Namespace.Start("python3", "-c", AnswerClient, Addresses.StackAddress.ToString(), "5043", "5044");
        Assert.True(client.WaitForExit(PeerTimeout), client.Transcript);
        await first.WaitAsync(PeerTimeout, live.Token);
        List<TcpConnectionInfo> infos = await second.WaitAsync(PeerTimeout, live.Token);

        Assert.Equal(1, live.Faults!.Counters.DroppedByRule);
        Assert.Equal(2, client.OutputLines.Count(l => l.StartsWith("echoed ", StringComparison.Ordinal)));
        Assert.True(infos[0].FastOpenSynData, "the second SYN's data was not taken");
        Assert.Equal(TcpState.SynReceived, infos[0].State); // accepted before the handshake's ACK
        double seconds = double.Parse(client.OutputLines[1].Split(' ')[1], CultureInfo.InvariantCulture);
        Assert.True(seconds < 0.5, $"the answer took {seconds} s: {client.Transcript}");
        Assert.Equal(0, live.Stack.Counters[MibCounter.TcpExtTCPSynRetrans]);
    }

    [RequiresNetAdminFact("python3", "nstat")]
    public async Task A_kernel_client_with_a_cookie_the_server_no_longer_takes_falls_back_and_its_data_arrives()
    {
        await using LiveStack live = LiveStack.Start(tcp: FastOpenServer(FastOpenKey.CreateRandom()));
        EnableKernelFastOpen(live);
        var options = new UserTcpConnectionOptions { FastOpenQueueLength = 8 };
        using UserTcpListener listener = live.Stack.Listen(5042, options: options);
        Task<List<TcpConnectionInfo>> first = EchoAsync(listener, 1, live.Token);
        PeerProgram cookie = live.Namespace.Start("python3", "-c", Client, Addresses.StackAddress.ToString(), "5042", "1");
        Assert.True(cookie.WaitForExit(PeerTimeout), cookie.Transcript);
        await first.WaitAsync(PeerTimeout, live.Token);

        listener.Options = options with { FastOpenKey = FastOpenKey.CreateRandom() }; // the kernel's cached cookie is stale now
        Task<List<TcpConnectionInfo>> second = EchoAsync(listener, 1, live.Token);
        PeerProgram stale = live.Namespace.Start("python3", "-c", Client, Addresses.StackAddress.ToString(), "5042", "1");
        Assert.True(stale.WaitForExit(PeerTimeout), stale.Transcript);
        Assert.Equal(["echoed 0"], stale.OutputLines);
        List<TcpConnectionInfo> infos = await second.WaitAsync(PeerTimeout, live.Token);

        Assert.False(infos[0].FastOpenSynData);
        Assert.False(infos[0].FastOpenChild);
        Assert.Equal(1, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenPassiveFail]);
        Assert.Equal(0, live.Stack.Counters[MibCounter.TcpExtTCPFastOpenPassive]);
        Assert.Equal(0, KernelCounter(live, "TcpExtTCPFastOpenActive"));
        Assert.Equal(1, KernelCounter(live, "TcpExtTCPFastOpenActiveFail"));
    }
}
