using System.Net;
using UserTcp.Engine;
using UserTcp.Tun;
using UserTcp.Lab;
using LabKernelSocket = UserTcp.Lab.KernelSocket;

namespace UserTcp.Integration.Tests;

/// <summary>The lab's kernel socket (a System.Net socket made inside the run's namespace), over the namespace's loopback.</summary>
public sealed class LabKernelSocketTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [RequiresNetAdminFact]
    public async Task A_read_to_the_end_whose_time_runs_out_between_its_check_and_its_wait_returns_what_came_and_does_not_throw()
    {
        using NetNamespace ns = NetNamespace.Create();
        (LabKernelSocket client, LabKernelSocket server) = await PairAsync(ns.Scratch, 5010);
        using (client)
        using (server)
        {
            // A bound of a tick runs out, now and then, after the loop saw time left and before the wait was set: the wait
            // must not be given the negative rest (Socket.Poll throws on it, and takes -1 ms for "forever").
            for (int i = 0; i < 200_000; i++)
            {
                (byte[] data, bool ended) = server.ReadToEnd(TimeSpan.FromTicks(1 + i % 4));
                Assert.Equal((0, false), (data.Length, ended));
            }
            client.Send("end");
            client.ShutdownSend();
            (byte[] rest, bool fin) = server.ReadToEnd(Timeout);
            Assert.Equal(("end", true), (System.Text.Encoding.ASCII.GetString(rest), fin));
        }
    }

    [RequiresNetAdminFact]
    public async Task A_connect_that_gets_no_answer_in_time_times_out_and_is_not_taken_for_the_runs_cancellation()
    {
        using NetNamespace ns = NetNamespace.Create();
        using TunDevice tun = ns.OpenTun(Addresses.Options()); // nobody reads it: the kernel's SYNs go unanswered
        using LabKernelSocket client = LabKernelSocket.Create(ns.Scratch, CongestionControlAlgorithm.Cubic);

        // A cancellation would leave LabRunner (which records a scenario's exceptions, cancellations aside) and end the lab command.
        await Assert.ThrowsAsync<TimeoutException>(
            () => client.ConnectAsync(new IPEndPoint(IPAddress.Parse(Addresses.Stack), 5011), TimeSpan.FromMilliseconds(300)));
    }

    [RequiresNetAdminFact]
    public async Task An_accept_with_nobody_connecting_times_out_with_a_timeout_not_a_cancellation()
    {
        using NetNamespace ns = NetNamespace.Create();
        using LabKernelSocket listener = LabKernelSocket.Listen(ns.Scratch, CongestionControlAlgorithm.Cubic, new IPEndPoint(IPAddress.Loopback, 5012));

        await Assert.ThrowsAsync<TimeoutException>(() => listener.AcceptAsync(TimeSpan.FromMilliseconds(200)));
    }

    [RequiresNetAdminFact]
    public async Task Tcp_info_reads_the_kernels_rtt_estimate_and_rto_and_what_is_unacknowledged()
    {
        using NetNamespace ns = NetNamespace.Create();
        (LabKernelSocket client, LabKernelSocket server) = await PairAsync(ns.Scratch, 5013);
        using (client)
        using (server)
        {
            client.Send("ping");
            Assert.Equal(4, server.Read(Timeout)!.Length);
            KernelTcpInfo info = client.Info();

            // Loopback: an SRTT of microseconds, and the 200 ms floor under the RTO (tcp_rto_min); nothing left out once read.
            Assert.Equal(0, info.CaState); // TCP_CA_Open
            Assert.InRange(info.Srtt, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(50));
            Assert.InRange(info.Rto, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(300));
            // No reduction yet (TCP_INFINITE_SSTHRESH); the initial window (RFC 6928), or one more once the ping's ACK came.
            Assert.Equal(int.MaxValue, info.SlowStartThreshold);
            Assert.InRange(info.CongestionWindow ?? 0, 10, 11);
            Assert.True(await WaitAsync(() => client.Info().Unacked == 0), $"unacked {client.Info().Unacked}");
        }
    }

    [RequiresNetAdminTheory]
    [InlineData(CongestionControlAlgorithm.Cubic, "cubic")]
    [InlineData(CongestionControlAlgorithm.NewReno, "reno")]
    [InlineData(CongestionControlAlgorithm.Bbr, "bbr")]
    public async Task Every_socket_runs_the_congestion_control_it_was_made_with_the_accepted_one_too(CongestionControlAlgorithm congestion, string linuxName)
    {
        using NetNamespace ns = NetNamespace.Create();
        // The namespace's own default differs from each of them, so a socket that was not set would show it.
        string other = linuxName == "reno" ? "bbr" : "reno";
        Assert.Equal(other, ns.Scratch.Invoke(() => LabRunner.WriteKernelSetting("tcp_congestion_control", other)));
        (LabKernelSocket client, LabKernelSocket server) = await PairAsync(ns.Scratch, 5014, congestion);
        using (client)
        using (server)
        {
            Assert.Equal((linuxName, linuxName), (client.CongestionControlInUse, server.CongestionControlInUse));
            // A socket made in the namespace without TCP_CONGESTION runs the namespace's default.
            using var plain = ns.Scratch.Invoke(() => new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp));
            byte[] name = new byte[16];
            int length = plain.GetRawSocketOption(6, 13, name); // IPPROTO_TCP, TCP_CONGESTION
            Assert.Equal(other, System.Text.Encoding.ASCII.GetString(name, 0, length).TrimEnd('\0'));
        }
    }

    [Fact]
    public void Tcp_info_is_read_at_linuxs_offsets_and_a_short_one_is_refused()
    {
        byte[] raw = new byte[KernelTcpInfo.Length];
        raw[1] = 3; // TCP_CA_Recovery
        BitConverter.TryWriteBytes(raw.AsSpan(8), 204_000u);
        BitConverter.TryWriteBytes(raw.AsSpan(24), 2u);
        BitConverter.TryWriteBytes(raw.AsSpan(68), 650u);
        BitConverter.TryWriteBytes(raw.AsSpan(72), 300u);

        Assert.Equal(new KernelTcpInfo(3, TimeSpan.FromMilliseconds(204), 2, TimeSpan.FromMicroseconds(650), TimeSpan.FromMicroseconds(300)), KernelTcpInfo.Parse(raw));
        Assert.Throws<ArgumentException>(() => KernelTcpInfo.Parse(raw.AsSpan(0, 72)));

        // With tcpi_snd_ssthresh (76) and tcpi_snd_cwnd (80), in segments.
        byte[] longer = [.. raw, .. new byte[KernelTcpInfo.CongestionLength - KernelTcpInfo.Length]];
        BitConverter.TryWriteBytes(longer.AsSpan(76), 0x7fffffffu);
        BitConverter.TryWriteBytes(longer.AsSpan(80), 10u);
        KernelTcpInfo full = KernelTcpInfo.Parse(longer);
        Assert.Equal((int.MaxValue, 10), (full.SlowStartThreshold, full.CongestionWindow));
        Assert.Equal(TimeSpan.FromMicroseconds(650), full.Srtt);
    }

    private static async Task<bool> WaitAsync(Func<bool> condition)
    {
        for (int i = 0; i < 100 && !condition(); i++) await Task.Delay(10);
        return condition();
    }

    private static async Task<(LabKernelSocket Client, LabKernelSocket Server)> PairAsync(ScratchNamespace ns, ushort port,
        CongestionControlAlgorithm congestion = CongestionControlAlgorithm.Cubic)
    {
        var at = new IPEndPoint(IPAddress.Loopback, port);
        using LabKernelSocket listener = LabKernelSocket.Listen(ns, congestion, at);
        LabKernelSocket client = LabKernelSocket.Create(ns, congestion);
        Task<LabKernelSocket> accepting = listener.AcceptAsync(Timeout);
        await client.ConnectAsync(at, Timeout);
        return (client, await accepting);
    }
}
