namespace UserTcp.Script;

/// <summary>Linux (x86-64) values of the symbols scripts use, and errno names with their messages.</summary>
internal static class LinuxSymbols
{
    public const int AF_INET = 2;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int IPPROTO_TCP = 6;
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_KEEPALIVE = 9;
    public const int SO_LINGER = 13;
    public const int TCP_NODELAY = 1;
    public const int TCP_KEEPIDLE = 4;
    public const int TCP_KEEPINTVL = 5;
    public const int TCP_KEEPCNT = 6;
    public const int TCP_LINGER2 = 8;
    public const int TCP_MAXSEG = 2;
    public const int TCP_USER_TIMEOUT = 18;
    public const int TCP_CORK = 3;
    public const int TCP_QUICKACK = 12;
    public const int MSG_MORE = 0x8000;
    public const int TCP_INQ = 36;
    public const int TCP_CM_INQ = TCP_INQ;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_EOR = 0x80;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_FASTOPEN = 0x20000000;
    public const int TCP_FASTOPEN_CONNECT = 30;
    public const int TCP_SYNCNT = 7;
    public const int SIOCINQ = 0x541B;
    public const int SIOCOUTQ = 0x5411;
    public const int SIOCOUTQNSD = 0x894B;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int O_RDWR = 2;
    public const int O_NONBLOCK = 0x800;
    public const int SHUT_RD = 0;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;
    public const int SOL_IP = 0;
    public const int IP_TOS = 1;
    public const int IP_MTU_DISCOVER = 10;
    public const int TCP_DEFER_ACCEPT = 9;
    public const int TCP_NOTSENT_LOWAT = 25;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const long EPOLLONESHOT = 1L << 30;
    public const long EPOLLET = 1L << 31;

