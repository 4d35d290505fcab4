using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Tun;

namespace UserTcp.Lab;

/// <summary>
/// Both ends' TCP_INFO of one connection, read about every millisecond on a thread of its own (nice -20,
/// <see cref="PeerThread"/>) while part of a scenario runs: each change of a side's SRTT or RTO is noted in the record
/// as readings "tcpi_rtt" and "tcpi_rto" in microseconds (<see cref="LabReading"/>), so a verdict can say what each
/// side's estimator held at the instant it acted. With <c>congestion</c>, each change of a side's congestion window,
/// slow-start threshold or congestion state is noted too, as "tcpi_snd_cwnd" and "tcpi_snd_ssthresh" in segments (Linux's
/// unit; UserTcp's bytes divided by its send MSS, int.MaxValue while it has none) and "tcpi_ca_state". With <c>probes</c>,
/// each change of a side's unanswered probe count is noted as "tcpi_probes". Once the scenario closes the kernel's socket,
/// the kernel's side is read from the namespace's socket table (sock_diag's INET_DIAG_INFO) for as long as the orphan
/// lives. Disposing stops it, after one last reading.
/// </summary>
public sealed class TcpInfoWatch : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private PeerThread<int>? _thread;

    private TcpInfoWatch()
    {
    }

    /// <summary>
    /// Starts watching <paramref name="c"/> (its congestion window too when <paramref name="congestion"/>, its probe count
    /// when <paramref name="probes"/>); returns once the watching thread runs.
    /// </summary>
    public static async Task<TcpInfoWatch> StartAsync(LabSession s, LabConnection c, bool congestion = false, bool probes = false)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(c);
        var watch = new TcpInfoWatch();
        watch._thread = await PeerThread.StartAsync("lab tcp_info watch", () => watch.Loop(s, c, congestion, probes), s.Token).ConfigureAwait(false);
        return watch;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_thread is not null) await _thread.Completion.ConfigureAwait(false);
        _stop.Dispose();
    }

    // Returns how many readings it noted.
    private int Loop(LabSession s, LabConnection c, bool congestion, bool probes)
    {
        (long Rtt, long Rto) kernel = (-1, -1), userTcp = (-1, -1);
        long kernelProbes = -1, userTcpProbes = -1;
        (long Cwnd, long Ssthresh, long State) kernelWindow = (-1, -1, -1), userTcpWindow = (-1, -1, -1);
        int noted = 0;
        // Once the scenario closes the kernel's socket, its tcp_info comes from the socket table instead (sock_diag), where
        // the orphan lives on while it still sends: a sender that closes right after its write is still watched.
        KernelTcpTable? table = null;
        try
        {
            while (true)
            {
                // One reading more once stopping is asked: a transfer that ended within a millisecond (or while this thread
                // waited for the CPU) still leaves its final cwnd and ssthresh in the record.
                bool last = _stop.IsCancellationRequested || s.Token.IsCancellationRequested;
                KernelTcpInfo? k = KernelInfo(s, c, ref table);
                TcpConnectionInfo u = c.UserTcp.Info();
                TimeSpan now = s.Now;
                if (k is { } ki) noted += Note(s, c.Id, LabSide.Kernel, now, ki.Srtt, ki.Rto, ref kernel);
                noted += Note(s, c.Id, LabSide.UserTcp, now, u.SmoothedRtt, u.Rto, ref userTcp);
                if (congestion)
                {
                    if (k is { } kc) noted += Note(s, c.Id, LabSide.Kernel, now, (kc.CongestionWindow ?? -1, kc.SlowStartThreshold ?? -1, kc.CaState), ref kernelWindow);
                    noted += Note(s, c.Id, LabSide.UserTcp, now, (Segments(u.CongestionWindow, u.SendMss), Segments(u.SlowStartThreshold, u.SendMss), (long)u.CongestionState), ref userTcpWindow);
                }
                if (probes)
                {
                    if (k is { } kp) noted += Note(s, c.Id, LabSide.Kernel, now, "tcpi_probes", kp.Probes, ref kernelProbes);
                    noted += Note(s, c.Id, LabSide.UserTcp, now, "tcpi_probes", u.Probes, ref userTcpProbes);
                }
                if (last) break;
                Thread.Sleep(1);
            }
        }
        catch (ObjectDisposedException)
        {
            // UserTcp's side went away under the watch (the run ended): nothing more to read.
        }
        finally
        {
            table?.Dispose();
        }
        return noted;
    }

    /// <summary>
    /// The kernel's tcp_info of the connection: by getsockopt while the scenario holds the socket, then from the socket
    /// table (null once the socket has left it, or is a TIME-WAIT or request socket, which carry none).
    /// </summary>
    private static KernelTcpInfo? KernelInfo(LabSession s, LabConnection c, ref KernelTcpTable? table)
    {
        if (table is null)
        {
            try
            {
                return c.Kernel.Info();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                try
                {
                    table = s.Namespace.OpenTcpTable();
                }
                catch (Exception gone) when (gone is TunException or ObjectDisposedException or InvalidOperationException)
                {
                    return null; // the namespace is going away with the run
                }
            }
        }
        string local = c.Id.Remote.ToString(), remote = c.Id.Local.ToString();
        try
        {
            foreach (KernelTcpSocket socket in table.Read(withInfo: true))
            {
                if (socket.Local.ToString() == local && socket.Remote.ToString() == remote && socket.Info is { } info) return info;
            }
        }
        catch (Exception e) when (e is TunException or ObjectDisposedException)
        {
            // The namespace is going away with the run: nothing more to read on the kernel's side.
        }
        return null;
    }

    private static int Note(LabSession s, FourTuple connection, LabSide side, TimeSpan now, (long Cwnd, long Ssthresh, long State) window, ref (long Cwnd, long Ssthresh, long State) last)
    {
        if (window == last) return 0;
        last = window;
        s.Note(side, connection, "tcpi_snd_cwnd", window.Cwnd, now);
        s.Note(side, connection, "tcpi_snd_ssthresh", window.Ssthresh, now);
        s.Note(side, connection, "tcpi_ca_state", window.State, now);
        return 3;
    }

    private static int Note(LabSession s, FourTuple connection, LabSide side, TimeSpan now, string name, long value, ref long last)
    {
        if (value == last) return 0;
        last = value;
        s.Note(side, connection, name, value, now);
        return 1;
    }

    // Bytes in whole segments, as Linux counts cwnd; int.MaxValue stays the infinite threshold (TCP_INFINITE_SSTHRESH).
    private static long Segments(int bytes, int mss) => bytes == int.MaxValue || mss <= 0 ? int.MaxValue : bytes / mss;

    private static int Note(LabSession s, FourTuple connection, LabSide side, TimeSpan now, TimeSpan srtt, TimeSpan rto, ref (long Rtt, long Rto) last)
    {
        long rttUs = (long)srtt.TotalMicroseconds, rtoUs = (long)rto.TotalMicroseconds;
        if ((rttUs, rtoUs) == last) return 0;
        last = (rttUs, rtoUs);
        s.Note(side, connection, "tcpi_rtt", rttUs, now);
        s.Note(side, connection, "tcpi_rto", rtoUs, now);
        return 2;
    }
}
