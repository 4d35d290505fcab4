using System.Globalization;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using static UserTcp.Script.LinuxSymbols;
using static UserTcp.Script.SocketErrno;

namespace UserTcp.Script;

/// <summary>
/// setsockopt and getsockopt, onto the API's options: a connection's properties once it exists, a listener's
/// <see cref="UserTcpListener.Options"/> for what it accepts next, and before either the descriptor's
/// <see cref="UserTcpConnectionOptions"/> for the next connect() or listen(). A value the API refuses as out of range is
/// EINVAL, as setsockopt's.
/// </summary>
internal sealed partial class ScriptExecution
{
    // SO_SNDBUF/SO_RCVBUF. Linux doubles the value set ("to allow space for bookkeeping overhead", socket(7)) and
    // getsockopt returns the doubled value. The receive buffer's data — the window it offers — is about the value set:
    // the runner's holds N bytes and reports 2N. The send buffer's is about the doubled value (its skbs are GSO-sized,
    // so their overhead is small: measured on Linux 6.18, SO_SNDBUF 200000 queues 394000 bytes, tcp_wmem's 262144
    // queues 266000): the runner's holds what getsockopt reports.
    // Linux's floors apply (SOCK_MIN_RCVBUF 2304 and SOCK_MIN_SNDBUF 4608 on x86-64, as doubled values); its ceiling
    // (net.core.rmem_max/wmem_max) does not, there being no sysctl here.
    private const int MaxBufferOption = 64 * 1024 * 1024;
    /// <summary>&lt;netinet/tcp.h&gt; TCP_CONGESTION (the symbol table knows the name; the runner needs the number).</summary>
    private const int TCP_CONGESTION = 13;
    /// <summary>&lt;netinet/tcp.h&gt; TCP_FASTOPEN (a listener's Fast Open queue length) and TCP_FASTOPEN_KEY (its cookie key).</summary>
    private const int TCP_FASTOPEN = 23;
    private const int TCP_FASTOPEN_KEY = 33;
    /// <summary>Linux's net.core.somaxconn default, which caps TCP_FASTOPEN's queue length (fastopen_queue_tune).</summary>
    private const int SoMaxConn = 4096;
    private const int MinReportedReceiveBuffer = 2304;
    private const int MinReportedSendBuffer = 4608;
    /// <summary>Linux's TCP_MSS_DEFAULT: what getsockopt(TCP_MAXSEG) reports before a connection has an MSS.</summary>
    private const int DefaultMss = 536;