    private static readonly Dictionary<string, long> Symbols = new()
    {
        ["AF_INET"] = AF_INET,
        ["PF_INET"] = AF_INET,
        ["SOCK_STREAM"] = SOCK_STREAM,
        ["SOCK_NONBLOCK"] = SOCK_NONBLOCK,
        ["IPPROTO_TCP"] = IPPROTO_TCP,
        ["IPPROTO_IP"] = 0,
        ["SOL_SOCKET"] = SOL_SOCKET,
        ["SOL_TCP"] = IPPROTO_TCP,
        ["SO_REUSEADDR"] = SO_REUSEADDR,
        ["SO_ERROR"] = SO_ERROR,
        ["SO_KEEPALIVE"] = SO_KEEPALIVE,
        ["SO_LINGER"] = SO_LINGER,
        ["SO_SNDBUF"] = SO_SNDBUF,
        ["SO_RCVBUF"] = SO_RCVBUF,
        ["SO_REUSEPORT"] = 15,
        ["TCP_NODELAY"] = TCP_NODELAY,
        ["TCP_MAXSEG"] = TCP_MAXSEG,
        ["TCP_CORK"] = TCP_CORK,
        ["TCP_KEEPIDLE"] = TCP_KEEPIDLE,
        ["TCP_KEEPINTVL"] = TCP_KEEPINTVL,
        ["TCP_KEEPCNT"] = TCP_KEEPCNT,
        ["TCP_LINGER2"] = TCP_LINGER2,
        ["TCP_INFO"] = 11,
        ["TCP_USER_TIMEOUT"] = TCP_USER_TIMEOUT,
        ["F_GETFL"] = F_GETFL,
        ["F_SETFL"] = F_SETFL,
        ["O_RDONLY"] = 0,
        ["O_WRONLY"] = 1,
        ["O_RDWR"] = O_RDWR,
        ["O_NONBLOCK"] = O_NONBLOCK,
        ["SHUT_RD"] = SHUT_RD,
        ["SHUT_WR"] = SHUT_WR,
        ["SHUT_RDWR"] = SHUT_RDWR,

        // The rest of what the upstream corpus names (x86-64 values, include/uapi): the parser reads them; which of
        // them a call supports is the system-call layer's business.
        ["AF_UNSPEC"] = 0,
        ["AF_INET6"] = 10,
        ["PF_INET6"] = 10,
        ["SOCK_DGRAM"] = 2,
        ["SOCK_CLOEXEC"] = 0x80000,
        ["IPPROTO_UDP"] = 17,
        ["IPPROTO_IPV6"] = 41,
        ["SOL_IP"] = 0,
        ["SOL_IPV6"] = 41,
        ["SOL_UDP"] = 17,
        ["SO_DEBUG"] = 1,
        ["SO_TYPE"] = 3,
        ["SO_DONTROUTE"] = 5,
        ["SO_BROADCAST"] = 6,
        ["SO_OOBINLINE"] = 10,
        ["SO_PRIORITY"] = 12,
        ["SO_RCVLOWAT"] = 18,
        ["SO_SNDLOWAT"] = 19,
        ["SO_RCVTIMEO"] = 20,
        ["SO_SNDTIMEO"] = 21,
        ["SO_TIMESTAMP"] = 29,
        ["SO_ACCEPTCONN"] = 30,
        ["SO_SNDBUFFORCE"] = 32,
        ["SO_RCVBUFFORCE"] = 33,
        ["SO_MARK"] = 36,
        ["SO_TIMESTAMPING"] = 37,
        ["SO_PROTOCOL"] = 38,
        ["SO_DOMAIN"] = 39,
        ["SO_MAX_PACING_RATE"] = 47,
        ["SO_INCOMING_CPU"] = 49,
        ["SO_ZEROCOPY"] = 60,
        ["SO_TXTIME"] = 61,
        ["SCM_TIMESTAMPING"] = 37,
        ["SCM_TSTAMP_SND"] = 0,
        ["SCM_TSTAMP_SCHED"] = 1,
        ["SCM_TSTAMP_ACK"] = 2,
        ["SOF_TIMESTAMPING_TX_HARDWARE"] = 1 << 0,
        ["SOF_TIMESTAMPING_TX_SOFTWARE"] = 1 << 1,
        ["SOF_TIMESTAMPING_RX_HARDWARE"] = 1 << 2,
        ["SOF_TIMESTAMPING_RX_SOFTWARE"] = 1 << 3,
        ["SOF_TIMESTAMPING_SOFTWARE"] = 1 << 4,
        ["SOF_TIMESTAMPING_SYS_HARDWARE"] = 1 << 5,
        ["SOF_TIMESTAMPING_RAW_HARDWARE"] = 1 << 6,
        ["SOF_TIMESTAMPING_OPT_ID"] = 1 << 7,
        ["SOF_TIMESTAMPING_TX_SCHED"] = 1 << 8,
        ["SOF_TIMESTAMPING_TX_ACK"] = 1 << 9,
        ["SOF_TIMESTAMPING_OPT_CMSG"] = 1 << 10,
        ["SOF_TIMESTAMPING_OPT_TSONLY"] = 1 << 11,
        ["SOF_TIMESTAMPING_OPT_STATS"] = 1 << 12,
        ["SO_EE_ORIGIN_NONE"] = 0,
        ["SO_EE_ORIGIN_LOCAL"] = 1,
        ["SO_EE_ORIGIN_ICMP"] = 2,
        ["SO_EE_ORIGIN_ICMP6"] = 3,
        ["SO_EE_ORIGIN_TXSTATUS"] = 4,
        ["SO_EE_ORIGIN_TIMESTAMPING"] = 4,
        ["SO_EE_ORIGIN_ZEROCOPY"] = 5,
        ["SO_EE_CODE_ZEROCOPY_COPIED"] = 1,
        ["IP_TOS"] = 1,
        ["IP_TTL"] = 2,
        ["IP_MTU_DISCOVER"] = 10,
        ["IP_RECVERR"] = 11,
        ["IP_FREEBIND"] = 15,
        ["IP_PMTUDISC_DONT"] = 0,
        ["IP_PMTUDISC_WANT"] = 1,
        ["IP_PMTUDISC_DO"] = 2,
        ["IP_PMTUDISC_PROBE"] = 3,
        ["IPV6_RECVERR"] = 25,
        ["TCP_SYNCNT"] = 7,
        ["TCP_DEFER_ACCEPT"] = 9,
        ["TCP_WINDOW_CLAMP"] = 10,
        ["TCP_QUICKACK"] = TCP_QUICKACK,
        ["TCP_CONGESTION"] = 13,
        ["TCP_MD5SIG"] = 14,
        ["TCP_THIN_LINEAR_TIMEOUTS"] = 16,
        ["TCP_FASTOPEN"] = 23,
        ["TCP_NOTSENT_LOWAT"] = 25,
        ["TCP_SAVE_SYN"] = 27,
        ["TCP_SAVED_SYN"] = 28,
        ["TCP_FASTOPEN_CONNECT"] = 30,
        ["TCP_FASTOPEN_KEY"] = 33,
        ["TCP_ZEROCOPY_RECEIVE"] = 35,
        ["TCP_INQ"] = TCP_INQ,
        ["TCP_CM_INQ"] = TCP_CM_INQ,
        ["TCP_TX_DELAY"] = 37,
        ["MSG_OOB"] = 0x1,
        ["MSG_PEEK"] = 0x2,
        ["MSG_DONTROUTE"] = 0x4,
        ["MSG_CTRUNC"] = 0x8,
        ["MSG_TRUNC"] = 0x20,
        ["MSG_DONTWAIT"] = MSG_DONTWAIT,
        ["MSG_EOR"] = MSG_EOR,
        ["MSG_WAITALL"] = 0x100,
        ["MSG_ERRQUEUE"] = 0x2000,
        ["MSG_NOSIGNAL"] = MSG_NOSIGNAL,
        ["MSG_MORE"] = MSG_MORE,
        ["MSG_ZEROCOPY"] = 0x4000000,
        ["MSG_FASTOPEN"] = 0x20000000,
        ["F_GETFD"] = 1,
        ["F_SETFD"] = 2,
        ["FD_CLOEXEC"] = 1,
        ["O_CLOEXEC"] = 0x80000,
        ["FIONREAD"] = SIOCINQ,
        ["SIOCINQ"] = SIOCINQ,
        // No TIOCOUTQ, SIOCOUTQ or SIOCOUTQNSD: packetdrill's symbols_linux.c has none of them (write 0x5411, 0x894B).
        ["POLLIN"] = 0x1,
        ["POLLPRI"] = 0x2,
        ["POLLOUT"] = 0x4,
        ["POLLERR"] = 0x8,
        ["POLLHUP"] = 0x10,
        ["POLLNVAL"] = 0x20,
        ["POLLRDNORM"] = 0x40,
        ["POLLRDBAND"] = 0x80,
        ["POLLWRNORM"] = 0x100,
        ["POLLWRBAND"] = 0x200,
        ["POLLRDHUP"] = 0x2000,
        ["EPOLLIN"] = 0x1,
        ["EPOLLPRI"] = 0x2,
        ["EPOLLOUT"] = 0x4,
        ["EPOLLERR"] = 0x8,
        ["EPOLLHUP"] = 0x10,
        ["EPOLLRDNORM"] = 0x40,
        ["EPOLLRDBAND"] = 0x80,
        ["EPOLLWRNORM"] = 0x100,
        ["EPOLLWRBAND"] = 0x200,
        ["EPOLLRDHUP"] = 0x2000,
        ["EPOLLEXCLUSIVE"] = 1L << 28,
        ["EPOLLWAKEUP"] = 1L << 29,
        ["EPOLLONESHOT"] = 1L << 30,
        ["EPOLLET"] = 1L << 31,
        ["EPOLL_CTL_ADD"] = 1,
        ["EPOLL_CTL_DEL"] = 2,
        ["EPOLL_CTL_MOD"] = 3,
        ["EPOLL_CLOEXEC"] = 0x80000,
    };

