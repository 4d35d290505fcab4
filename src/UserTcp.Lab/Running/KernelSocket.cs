using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using UserTcp.Interop;
using UserTcp.Engine;

namespace UserTcp.Lab;

/// <summary>
/// A real kernel TCP socket that a lab scenario drives, made with System.Net.Sockets on a thread inside the scenario's
/// namespace (a socket belongs to the namespace it was made in, and is used from any thread afterwards). The scenario
/// decides exactly when it reads, writes, shuts down or closes. No read is ever left pending: a pending read would make
/// .NET shut the socket down before closing it, and the kernel would then send what a plain close(2) does not.
/// </summary>
public sealed class KernelSocket : IDisposable
{
    // IPPROTO_TCP options Socket has no names for.
    private const int TcpCongestion = 13;
    private const int TcpQuickAck = 12;
    private const int TcpInfo = 11;
    private const int TcpFastOpen = 23; // linux/tcp.h
    private const int TcpFastOpenConnect = 30;
    private const int TcpUserTimeout = 18;
    private readonly Socket _socket;
    private readonly CongestionControlAlgorithm _congestion;
    private bool _closed;

    private KernelSocket(Socket socket, CongestionControlAlgorithm congestion)
    {
        _socket = socket;
        _congestion = congestion;
    }

    public IPEndPoint Local => (IPEndPoint)_socket.LocalEndPoint!;
    public IPEndPoint Remote => (IPEndPoint)_socket.RemoteEndPoint!;

    /// <summary>
    /// A listening socket on <paramref name="at"/> inside <paramref name="ns"/>, running <paramref name="congestion"/>
    /// (TCP_CONGESTION), which the sockets it accepts inherit. <paramref name="reuseAddress"/>: see <see cref="BoundAsC"/>.
    /// </summary>
    public static KernelSocket Listen(ScratchNamespace ns, CongestionControlAlgorithm congestion, IPEndPoint at, int backlog = 16, bool? reuseAddress = null) => ns.Invoke(() =>
        Made(congestion, "TCP_CONGESTION was set", socket =>
        {
            SetCongestionControl(socket, congestion);
            if (reuseAddress is null) BindAsDotNet(socket, at);
            socket.Listen(backlog);
        }, reuseAddress is bool exactly ? BoundAsC(at, exactly) : null));

    /// <summary>
    /// A socket in <paramref name="ns"/> not yet connected, running <paramref name="congestion"/> (TCP_CONGESTION);
    /// <see cref="ConnectAsync"/> opens it (the SYN goes then). <paramref name="reuseAddress"/>: see <see cref="BoundAsC"/>.
    /// </summary>
    public static KernelSocket Create(ScratchNamespace ns, CongestionControlAlgorithm congestion, IPEndPoint? bindTo = null, bool? reuseAddress = null) => ns.Invoke(() =>
        Made(congestion, "TCP_CONGESTION was set", socket =>
        {
            SetCongestionControl(socket, congestion);
            if (bindTo is not null && reuseAddress is null) BindAsDotNet(socket, bindTo);
        }, bindTo is not null && reuseAddress is bool exactly ? BoundAsC(bindTo, exactly) : null));