    private Func<Outcome?> SetSockOpt(int line, SyscallSpec call)
    {
        Arguments(line, call, 5);
        int fd = Fd(line, call);
        (long level, long name) = OptionName(line, call);
        ScriptExpression valueExpression = call.Arguments[3];
        TimeSpan? linger = null;
        CongestionControlAlgorithm? algorithm = null;
        long value = 0;
        FastOpenKey? fastOpenKey = null;
        if (level == SOL_SOCKET && name == SO_LINGER) linger = LingerValue(line, valueExpression);
        else if (level == IPPROTO_TCP && name == TCP_CONGESTION) algorithm = AlgorithmValue(line, valueExpression);
        else if (level == IPPROTO_TCP && name == TCP_FASTOPEN_KEY) fastOpenKey = FastOpenKeyValue(line, valueExpression, call.Arguments[4]);
        else value = Int(line, valueExpression, "the option value");
        if (level == SOL_SOCKET && name is SO_SNDBUF or SO_RCVBUF && value is < 0 or > MaxBufferOption)
        {
            throw Fail(line, $"{call.Arguments[2]} of {value} is not supported (0 to {MaxBufferOption} bytes)");
        }
        // do_ip_setsockopt: IP_MTU_DISCOVER is IP_PMTUDISC_DONT to IP_PMTUDISC_OMIT; IP_TOS keeps the value's low byte.
        bool badIpValue = level == SOL_IP && name == IP_MTU_DISCOVER && value is < 0 or > 5;
        // packetdrill passes the script's optlen to the kernel: a socket or TCP option shorter than an int (SO_LINGER:
        // than struct linger) is EINVAL there (sk_setsockopt, do_tcp_setsockopt); IP options take a single byte too.
        bool shortLength = level != SOL_IP && !(level == IPPROTO_TCP && name is TCP_CONGESTION or TCP_FASTOPEN_KEY) && call.Arguments[4] is not EllipsisExpression
            && Int(line, call.Arguments[4], "the option length") < OptionLength(level, name);
        if (level == IPPROTO_TCP && name == TCP_LINGER2 && value < 0)
        {
            throw Fail(line, "TCP_LINGER2 below 0 (reset orphaned FIN-WAIT-2 at once) is not supported by the engine");
        }
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (badIpValue || shortLength) return Outcome.Error(EINVAL);
            // do_tcp_setsockopt: TCP_FASTOPEN_KEY takes 16 or 32 bytes (a key and a backup), else EINVAL.
            if (level == IPPROTO_TCP && name == TCP_FASTOPEN_KEY && fastOpenKey is null) return Outcome.Error(EINVAL);
            // TCP_FASTOPEN only while closed or listening (do_tcp_setsockopt), the queue length capped at somaxconn.
            if (level == IPPROTO_TCP && name == TCP_FASTOPEN)
            {
                if (socket.Connection is not null) return Outcome.Error(EINVAL);
                value = (ulong)value > SoMaxConn ? SoMaxConn : value;
            }
            if (level == SOL_SOCKET && name == SO_REUSEADDR)
            {
                socket.ReuseAddress = value != 0; // bind()'s, kept with the descriptor
                return Outcome.Ok(0);
            }
            if (level == IPPROTO_TCP && name == TCP_CORK)
            {
                if (socket.Connection is not { } corked) throw Fail(line, "TCP_CORK before connect() or on a listener is not supported: set it on the connection");
                corked.Corked = value != 0;
                return Outcome.Ok(0);
            }
            if (level == IPPROTO_TCP && name == TCP_QUICKACK)
            {
                // Linux's pingpong mode lives in the socket's ACK state, which a listener's children do not inherit and a
                // connect() acts on (a delayed handshake ACK): only a connection's is supported.
                if (socket.Connection is not { } quick) throw Fail(line, "TCP_QUICKACK before connect() or on a listener is not supported: set it on the connection");
                quick.QuickAck = value != 0;
                return Outcome.Ok(0);
            }
            if (level == IPPROTO_TCP && name == TCP_INQ)
            {
                if (value is not (0 or 1)) return Outcome.Error(EINVAL); // tcp_setsockopt: only 0 or 1
                socket.ReceiveQueueHint = value != 0;
                return Outcome.Ok(0);
            }
            if (level == IPPROTO_TCP && name == TCP_FASTOPEN_CONNECT) return SetFastOpenConnect(socket, value);
            // tcp_set_congestion_control: a name no module provides is ENOENT (cubic, reno and bbr exist here).
            if (level == IPPROTO_TCP && name == TCP_CONGESTION && algorithm is null) return Outcome.Error(ENOENT);
            if (level == SOL_SOCKET && name is SO_SNDBUF or SO_RCVBUF && socket.Listener is not null)
            {
                throw Fail(line, $"setsockopt({call.Arguments[2]}) on a socket that is already listening is not supported: the engine fixes "
                    + "a listener's buffer sizes at listen(); set it before listen()");
            }
            try
            {
                // The descriptor keeps every option for a later connect() (after a failed one) and for getsockopt.
                socket.Options = With(socket.Options, level, name, value, linger, algorithm, fastOpenKey);
                if (socket.Listener is { } listener) listener.Options = With(listener.Options, level, name, value, linger, algorithm, fastOpenKey);
                if (socket.Connection is { } connection) Set(connection, level, name, value, linger, algorithm);
            }
            catch (ArgumentOutOfRangeException)
            {
                return Outcome.Error(EINVAL);
            }
            catch (SocketException exception)
            {
                return Failed(exception.SocketErrorCode);
            }
            return Outcome.Ok(0);
        };
    }

    /// <summary><paramref name="options"/> with one option set, as setsockopt would before the connection exists.</summary>
    private static UserTcpConnectionOptions With(UserTcpConnectionOptions options, long level, long name, long value, TimeSpan? linger, CongestionControlAlgorithm? algorithm,
        FastOpenKey? fastOpenKey = null) => (level, name) switch
    {
        (IPPROTO_TCP, TCP_FASTOPEN) => options with { FastOpenQueueLength = (int)value },
        (IPPROTO_TCP, TCP_FASTOPEN_KEY) => options with { FastOpenKey = fastOpenKey },
        (IPPROTO_TCP, TCP_CONGESTION) => options with { CongestionControl = algorithm },
        (SOL_SOCKET, SO_KEEPALIVE) => options with { KeepAlive = value != 0 },
        (SOL_SOCKET, SO_LINGER) => options with { Linger = linger },
        (SOL_SOCKET, SO_SNDBUF) => options with { SendBufferSize = BufferBytes(name, value) },
        (SOL_SOCKET, SO_RCVBUF) => options with { ReceiveBufferSize = BufferBytes(name, value) },
        (IPPROTO_TCP, TCP_NODELAY) => options with { NoDelay = value != 0 },
        (IPPROTO_TCP, TCP_SYNCNT) => options with { SynRetries = (int)Math.Clamp(value, int.MinValue, int.MaxValue) },
        // TCP_USER_TIMEOUT is in milliseconds; 0 turns it off (the system's default).
        (IPPROTO_TCP, TCP_USER_TIMEOUT) => options with { UserTimeout = value == 0 ? null : TimeSpan.FromMilliseconds(value) },
        (IPPROTO_TCP, TCP_MAXSEG) => options with { MaxSegmentSize = (int)Math.Clamp(value, int.MinValue, int.MaxValue) },
        (IPPROTO_TCP, TCP_NOTSENT_LOWAT) => options with { NotSentLowWatermark = LowWatermark(value) },
        (SOL_IP, IP_TOS) => options with { TypeOfService = unchecked((byte)value) },
        (SOL_IP, IP_MTU_DISCOVER) => options with { PathMtuDiscovery = (PathMtuDiscovery)value },
        // do_tcp_setsockopt: seconds, turned into SYN-ACK timeouts; 0 or less turns it off.
        (IPPROTO_TCP, TCP_DEFER_ACCEPT) => options with { DeferAccept = TimeSpan.FromSeconds(Math.Clamp(value, 0, int.MaxValue)) },
        (IPPROTO_TCP, TCP_KEEPIDLE) => options with { KeepAliveIdle = TimeSpan.FromSeconds(value) },
        (IPPROTO_TCP, TCP_KEEPINTVL) => options with { KeepAliveInterval = TimeSpan.FromSeconds(value) },
        (IPPROTO_TCP, TCP_KEEPCNT) => options with { KeepAliveCount = (int)Math.Clamp(value, int.MinValue, int.MaxValue) },
        // 0 means the system's tcp_fin_timeout again.
        (IPPROTO_TCP, TCP_LINGER2) => options with { FinWait2Timeout = value == 0 ? null : TimeSpan.FromSeconds(Math.Min(value, UserTcpConnectionOptions.MaxFinWait2Timeout.TotalSeconds)) },
        _ => options,
    };

    /// <summary>TCP_NOTSENT_LOWAT's value as Linux keeps it (a u32); 0 means the system's default (tcp_notsent_lowat).</summary>
    private static uint? LowWatermark(long value) => value == 0 ? null : unchecked((uint)value);

    /// <summary>
    /// One option on an existing connection. SO_SNDBUF resizes the send buffer at once, as Linux's; SO_RCVBUF is
    /// accepted and changes nothing (the window and its scale were fixed at the handshake).
    /// </summary>
    private void Set(UserTcpConnection connection, long level, long name, long value, TimeSpan? linger, CongestionControlAlgorithm? algorithm)
    {
        switch (level, name)
        {
            case (SOL_SOCKET, SO_SNDBUF):
                connection.SendBufferSize = BufferBytes(name, value);
                break;
            case (IPPROTO_TCP, TCP_NOTSENT_LOWAT):
                connection.NotSentLowWatermark = LowWatermark(value);
                break;
            case (SOL_IP, IP_TOS):
                connection.TypeOfService = unchecked((byte)value);
                break;
            case (SOL_IP, IP_MTU_DISCOVER):
                connection.PathMtuDiscovery = (PathMtuDiscovery)value;
                break;
            case (IPPROTO_TCP, TCP_CONGESTION) when algorithm is CongestionControlAlgorithm chosen:
                connection.CongestionControl = chosen;
                break;
            case (SOL_SOCKET, SO_KEEPALIVE):
                connection.KeepAlive = value != 0;
                break;
            case (SOL_SOCKET, SO_LINGER):
                connection.Linger = linger;
                break;
            case (IPPROTO_TCP, TCP_USER_TIMEOUT):
                connection.UserTimeout = value == 0 ? null : TimeSpan.FromMilliseconds(value);
                break;
            case (IPPROTO_TCP, TCP_NODELAY):
                connection.NoDelay = value != 0;
                break;
            case (IPPROTO_TCP, TCP_KEEPIDLE):
                connection.KeepAliveIdle = TimeSpan.FromSeconds(value);
                break;
            case (IPPROTO_TCP, TCP_KEEPINTVL):
                connection.KeepAliveInterval = TimeSpan.FromSeconds(value);
                break;
            case (IPPROTO_TCP, TCP_KEEPCNT):
                connection.KeepAliveCount = (int)Math.Clamp(value, int.MinValue, int.MaxValue);
                break;
            case (IPPROTO_TCP, TCP_SYNCNT):
                connection.SynRetries = (int)Math.Clamp(value, int.MinValue, int.MaxValue);
                break;
            case (IPPROTO_TCP, TCP_LINGER2):
                connection.FinWait2Timeout = value == 0 ? _config.FinWait2Timeout : TimeSpan.FromSeconds(value);
                break;
        }
    }

    private Func<Outcome?> GetSockOpt(int line, SyscallSpec call)
    {
        Arguments(line, call, 5);
        int fd = Fd(line, call);
        (long level, long name) = OptionName(line, call);
        ScriptExpression expected = call.Arguments[3];
        // run_system_call.c's syscall_getsockopt compares an int as [N] with optlen [4] (Linux returns min(optlen, the
        // option's size), so an int is what it reads, SO_LINGER's l_onoff included) or a "string" of optlen's length;
        // any other value, a struct or ..., is "unsupported getsockopt value type", and optlen must be bracketed.
        if (call.Arguments[4] is not ListExpression { Braces: false, Items: [_] })
        {
            throw Fail(line, $"getsockopt's optlen is [N] as in packetdrill, not `{call.Arguments[4]}`");
        }
        long optlen = Int(line, call.Arguments[4], "the option length");
        switch (expected)
        {
            case ListExpression { Braces: false, Items: [_] } when optlen != 4:
                throw Fail(line, $"getsockopt of an int [N] has optlen [4] in packetdrill (\"Unsupported getsockopt optlen\"), not {call.Arguments[4]}");
            case ListExpression { Braces: false, Items: [_] }:
                break;
            case StringExpression text when optlen != text.Value.Length:
                throw Fail(line, $"getsockopt of \"{text.Value}\" has optlen [{text.Value.Length}], its length, in packetdrill, not {call.Arguments[4]}");
            case StringExpression:
                break;
            default:
                throw Fail(line, $"getsockopt's value is [N] or a \"string\" in packetdrill (\"unsupported getsockopt value type\"), not `{expected}`");
        }
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            UserTcpConnection? c = socket.Connection;
            // Before the connection exists: what the next connect() or listen() would use; a listener's: what it accepts with.
            UserTcpConnectionOptions options = socket.Listener?.Options ?? socket.Options;
            if (level == IPPROTO_TCP && name == TCP_CONGESTION)
            {
                string algorithm = (c?.CongestionControl ?? options.CongestionControl ?? _config.CongestionControl).LinuxName();
                if (expected is StringExpression { Value: var wanted } && wanted != algorithm)
                {
                    throw Fail(line, $"getsockopt(TCP_CONGESTION) gave \"{algorithm}\", the script expects \"{wanted}\"");
                }
                if (expected is not StringExpression) throw Fail(line, $"TCP_CONGESTION's value is a name in quotes (\"cubic\", \"reno\", \"bbr\"), not `{expected}`");
                return Outcome.Ok(0);
            }
            long actual;
            switch (level, name)
            {
                case (SOL_SOCKET, SO_ERROR):
                    // SO_ERROR: the pending error, cleared by reading it (sock_error).
                    SocketError error = c?.TakeError() ?? SocketError.Success;
                    actual = error == SocketError.Success ? 0 : Failed(error).Errno;
                    break;
                case (SOL_SOCKET, SO_REUSEADDR):
                    actual = socket.ReuseAddress ? 1 : 0;
                    break;
                case (SOL_SOCKET, SO_LINGER):
                    // optlen 4 reads struct linger's first int, l_onoff.
                    actual = (c is not null ? c.Linger : options.Linger) is null ? 0 : 1;
                    break;
                case (IPPROTO_TCP, TCP_INQ):
                    actual = socket.ReceiveQueueHint ? 1 : 0;
                    break;
                case (IPPROTO_TCP, TCP_CORK):
                    actual = c?.Corked == true ? 1 : 0;
                    break;
                case (IPPROTO_TCP, TCP_QUICKACK):
                    actual = c?.QuickAck != false ? 1 : 0; // tcp_getsockopt: 1 unless in pingpong mode
                    break;
                case (IPPROTO_TCP, TCP_NOTSENT_LOWAT):
                    actual = (c is not null ? c.NotSentLowWatermark : options.NotSentLowWatermark) ?? 0; // 0: the system's default
                    break;
                case (SOL_IP, IP_TOS):
                    actual = c?.TypeOfService ?? (options.TypeOfService ?? _config.TypeOfService) & ~0x3;
                    break;
                case (SOL_IP, IP_MTU_DISCOVER):
                    actual = (long)(c?.PathMtuDiscovery ?? options.PathMtuDiscovery ?? _config.PathMtuDiscovery);
                    break;
                case (IPPROTO_TCP, TCP_DEFER_ACCEPT):
                    // retrans_to_secs: the period the SYN-ACK timeouts really cover.
                    actual = (long)DeferAcceptPeriod.Rounded(_config with { DeferAccept = options.DeferAccept ?? _config.DeferAccept }).TotalSeconds;
                    break;
                case (SOL_SOCKET, SO_KEEPALIVE):
                    actual = (c?.KeepAlive ?? options.KeepAlive ?? _config.KeepAlive) ? 1 : 0;
                    break;
                case (SOL_SOCKET, SO_SNDBUF):
                    actual = c?.SendBufferSize ?? options.SendBufferSize ?? _config.SendBufferSize;
                    break;
                case (SOL_SOCKET, SO_RCVBUF):
                    actual = 2L * (c?.ReceiveBufferSize ?? options.ReceiveBufferSize ?? _config.ReceiveBufferSize);
                    break;
                case (IPPROTO_TCP, TCP_NODELAY):
                    actual = (c?.NoDelay ?? options.NoDelay ?? _config.NoDelay) ? 1 : 0;
                    break;
                case (IPPROTO_TCP, TCP_KEEPIDLE):
                    actual = (long)(c?.KeepAliveIdle ?? options.KeepAliveIdle ?? _config.KeepAliveIdle).TotalSeconds;
                    break;
                case (IPPROTO_TCP, TCP_KEEPINTVL):
                    actual = (long)(c?.KeepAliveInterval ?? options.KeepAliveInterval ?? _config.KeepAliveInterval).TotalSeconds;
                    break;
                case (IPPROTO_TCP, TCP_KEEPCNT):
                    actual = c?.KeepAliveCount ?? options.KeepAliveCount ?? _config.KeepAliveCount;
                    break;
                case (IPPROTO_TCP, TCP_SYNCNT):
                    actual = c?.SynRetries ?? options.SynRetries ?? _config.SynRetries; // icsk_syn_retries, else tcp_syn_retries
                    break;
                case (IPPROTO_TCP, TCP_USER_TIMEOUT):
                    actual = (long)((c is not null ? c.UserTimeout : options.UserTimeout ?? _config.UserTimeout)?.TotalMilliseconds ?? 0);
                    break;
                case (IPPROTO_TCP, TCP_FASTOPEN):
                    actual = socket.Listener?.FastOpenQueueLength ?? options.FastOpenQueueLength ?? 0; // fastopenq.max_qlen
                    break;
                case (IPPROTO_TCP, TCP_MAXSEG):
                    // tcp_getsockopt: mss_cache, the MSS in use cut to half the peer's largest window (536 before a
                    // connection), or the one set while closed or listening.
                    actual = c is not null && c.State != TcpState.Closed
                        ? c.SendMss
                        : options.MaxSegmentSize ?? DefaultMss;
                    break;
                default: // TCP_LINGER2
                    actual = (long)(c?.FinWait2Timeout ?? options.FinWait2Timeout ?? _config.FinWait2Timeout).TotalSeconds;
                    break;
            }
            if (Int(line, expected, "the expected option value") != actual)
            {
                string shown = name == SO_ERROR && level == SOL_SOCKET && actual != 0 ? $"{actual} ({ErrnoName((int)actual)})" : actual.ToString(CultureInfo.InvariantCulture);
                throw Fail(line, $"getsockopt({call.Arguments[2]}) gave [{shown}], the script expects {expected}");
            }
            return Outcome.Ok(0);
        };
    }

    /// <summary>
    /// ioctl(SIOCINQ or FIONREAD, SIOCOUTQ, SIOCOUTQNSD): the receive queue, the data not yet acknowledged, the data not
    /// yet sent; EINVAL on a listener, as Linux's tcp_ioctl.
    /// </summary>
    private Func<Outcome?> Ioctl(int line, SyscallSpec call)
    {
        // run_system_call.c's syscall_ioctl: 2 arguments (no buffer: NULL) or 3, the third an [N] it compares.
        if (call.Arguments.Count is not (2 or 3)) throw Fail(line, $"ioctl takes 2 or 3 arguments, not {call.Arguments.Count}");
        int fd = Fd(line, call);
        long request = Int(line, call.Arguments[1], "the request");
        if (request is not (SIOCINQ or SIOCOUTQ or SIOCOUTQNSD))
        {
            throw Fail(line, $"ioctl request `{call.Arguments[1]}` is not supported (SIOCINQ, FIONREAD, 0x5411 SIOCOUTQ, 0x894b SIOCOUTQNSD)");
        }
        ScriptExpression? expected = call.Arguments.Count == 3 ? call.Arguments[2] : null;
        if (expected is not (null or ListExpression { Braces: false, Items: [_] }))
        {
            throw Fail(line, $"ioctl's third argument is [N] as in packetdrill, not `{expected}`");
        }
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is not null) return Outcome.Error(EINVAL);
            // Without a buffer Linux's tcp_ioctl still answers, and copying the answer to NULL is EFAULT.
            if (expected is null) return Outcome.Error(EFAULT);
            UserTcpConnection? c = socket.Connection;
            long actual = c is null ? 0 : request switch
            {
                SIOCINQ => c.Available,
                SIOCOUTQ => c.BytesNotAcknowledged,
                _ => c.BytesNotSent,
            };
            if (Int(line, expected, "the expected value") != actual)
            {
                throw Fail(line, $"ioctl({call.Arguments[1]}) gave [{actual}], the script expects {expected}");
            }
            return Outcome.Ok(0);
        };
    }

    /// <summary>The bytes of data the buffer holds after setsockopt(SO_SNDBUF or SO_RCVBUF, <paramref name="value"/>).</summary>
    private static int BufferBytes(long name, long value) => name == SO_SNDBUF
        ? (int)Math.Max(2 * value, MinReportedSendBuffer)
        : (int)(Math.Max(2 * value, MinReportedReceiveBuffer) / 2);

    /// <summary>The option's size in Linux: sizeof(struct linger) for SO_LINGER, sizeof(int) for the others here.</summary>
    private static long OptionLength(long level, long name) => level == SOL_SOCKET && name == SO_LINGER ? 8 : 4;

    private static (long Level, long Name) OptionName(int line, SyscallSpec call)
    {
        long level = Int(line, call.Arguments[1], "the level");
        long name = Int(line, call.Arguments[2], "the option name");
        bool known = (level, name) switch
        {
            (SOL_SOCKET, SO_REUSEADDR or SO_KEEPALIVE or SO_LINGER or SO_SNDBUF or SO_RCVBUF) => true,
            (SOL_SOCKET, SO_ERROR) => call.Name == "getsockopt",
            (SOL_IP, IP_TOS or IP_MTU_DISCOVER) => true,
            (IPPROTO_TCP, TCP_FASTOPEN) => true,
            (IPPROTO_TCP, TCP_FASTOPEN_KEY) => call.Name == "setsockopt",
            (IPPROTO_TCP, TCP_MAXSEG or TCP_USER_TIMEOUT or TCP_INQ or TCP_CORK or TCP_QUICKACK or TCP_NODELAY or TCP_KEEPIDLE or TCP_KEEPINTVL or TCP_KEEPCNT or TCP_LINGER2 or TCP_CONGESTION
                or TCP_NOTSENT_LOWAT or TCP_DEFER_ACCEPT) => true,
            (IPPROTO_TCP, TCP_SYNCNT) => true,
            (IPPROTO_TCP, TCP_FASTOPEN_CONNECT) => call.Name == "setsockopt",
            _ => false,
        };
        if (!known)
        {
            throw Fail(line, $"{call.Name}({call.Arguments[1]}, {call.Arguments[2]}) is not supported (SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, SO_SNDBUF, SO_RCVBUF, SO_ERROR, "
                + "TCP_FASTOPEN, TCP_FASTOPEN_KEY (setsockopt), "
                + "TCP_MAXSEG, TCP_USER_TIMEOUT, TCP_INQ, TCP_CORK, TCP_QUICKACK, TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_LINGER2, TCP_CONGESTION, TCP_NOTSENT_LOWAT, TCP_DEFER_ACCEPT, TCP_FASTOPEN_CONNECT, TCP_SYNCNT, IP_TOS, IP_MTU_DISCOVER)");
        }
        return (level, name);
    }

    /// <summary>
    /// TCP_FASTOPEN_KEY's value: a "string" of 16 bytes (a key) or 32 (a key and its backup), as optlen says; null for
    /// another length (EINVAL). packetdrill unescapes <c>\xHH</c>; our lexer keeps the <c>xHH</c> after dropping the
    /// backslash, so a string made only of such runs is read as their bytes.
    /// </summary>
    private static FastOpenKey? FastOpenKeyValue(int line, ScriptExpression expression, ScriptExpression length)
    {
        if (expression is not StringExpression { Value: var text }) throw Fail(line, $"TCP_FASTOPEN_KEY takes a \"string\" of 16 or 32 bytes, not `{expression}`");
        byte[] bytes = System.Text.RegularExpressions.Regex.IsMatch(text, "^(x[0-9a-fA-F]{2})+$")
            ? Convert.FromHexString(text.Replace("x", "", StringComparison.Ordinal))
            : System.Text.Encoding.Latin1.GetBytes(text);
        long optlen = length is EllipsisExpression ? bytes.Length : Int(line, length, "the option length");
        if (optlen is not (FastOpenKey.KeyLength or 2 * FastOpenKey.KeyLength) || bytes.Length < optlen) return null;
        return new FastOpenKey(bytes.AsSpan(0, FastOpenKey.KeyLength), optlen == 2 * FastOpenKey.KeyLength ? bytes.AsSpan(FastOpenKey.KeyLength, FastOpenKey.KeyLength) : default);
    }

    /// <summary>TCP_CONGESTION's value: the algorithm a name in quotes stands for, or null for a name UserTcp does not have.</summary>
    private static CongestionControlAlgorithm? AlgorithmValue(int line, ScriptExpression expression) =>
        expression is StringExpression { Value: var name }
            ? CongestionControlAlgorithms.TryParse(name, out CongestionControlAlgorithm algorithm) ? algorithm : null
            : throw Fail(line, $"TCP_CONGESTION takes a name in quotes (\"cubic\", \"reno\", \"bbr\"), not `{expression}`");

    /// <summary>SO_LINGER's struct linger as the API's linger: null when off, else the time close may wait (zero resets).</summary>
    private static TimeSpan? LingerValue(int line, ScriptExpression expression)
    {
        if (expression is ListExpression { Struct: LingerStruct linger })
        {
            long on = Int(line, linger.OnOff, "onoff");
            long seconds = Int(line, linger.Linger, "linger");
            if (seconds < 0) throw Fail(line, $"a linger time of {seconds} s is not supported");
            return on == 0 ? null : TimeSpan.FromSeconds(seconds);
        }
        throw Fail(line, $"SO_LINGER takes {{onoff=N, linger=N}}, not `{expression}`");
    }
}