    private static readonly Dictionary<string, (int Number, string Message)> Errnos = new()
    {
        ["EPERM"] = (1, "Operation not permitted"),
        ["ENOENT"] = (2, "No such file or directory"),
        ["EINTR"] = (4, "Interrupted system call"),
        ["EIO"] = (5, "Input/output error"),
        ["EBADF"] = (9, "Bad file descriptor"),
        ["EAGAIN"] = (11, "Resource temporarily unavailable"),
        ["EWOULDBLOCK"] = (11, "Resource temporarily unavailable"),
        ["ENOMEM"] = (12, "Cannot allocate memory"),
        ["EACCES"] = (13, "Permission denied"),
        ["EFAULT"] = (14, "Bad address"),
        ["EBUSY"] = (16, "Device or resource busy"),
        ["EEXIST"] = (17, "File exists"),
        ["ENODEV"] = (19, "No such device"),
        ["EINVAL"] = (22, "Invalid argument"),
        ["EMFILE"] = (24, "Too many open files"),
        ["ENOTTY"] = (25, "Inappropriate ioctl for device"),
        ["ENOSPC"] = (28, "No space left on device"),
        ["EPIPE"] = (32, "Broken pipe"),
        ["ERANGE"] = (34, "Numerical result out of range"),
        ["ENOSYS"] = (38, "Function not implemented"),
        ["ENOMSG"] = (42, "No message of desired type"),
        ["ENODATA"] = (61, "No data available"),
        ["EPROTO"] = (71, "Protocol error"),
        ["ENOTSOCK"] = (88, "Socket operation on non-socket"),
        ["EDESTADDRREQ"] = (89, "Destination address required"),
        ["EMSGSIZE"] = (90, "Message too long"),
        ["EPROTOTYPE"] = (91, "Protocol wrong type for socket"),
        ["ENOPROTOOPT"] = (92, "Protocol not available"),
        ["EPROTONOSUPPORT"] = (93, "Protocol not supported"),
        ["EOPNOTSUPP"] = (95, "Operation not supported"),
        ["EAFNOSUPPORT"] = (97, "Address family not supported by protocol"),
        ["EADDRINUSE"] = (98, "Address already in use"),
        ["EADDRNOTAVAIL"] = (99, "Cannot assign requested address"),
        ["ENETDOWN"] = (100, "Network is down"),
        ["ENETUNREACH"] = (101, "Network is unreachable"),
        ["ENETRESET"] = (102, "Network dropped connection on reset"),
        ["ECONNABORTED"] = (103, "Software caused connection abort"),
        ["ECONNRESET"] = (104, "Connection reset by peer"),
        ["ENOBUFS"] = (105, "No buffer space available"),
        ["EISCONN"] = (106, "Transport endpoint is already connected"),
        ["ENOTCONN"] = (107, "Transport endpoint is not connected"),
        ["ESHUTDOWN"] = (108, "Cannot send after transport endpoint shutdown"),
        ["ETIMEDOUT"] = (110, "Connection timed out"),
        ["ECONNREFUSED"] = (111, "Connection refused"),
        ["EHOSTDOWN"] = (112, "Host is down"),
        ["EHOSTUNREACH"] = (113, "No route to host"),
        ["EALREADY"] = (114, "Operation already in progress"),
        ["EINPROGRESS"] = (115, "Operation now in progress"),
    };

    public static bool TrySymbol(string name, out long value) => Symbols.TryGetValue(name, out value) || TryErrno(name, out value);

    public static bool TryErrno(string name, out long number)
    {
        bool found = Errnos.TryGetValue(name, out var entry);
        number = entry.Number;
        return found;
    }

    public static bool IsErrno(string name) => Errnos.ContainsKey(name);

    /// <summary>The canonical name of an errno number (EAGAIN rather than EWOULDBLOCK).</summary>
    public static string ErrnoName(int number) => Errnos.FirstOrDefault(e => e.Value.Number == number).Key ?? $"errno {number}";

    public static string ErrnoMessage(int number) => Errnos.FirstOrDefault(e => e.Value.Number == number).Value.Message ?? "";

    /// <summary>The symbols a number might stand for, for messages ("6 (IPPROTO_TCP)").</summary>
    public static string NameOf(string prefix, long value) =>
        Symbols.FirstOrDefault(s => s.Key.StartsWith(prefix, StringComparison.Ordinal) && s.Value == value).Key ?? value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