    // .NET's way: Socket.ReuseAddress (on Linux SO_REUSEPORT besides SO_REUSEADDR), then Socket.Bind, which sets SO_REUSEADDR on
    // every TCP socket anyway, to allow a bind during TIME-WAIT as Windows does.
    private static void BindAsDotNet(Socket socket, IPEndPoint at)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(at);
    }

    /// <summary>
    /// A socket bound as a C program binds it — SO_REUSEADDR exactly as <paramref name="reuseAddress"/> says, nothing else,
    /// then bind(2) — for the scenarios that ask what a port in TIME-WAIT refuses (null elsewhere: .NET's way). Made with
    /// socket(2) and handed to System.Net.Sockets bound, which reads its address back (getsockname).
    /// </summary>
    /// <exception cref="SocketException">socket() or bind() failed (EADDRINUSE: <see cref="SocketError.AddressAlreadyInUse"/>).</exception>
    private static Socket BoundAsC(IPEndPoint at, bool reuseAddress)
    {
        SafeFileDescriptor fd = Syscalls.Socket(LibC.AF_INET, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
        if (fd.IsInvalid || Syscalls.SetSocketOptionInt(fd, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, reuseAddress ? 1 : 0) != 0
            || Syscalls.BindIPv4(fd, at.Address.GetAddressBytes(), (ushort)at.Port) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            fd.Dispose();
            SocketError error = errno == LibC.EADDRINUSE ? SocketError.AddressAlreadyInUse
                : errno == LibC.EADDRNOTAVAIL ? SocketError.AddressNotAvailable
                : errno == LibC.EACCES ? SocketError.AccessDenied
                : SocketError.SocketError;
            throw new SocketException((int)error);
        }
        var handle = new SafeSocketHandle(fd.DangerousGetHandle(), ownsHandle: true);
        fd.SetHandleAsInvalid(); // the Socket owns the descriptor now
        return new Socket(handle);
    }

    /// <summary>TCP_CONGESTION as getsockopt reads it: the congestion control this socket runs ("cubic", "reno", "bbr").</summary>
    public string CongestionControlInUse
    {
        get
        {
            Span<byte> name = stackalloc byte[16]; // TCP_CA_NAME_MAX
            int length = _socket.GetRawSocketOption((int)ProtocolType.Tcp, TcpCongestion, name);
            int end = name[..length].IndexOf((byte)0);
            return Encoding.ASCII.GetString(name[..(end < 0 ? length : end)]);
        }
    }

    // Set per socket, as root may for any algorithm the kernel has: a namespace's default may only be one the host allows
    // every user (tcp_allowed_congestion_control; here reno and bbr, not cubic).
    private static void SetCongestionControl(Socket socket, CongestionControlAlgorithm congestion) =>
        socket.SetRawSocketOption((int)ProtocolType.Tcp, TcpCongestion, Encoding.ASCII.GetBytes(congestion.LinuxName() + "\0"));

    /// <summary>
    /// A new socket (or <paramref name="existing"/>: an accepted one, or one bound as C binds it) set up by
    /// <paramref name="setup"/>, then checked to run <paramref name="congestion"/>, so a run never says one algorithm and
    /// runs another; closed again if anything fails.
    /// </summary>
    private static KernelSocket Made(CongestionControlAlgorithm congestion, string when, Action<Socket>? setup = null, Socket? existing = null)
    {
        Socket socket = existing ?? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            setup?.Invoke(socket);
            var made = new KernelSocket(socket, congestion);
            string running = made.CongestionControlInUse;
            if (running != congestion.LinuxName()) throw new InvalidOperationException($"a kernel socket runs {running}, not {congestion.LinuxName()}, after {when}");
            return made;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the connection; throws <see cref="SocketException"/> when refused or when the kernel gave up (ETIMEDOUT), and
    /// <see cref="TimeoutException"/> when <paramref name="timeout"/> ran out first.
    /// </summary>
    public async Task ConnectAsync(IPEndPoint remote, TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        try
        {
            await _socket.ConnectAsync(remote, bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            // The bound's cancellation is this call's own timeout, not the run's: a cancellation would end the whole run (or
            // the lab command) as if it had been interrupted, where a timeout is the run's failure, recorded.
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"connect() to {remote} not done within {timeout.TotalSeconds:0.###} s"));
        }
    }

    /// <summary>Waits, at most <paramref name="timeout"/>, for a connection to accept; <see cref="TimeoutException"/> when none came.</summary>
    public async Task<KernelSocket> AcceptAsync(TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        try
        {
            Socket accepted = await _socket.AcceptAsync(bound.Token).ConfigureAwait(false);
            return Made(_congestion, "accept() (a child takes its listener's)", existing: accepted);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"no connection to accept on {Local} within {timeout.TotalSeconds:0.###} s"));
        }
    }

    /// <summary>Sends all of <paramref name="data"/> (the kernel queues what the window does not take yet).</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0) data = data[_socket.Send(data)..];
    }

    public void Send(string text) => Send(Encoding.ASCII.GetBytes(text));

    /// <summary>Reads what has arrived, waiting at most <paramref name="timeout"/> for something; 0 bytes at the peer's FIN, null when nothing came.</summary>
    public byte[]? Read(TimeSpan timeout, int max = 65536)
    {
        if (!_socket.Poll(timeout, SelectMode.SelectRead)) return null;
        byte[] buffer = new byte[max];
        int read = _socket.Receive(buffer);
        return buffer[..read];
    }

    /// <summary>Reads until the peer's FIN, at most <paramref name="timeout"/>; returns what came and whether the FIN did.</summary>
    public (byte[] Data, bool Ended) ReadToEnd(TimeSpan timeout)
    {
        var data = new List<byte>();
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            // The time left, read once: it may run out between a check and the wait, and Poll throws on a negative wait.
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero) break;
            byte[]? chunk = Read(left);
            if (chunk is null) break;
            if (chunk.Length == 0) return ([.. data], true);
            data.AddRange(chunk);
        }
        return ([.. data], false);
    }

    /// <summary>
    /// Reads until the peer's FIN, at most <paramref name="timeout"/>, and at the FIN closes at once, in this same call — as
    /// a server that closes the moment read() returns 0 — stamping the close with <paramref name="clock"/> right after it.
    /// A positive <paramref name="hold"/> keeps the socket open that long first: a slow application.
    /// </summary>
    public StreamEnd ReadToEndThenClose(TimeSpan timeout, Func<TimeSpan> clock, TimeSpan hold = default)
    {
        (byte[] data, bool ended) = ReadToEnd(timeout);
        if (!ended) return new StreamEnd(data.Length, null);
        if (hold > TimeSpan.Zero) Thread.Sleep(hold);
        Close();
        return new StreamEnd(data.Length, clock());
    }

    /// <summary>shutdown(SHUT_WR): the kernel sends its FIN; reading goes on.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>close(2): a FIN (or a RST if unread data is waiting); the kernel then finishes the close on its own (an orphan).</summary>
    public void Close()
    {
        if (_closed) return;
        _closed = true;
        _socket.Close();
    }

    /// <summary>close(2) with SO_LINGER 0: a RST at once.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        Close();
    }

    /// <summary>SO_KEEPALIVE with Linux's TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT.</summary>
    public void KeepAlive(TimeSpan idle, TimeSpan interval, int count)
    {
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        _socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)idle.TotalSeconds);
        _socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)interval.TotalSeconds);
        _socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, count);
    }

    /// <summary>TCP_USER_TIMEOUT (milliseconds): how long sent data, or keepalive probes, may go unanswered before the connection is reset.</summary>
    public void UserTimeout(TimeSpan timeout) =>
        _socket.SetRawSocketOption((int)ProtocolType.Tcp, TcpUserTimeout, BitConverter.GetBytes((int)timeout.TotalMilliseconds));

    /// <summary>
    /// SO_RCVBUF, set before connect() or listen() so the first window and the window scale follow it (Linux doubles the
    /// value for its bookkeeping and no longer auto-tunes the buffer).
    /// </summary>
    public void ReceiveBuffer(int bytes) => _socket.ReceiveBufferSize = bytes;

    /// <summary>SO_SNDBUF (Linux doubles it, and no longer auto-tunes the buffer): how much a send() may queue before it blocks.</summary>
    public void SendBuffer(int bytes) => _socket.SendBufferSize = bytes;

    /// <summary>TCP_NODELAY: small writes go at once.</summary>
    public void NoDelay() => _socket.NoDelay = true;

    /// <summary>TCP_QUICKACK: leave delayed-ACK mode for now (Linux re-enters it on its own).</summary>
    public void QuickAck() => _socket.SetRawSocketOption((int)ProtocolType.Tcp, TcpQuickAck, BitConverter.GetBytes(1));

    /// <summary>
    /// TCP_FASTOPEN_CONNECT (Linux 4.11): with a cookie cached for the peer, connect() returns at once and the first
    /// send() goes out in the SYN; without one, connect() asks for a cookie in an ordinary handshake.
    /// </summary>
    public void FastOpenConnect() => _socket.SetRawSocketOption((int)ProtocolType.Tcp, TcpFastOpenConnect, BitConverter.GetBytes(1));

    /// <summary>TCP_FASTOPEN on a listener: how many Fast Open connections may wait in SYN-RECEIVED (net.ipv4.tcp_fastopen needs its server bit).</summary>
    public void FastOpen(int queueLength) => _socket.SetRawSocketOption((int)ProtocolType.Tcp, TcpFastOpen, BitConverter.GetBytes(queueLength));

    /// <summary>getsockopt(TCP_INFO): the fields a verdict quotes (the kernel's SRTT, RTO, segments out, cwnd and ssthresh).</summary>
    public KernelTcpInfo Info()
    {
        Span<byte> info = stackalloc byte[KernelTcpInfo.CongestionLength];
        int length = _socket.GetRawSocketOption((int)ProtocolType.Tcp, TcpInfo, info);
        return KernelTcpInfo.Parse(info[..length]);
    }

    public void Dispose() => Close();
}

