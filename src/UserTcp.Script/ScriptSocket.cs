using UserTcp.Engine;

namespace UserTcp.Script;

/// <summary>What a system call returned: a value, or -1 with an errno.</summary>
internal readonly record struct Outcome(long Value, int Errno)
{
    public static Outcome Ok(long value) => new(value, 0);

    public static Outcome Error(int errno) => new(-1, errno);

    public override string ToString() => Errno == 0
        ? Value.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : $"-1 {LinuxSymbols.ErrnoName(Errno)} ({LinuxSymbols.ErrnoMessage(Errno)})";
}

/// <summary>
/// A call that is waiting (<c>start...end</c>): <see cref="Attempt"/> is tried again after every change in the
/// engine and returns the outcome once the call can complete.
/// </summary>
internal sealed record PendingCall(int Line, SyscallSpec Spec, Func<Outcome?> Attempt, long End);

/// <summary>A script file descriptor: a socket, and the options set on it (applied to its connection).</summary>
internal sealed class ScriptSocket(int fd, bool nonBlocking)
{
    public int Fd { get; } = fd;
    public bool NonBlocking { get; set; } = nonBlocking;
    public ushort? BoundPort { get; set; }
    public TcpListener? Listener { get; set; }
    public TcpConnection? Connection { get; set; }
    /// <summary>The connection's error was returned once (sock_error clears sk_err, as in Linux).</summary>
    public bool ErrorReported { get; set; }
    public SocketOptions Options { get; } = new();
    /// <summary>
    /// The configuration <see cref="Connection"/> was made with (its buffer sizes): the one connect() passed, or the
    /// listener's for an accepted connection. The engine fixes buffers when a connection is created.
    /// </summary>
    public TcpConfig? ConnectionConfig { get; set; }
}

/// <summary>Socket options as set by setsockopt; unset ones keep the engine's defaults.</summary>
internal sealed class SocketOptions
{
    public bool ReuseAddress { get; set; }
    public bool? KeepAlive { get; set; }
    public bool? NoDelay { get; set; }
    public int? KeepIdle { get; set; }
    public int? KeepInterval { get; set; }
    public int? KeepCount { get; set; }
    /// <summary>TCP_LINGER2 in seconds; 0 means the system default (tcp_fin_timeout).</summary>
    public int? Linger2 { get; set; }
    public (bool On, int Seconds) Linger { get; set; }
    /// <summary>SO_SNDBUF: the send buffer, in bytes of data, for the next connect() or listen() (half what getsockopt reports).</summary>
    public int? SendBuffer { get; set; }
    /// <summary>SO_RCVBUF: the receive buffer, in bytes of data, for the next connect() or listen() (half what getsockopt reports).</summary>
    public int? ReceiveBuffer { get; set; }

    /// <summary>The configuration a connection made from this socket starts with: the engine's, with the buffer sizes set here.</summary>
    public TcpConfig ConnectionConfig(TcpConfig config) => SendBuffer is null && ReceiveBuffer is null
        ? config
        : config with
        {
            SendBufferSize = SendBuffer ?? config.SendBufferSize,
            ReceiveBufferSize = ReceiveBuffer ?? config.ReceiveBufferSize,
        };

    /// <summary>A listener's options as a new connection inherits them.</summary>
    public void ApplyAll(TcpConnection connection, TcpConfig config)
    {
        if (NoDelay is bool noDelay) connection.NoDelay = noDelay;
        if (KeepIdle is int idle) connection.KeepAliveIdle = TimeSpan.FromSeconds(idle);
        if (KeepInterval is int interval) connection.KeepAliveInterval = TimeSpan.FromSeconds(interval);
        if (KeepCount is int count) connection.KeepAliveCount = count;
        if (Linger2 is int linger2) connection.FinWait2Timeout = linger2 == 0 ? config.FinWait2Timeout : TimeSpan.FromSeconds(linger2);
        if (KeepAlive is bool keepAlive && connection.KeepAlive != keepAlive) connection.KeepAlive = keepAlive;
        connection.LingerZero = Linger.On && Linger.Seconds == 0;
    }
}
