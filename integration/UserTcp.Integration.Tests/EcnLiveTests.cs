using System.Globalization;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// ECN (RFC 3168) against the kernel over TUN, with net.ipv4.tcp_ecn=1 set inside the test's own namespace only: the
/// handshake agrees both ways (UserTcp connecting to a kernel server, a kernel client connecting to UserTcp), each side
/// sees the other's ECT(0) data (TCPI_OPT_ECN and TCPI_OPT_ECN_SEEN in both tcp_infos), and a CE mark the fault
/// injector sets on UserTcp's data makes the kernel echo it and UserTcp reduce its window without a retransmission.
/// </summary>
public sealed class EcnLiveTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(30);
    private const int Size = 200_000;
    private const int TcpiOptEcn = 8, TcpiOptEcnSeen = 16;

    // python3 -c Server PORT SIZE: accepts one connection, reads SIZE bytes, sends SIZE bytes, prints its tcpi_options
    // (struct tcp_info's sixth byte) while the connection is still open, then closes.
    private const string Server = """
        import socket, sys
        port, size = int(sys.argv[1]), int(sys.argv[2])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(1)
        print("listening", flush=True)
        conn, _ = server.accept()
        got = 0
        while got < size:
            data = conn.recv(65536)
            if not data:
                break
            got += len(data)
        conn.sendall(bytes(size))
        print("options", conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5], flush=True)
        conn.recv(1)
        conn.close()
        """;

    // python3 -c Client HOST PORT SIZE: connects, sends SIZE bytes, reads SIZE bytes, prints its tcpi_options, closes.
    private const string Client = """
        import socket, sys
        host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        conn = socket.create_connection((host, port))
        conn.sendall(bytes(size))
        got = 0
        while got < size:
            data = conn.recv(65536)
            if not data:
                break
            got += len(data)
        print("options", conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[5], flush=True)
        conn.close()
        """;

    private static void EnableKernelEcn(LiveStack live) =>
        Assert.Equal(0, live.Namespace.Run(TimeSpan.FromSeconds(10), "sysctl", "-qw", "net.ipv4.tcp_ecn=1").ExitCode);

    private static int KernelOptions(PeerProgram peer)
    {
        string line = Assert.Single(peer.OutputLines, l => l.StartsWith("options ", StringComparison.Ordinal));
        return int.Parse(line["options ".Length..], CultureInfo.InvariantCulture);
    }

    private static async Task Exchange(UserTcpConnection connection, bool sendFirst, CancellationToken token)
    {
        byte[] data = new byte[Size];
        if (sendFirst) await connection.WriteAsync(data, token);
        int got = 0;
        byte[] buffer = new byte[65536];
        while (got < Size)
        {
            int read = await connection.ReadAsync(buffer, token);
            if (read == 0) break;
            got += read;
        }
        Assert.Equal(Size, got);
        if (!sendFirst) await connection.WriteAsync(data, token);
    }

    [RequiresNetAdminFact("python3")]
    public async Task Usertcp_requesting_ecn_connects_to_a_kernel_server_with_ecn_agreed_both_ways()
    {
        var tcp = new TcpConfig { TimeWait = LiveStack.ShortTimeWait, Ecn = EcnMode.Request };
        await using LiveStack live = LiveStack.Start(tcp: tcp);
        EnableKernelEcn(live);
        PeerProgram server = live.Namespace.Start("python3", "-c", Server, "5031", Size.ToString(CultureInfo.InvariantCulture));
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);

        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5031), live.Token);
        await Exchange(connection, sendFirst: true, live.Token);
        Assert.True(server.WaitForOutputLine(l => l.StartsWith("options ", StringComparison.Ordinal), PeerTimeout), server.Transcript);
        TcpConnectionInfo info = connection.Info();
        await connection.WriteAsync(new byte[1], live.Token); // lets the server close

        FourTuple id = Assert.Single(live.Events.Events.Select(e => e.Connection).Where(c => c.Remote.Port == 5031).Distinct());
        TcpEvent[] segments = [.. live.Events.Events.Where(e => e.Connection == id && e.Kind is TcpEventKind.SegmentOut or TcpEventKind.SegmentIn)];
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, segments.First(e => e.Kind == TcpEventKind.SegmentOut).Segment.Flags);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, segments.First(e => e.Kind == TcpEventKind.SegmentIn).Segment.Flags);
        Assert.True(info.Ecn, "UserTcp's tcp_info has no TCPI_OPT_ECN");
        Assert.True(info.EcnSeen, "the kernel's data did not arrive ECT");
        Assert.Equal(TcpiOptEcn | TcpiOptEcnSeen, KernelOptions(server) & (TcpiOptEcn | TcpiOptEcnSeen));
    }

    [RequiresNetAdminFact("python3")]
    public async Task A_kernel_client_requesting_ecn_is_agreed_to_by_default()
    {
        await using LiveStack live = LiveStack.Start(); // TcpConfig.Ecn is Accept by default, as Linux's tcp_ecn=2
        EnableKernelEcn(live);
        using UserTcpListener listener = live.Stack.Listen(5032);
        PeerProgram client = live.Namespace.Start("python3", "-c", Client, Addresses.StackAddress.ToString(), "5032", Size.ToString(CultureInfo.InvariantCulture));
        await using UserTcpConnection connection = await listener.AcceptAsync(live.Token).AsTask().WaitAsync(PeerTimeout, live.Token);
        await Exchange(connection, sendFirst: false, live.Token);
        TcpConnectionInfo info = connection.Info();
        Assert.True(client.WaitForExit(PeerTimeout), client.Transcript);

        Assert.True(info.Ecn, "UserTcp's tcp_info has no TCPI_OPT_ECN");
        Assert.True(info.EcnSeen, "the kernel's data did not arrive ECT");
        Assert.Equal(TcpiOptEcn | TcpiOptEcnSeen, KernelOptions(client) & (TcpiOptEcn | TcpiOptEcnSeen));
    }

    [RequiresNetAdminFact("python3")]
    public async Task A_ce_mark_on_usertcps_data_is_echoed_by_the_kernel_and_reduces_cwnd_without_a_loss_recovery()
    {
        var tcp = new TcpConfig { TimeWait = LiveStack.ShortTimeWait, Ecn = EcnMode.Request };
        await using LiveStack live = LiveStack.Start(tcp: tcp, faults: [FaultRule.Parse("mark to-kernel data nth=20")]);
        EnableKernelEcn(live);
        PeerProgram server = live.Namespace.Start("python3", "-c", Server, "5033", Size.ToString(CultureInfo.InvariantCulture));
        Assert.True(server.WaitForOutputLine(l => l == "listening", PeerTimeout), server.Transcript);

        await using UserTcpConnection connection = await live.Stack.ConnectAsync(new IpEndpoint(Addresses.KernelAddress, 5033), live.Token);
        await Exchange(connection, sendFirst: true, live.Token);
        await connection.WriteAsync(new byte[1], live.Token);

        FourTuple id = Assert.Single(live.Events.Events.Select(e => e.Connection).Where(c => c.Remote.Port == 5033).Distinct());
        Assert.Equal(1, live.Faults!.Counters.Marked);
        Assert.Contains(live.Events.Events, e => e.Connection == id && e.Kind == TcpEventKind.SegmentIn && (e.Segment.Flags & TcpFlags.Ece) != 0);
        // One reduction (the lab's recorder keeps no CongestionWindowReduced events: the counter says it).
        Assert.Equal(1, live.Stack.Counters[MibCounter.UserTcpEcnEchoReductions]);
        Assert.Contains(live.Events.Events, e => e.Connection == id && e.Kind == TcpEventKind.SegmentOut && (e.Segment.Flags & TcpFlags.Cwr) != 0);
        // The mark resends nothing (RFC 3168 §6.1.2): no fast retransmit, no recovery. Under load an ACK held longer than
        // the probe timeout may still draw a tail loss probe or a timeout's resend, which is the scheduler's doing, not
        // the mark's: those are the only resends allowed (the suite saw one such probe at load ~10).
        EngineCounters counters = live.Stack.Counters;
        Assert.Equal(0, counters[MibCounter.TcpExtTCPFastRetrans] + counters[MibCounter.TcpExtTCPSackRecovery] + counters[MibCounter.TcpExtTCPRenoRecovery]);
        long allowed = counters[MibCounter.TcpExtTCPLossProbes] + counters.RetransmissionTimeouts + counters[MibCounter.TcpExtTCPSlowStartRetrans];
        Assert.True(connection.Info().TotalRetransmissions <= allowed,
            $"{connection.Info().TotalRetransmissions} retransmissions; loss probes, timeouts and their Loss phase's resends: {allowed}");
    }
}