/// <summary>The fields of the kernel's struct tcp_info (include/uapi/linux/tcp.h) a verdict quotes; times in microseconds there.</summary>
public readonly record struct KernelTcpInfo(byte CaState, TimeSpan Rto, int Unacked, TimeSpan Srtt, TimeSpan RttVar)
{
    /// <summary>Up to tcpi_rttvar: the struct's fixed head, which every kernel since 2.6 fills.</summary>
    public const int Length = 76;

    /// <summary>Up to tcpi_snd_cwnd, which the same kernels fill: what <see cref="KernelSocket.Info"/> asks for.</summary>
    public const int CongestionLength = 84;

    /// <summary>tcpi_snd_ssthresh, in segments (0x7fffffff, TCP_INFINITE_SSTHRESH, until the first reduction); null when not given.</summary>
    public int? SlowStartThreshold { get; init; }

    /// <summary>tcpi_snd_cwnd, in segments; null when not given.</summary>
    public int? CongestionWindow { get; init; }

    /// <summary>tcpi_probes: zero-window or local-queue probes sent without an answer (icsk_probes_out).</summary>
    public byte Probes { get; init; }

    // tcpi_ca_state at 1, tcpi_probes at 3, tcpi_rto at 8, tcpi_unacked at 24, tcpi_rtt at 68, tcpi_rttvar at 72 (u32, µs); tcpi_snd_ssthresh at 76, tcpi_snd_cwnd at 80.
    public static KernelTcpInfo Parse(ReadOnlySpan<byte> info)
    {
        if (info.Length < Length) throw new ArgumentException($"TCP_INFO gave {info.Length} bytes, fewer than {Length}", nameof(info));
        static uint U32(ReadOnlySpan<byte> at) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(at);
        static TimeSpan Micro(ReadOnlySpan<byte> at) => TimeSpan.FromMicroseconds(U32(at));
        bool congestion = info.Length >= CongestionLength;
        return new KernelTcpInfo(info[1], Micro(info[8..]), (int)U32(info[24..]), Micro(info[68..]), Micro(info[72..]))
        {
            SlowStartThreshold = congestion ? (int)Math.Min(U32(info[76..]), int.MaxValue) : null,
            CongestionWindow = congestion ? (int)Math.Min(U32(info[80..]), int.MaxValue) : null,
            Probes = info[3],
        };
    }
}

/// <summary>How many bytes a read to the end of the stream got, and when the socket was closed after the FIN (null: no FIN came in time, not closed).</summary>
public sealed record StreamEnd(int Bytes, TimeSpan? ClosedAt)
{
    public bool Ended => ClosedAt is not null;
}
