using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>
/// Per-connection socket options set before the connection exists: for <see cref="NetStack.ConnectAsync(IpEndpoint, UserTcpConnectionOptions?, CancellationToken)"/>,
/// or on a listener for the connections it accepts (what setsockopt does before connect() or listen()). Null keeps
/// the stack's value (<see cref="NetStackOptions.Tcp"/>). The limits are Linux's; a value outside them throws
/// <see cref="ArgumentOutOfRangeException"/> when it is set (setsockopt's EINVAL).
/// </summary>
public sealed record UserTcpConnectionOptions
{
    /// <summary>The most TCP_KEEPIDLE and TCP_KEEPINTVL accept, in seconds (Linux MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL).</summary>
    public const int MaxKeepAliveSeconds = 32767;
    /// <summary>The most TCP_KEEPCNT accepts (Linux MAX_TCP_KEEPCNT).</summary>
    public const int MaxKeepAliveCount = 127;
    /// <summary>The longest TCP_LINGER2 (Linux TCP_FIN_TIMEOUT_MAX); longer values are cut to it, as Linux does.</summary>
    public static readonly TimeSpan MaxFinWait2Timeout = TimeSpan.FromSeconds(120);

    /// <summary>SO_SNDBUF: bytes the application may queue for sending. Fixed once the connection exists.</summary>
    public int? SendBufferSize
    {
        get;
        init => field = value is null ? null : CheckBufferSize(value.Value, nameof(SendBufferSize));
    }

    /// <summary>
    /// SO_RCVBUF: bytes held for the application to read; the receive window (and its scale) follows from it. Fixed once
    /// the connection exists: setting it turns receive-buffer auto-tuning off for the connection, as on Linux
    /// (SOCK_RCVBUF_LOCK); null leaves the stack's initial size, which auto-tuning grows.
    /// </summary>
    public int? ReceiveBufferSize
    {
        get;
        init => field = value is null ? null : CheckBufferSize(value.Value, nameof(ReceiveBufferSize));
    }

    /// <summary>TCP_NODELAY.</summary>
    public bool? NoDelay { get; init; }
    /// <summary>SO_KEEPALIVE.</summary>
    public bool? KeepAlive { get; init; }

    /// <summary>TCP_KEEPIDLE: idle time before the first keepalive probe (1 s to 32767 s).</summary>
    public TimeSpan? KeepAliveIdle
    {
        get;
        init => field = value is null ? null : CheckKeepAliveTime(value.Value, nameof(KeepAliveIdle));
    }

    /// <summary>TCP_KEEPINTVL: time between unanswered probes (1 s to 32767 s).</summary>
    public TimeSpan? KeepAliveInterval
    {
        get;
        init => field = value is null ? null : CheckKeepAliveTime(value.Value, nameof(KeepAliveInterval));
    }

    /// <summary>TCP_KEEPCNT: unanswered probes before the connection times out (1 to 127).</summary>
    public int? KeepAliveCount
    {
        get;
        init => field = value is null ? null : CheckKeepAliveCount(value.Value, nameof(KeepAliveCount));
    }

    /// <summary>TCP_LINGER2: how long the connection, once closed by the application, may wait in FIN-WAIT-2 (cut to 120 s).</summary>
    public TimeSpan? FinWait2Timeout
    {
        get;
        init => field = value is null ? null : CheckFinWait2Timeout(value.Value, nameof(FinWait2Timeout));
    }

    /// <summary>SO_LINGER, as <see cref="UserTcpConnection.Linger"/>: null off, zero resets on close, positive makes close wait.</summary>
    public TimeSpan? Linger
    {
        get;
        init => field = value is null ? null : CheckLinger(value.Value, nameof(Linger));
    }

    /// <summary>TCP_USER_TIMEOUT: how long sent data may go unacknowledged before the connection times out (<see cref="TcpConfig.UserTimeout"/>).</summary>
    public TimeSpan? UserTimeout
    {
        get;
        init => field = value is null ? null : CheckUserTimeout(value.Value, nameof(UserTimeout));
    }

    /// <summary>The smallest and largest TCP_MAXSEG Linux accepts (TCP_MIN_MSS, MAX_TCP_WINDOW).</summary>
    public const int MinMaxSegmentSize = 88, MaxMaxSegmentSize = 32767;

    /// <summary>
    /// TCP_MAXSEG: caps the MSS this side offers in its SYN and the segments it sends (both are the smaller of this and
    /// what the device carries), as Linux's user_mss. It acts on the handshake: set it before connect(), or on a
    /// listener for the SYNs that arrive afterwards.
    /// </summary>
    public int? MaxSegmentSize
    {
        get;
        init => field = value is null or 0 ? null : value is >= MinMaxSegmentSize and <= MaxMaxSegmentSize
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxSegmentSize), value, $"TCP_MAXSEG is {MinMaxSegmentSize} to {MaxMaxSegmentSize} bytes, as on Linux");
    }

    /// <summary>
    /// TCP_NOTSENT_LOWAT: a write takes data only while fewer than this many bytes wait unsent, and the connection
    /// polls writable only while fewer than half of them do (<see cref="UserTcpConnection.NotSentLowWatermark"/>).
    /// Null: the stack's (<see cref="TcpConfig.NotSentLowWatermark"/>, no limit unless configured).
    /// </summary>
    public uint? NotSentLowWatermark { get; init; }

    /// <summary>
    /// TCP_DEFER_ACCEPT, for a listener: a connection whose final ACK carries no data is not handed to accept until data
    /// arrives, or until the period (rounded up to whole SYN-ACK timeouts, as Linux's) is over (<see cref="TcpConfig.DeferAccept"/>).
    /// </summary>
    public TimeSpan? DeferAccept
    {
        get;
        init => field = value is null || value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(DeferAccept), value, "a defer period cannot be negative");
    }

    /// <summary>IP_TOS: the TOS byte of the connection's packets, its SYN included (the ECN bits are the stack's).</summary>
    public byte? TypeOfService { get; init; }

    /// <summary>IP_MTU_DISCOVER: Don't Fragment and path MTU discovery (<see cref="TcpConfig.PathMtuDiscovery"/>).</summary>
    public PathMtuDiscovery? PathMtuDiscovery
    {
        get;
        init => field = value is null || Enum.IsDefined(value.Value) ? value : throw new ArgumentOutOfRangeException(nameof(PathMtuDiscovery), value, "IP_MTU_DISCOVER is IP_PMTUDISC_DONT to IP_PMTUDISC_OMIT (0 to 5)");
    }

    /// <summary>TCP_CONGESTION: the congestion-control algorithm (CUBIC, Linux's default, or NewReno, Linux's "reno").</summary>
    public CongestionControlAlgorithm? CongestionControl { get; init; }

    /// <summary>
    /// Not a socket option but a scheduling choice, as Kestrel's UnsafePreferInlineScheduling: a read, write or accept that
    /// had to wait resumes its awaiter on the stack's thread that completed it (the device reader, most often), right
    /// after the packets of that pass went out, instead of on the thread pool. One request then costs no thread switch,
    /// which is what decides its latency when the application and the stack share a CPU. The code that runs there must
    /// not block (no waiting on another call of the stack): while it runs, the stack reads no packets. Off by default.
    /// </summary>
    public bool InlineCompletions { get; init; }

    /// <summary>The most TCP_SYNCNT accepts (Linux MAX_TCP_SYNCNT).</summary>
    public const int MaxSynRetries = 127;

    /// <summary>TCP_SYNCNT: how often an unanswered SYN is sent again before connecting fails (1 to 127; <see cref="TcpConfig.SynRetries"/>).</summary>
    public int? SynRetries
    {
        get;
        init => field = value is null ? null : CheckSynRetries(value.Value, nameof(SynRetries));
    }

    internal static int CheckSynRetries(int value, string name) =>
        value is >= 1 and <= MaxSynRetries ? value : throw new ArgumentOutOfRangeException(name, value, $"TCP_SYNCNT is 1 to {MaxSynRetries}, as on Linux");

    /// <summary>
    /// TCP_FASTOPEN_CONNECT (RFC 7413): an active open with TCP Fast Open, when the stack's <see cref="TcpConfig.FastOpen"/>
    /// has the client bit (Linux's default). With a cookie cached for the server, connecting completes at once without a
    /// packet, and the first write sends the SYN carrying the cookie and as much of the data as fits; without one the SYN
    /// asks for a cookie and connecting waits for the handshake as usual, so the next connection to that server can carry
    /// data. Ignored by listeners.
    /// </summary>
    public bool FastOpenConnect { get; init; }

    /// <summary>
    /// Binds an active open to this local port (bind() before connect()); null picks an ephemeral port. A TIME-WAIT of the
    /// same 4-tuple is taken over when the peer's timestamps were seen, as Linux does; otherwise it, or a live connection of
    /// that 4-tuple, refuses the connect (AddressAlreadyInUse). Ignored by listeners.
    /// </summary>
    public ushort? LocalPort { get; init; }

    /// <summary>
    /// The engine configuration the connection starts from instead of the stack's (<see cref="NetStackOptions.Tcp"/>):
    /// other timers, retries or TCP options for this connection alone. The options above apply on top of it; the MSS
    /// is fitted to the device as the stack's is.
    /// </summary>
    public TcpConfig? Tcp { get; init; }

    /// <summary>
    /// TCP_FASTOPEN on a listener (RFC 7413 §5.1): how many Fast Open connections may be unfinished at once — accepted
    /// with the data of their SYN before their handshake's ACK. Needs <see cref="FastOpenFlags.Server"/> in the stack's
    /// <see cref="TcpConfig.FastOpen"/>. Null keeps what the stack gives (0, or the backlog under
    /// <see cref="FastOpenFlags.ServerWithoutSocketOption"/>); 0 turns Fast Open off for the listener. Ignored by connects.
    /// </summary>
    public int? FastOpenQueueLength
    {
        get;
        init => field = value is null or >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(FastOpenQueueLength), value, "a queue length is not negative");
    }

    /// <summary>TCP_FASTOPEN_KEY on a listener: the key its Fast Open cookies are made with instead of the stack's.</summary>
    public FastOpenKey? FastOpenKey { get; init; }

    /// <summary>The engine configuration a connection made with these options starts with.</summary>
    internal TcpConfig Apply(TcpConfig config) => config with
    {
        SendBufferSize = SendBufferSize ?? config.SendBufferSize,
        ReceiveBufferSize = ReceiveBufferSize ?? config.ReceiveBufferSize,
        ReceiveBufferAutoTuning = ReceiveBufferSize is null && config.ReceiveBufferAutoTuning,
        NoDelay = NoDelay ?? config.NoDelay,
        KeepAlive = KeepAlive ?? config.KeepAlive,
        KeepAliveIdle = KeepAliveIdle ?? config.KeepAliveIdle,
        KeepAliveInterval = KeepAliveInterval ?? config.KeepAliveInterval,
        KeepAliveCount = KeepAliveCount ?? config.KeepAliveCount,
        FinWait2Timeout = FinWait2Timeout is TimeSpan linger2 ? ClampFinWait2Timeout(linger2) : config.FinWait2Timeout,
        CongestionControl = CongestionControl ?? config.CongestionControl,
        Mss = MaxSegmentSize is int cap && cap < config.Mss ? (ushort)cap : config.Mss,
        UserTimeout = UserTimeout ?? config.UserTimeout,
        NotSentLowWatermark = NotSentLowWatermark ?? config.NotSentLowWatermark,
        DeferAccept = DeferAccept ?? config.DeferAccept,
        TypeOfService = TypeOfService ?? config.TypeOfService,
        PathMtuDiscovery = PathMtuDiscovery ?? config.PathMtuDiscovery,
        SynRetries = SynRetries ?? config.SynRetries,
        FastOpenKey = FastOpenKey ?? config.FastOpenKey,
    };

    internal static TimeSpan CheckUserTimeout(TimeSpan value, string name) =>
        value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(name, value, "a user timeout must be positive (null keeps the stack's)");

    internal static int CheckBufferSize(int value, string name) =>
        value >= 1 ? value : throw new ArgumentOutOfRangeException(name, value, "a buffer needs at least one byte");

    internal static TimeSpan CheckKeepAliveTime(TimeSpan value, string name) =>
        value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromSeconds(MaxKeepAliveSeconds)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"keepalive times are 1 s to {MaxKeepAliveSeconds} s, as on Linux");

    internal static int CheckKeepAliveCount(int value, string name) =>
        value is >= 1 and <= MaxKeepAliveCount ? value : throw new ArgumentOutOfRangeException(name, value, $"the keepalive count is 1 to {MaxKeepAliveCount}, as on Linux");

    internal static TimeSpan CheckFinWait2Timeout(TimeSpan value, string name) =>
        value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(name, value, "a FIN-WAIT-2 timeout must be positive (null keeps the stack's)");

    internal static TimeSpan CheckLinger(TimeSpan value, string name) =>
        value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(name, value, "a linger time cannot be negative");

    /// <summary>TCP_LINGER2 values above the maximum are cut to it, as Linux does.</summary>
    internal static TimeSpan ClampFinWait2Timeout(TimeSpan value) => value > MaxFinWait2Timeout ? MaxFinWait2Timeout : value;
}
