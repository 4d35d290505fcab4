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
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int O_RDWR = 2;
    public const int O_NONBLOCK = 0x800;
    public const int SHUT_RD = 0;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

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
        ["TCP_MAXSEG"] = 2,
        ["TCP_CORK"] = 3,
        ["TCP_KEEPIDLE"] = TCP_KEEPIDLE,
        ["TCP_KEEPINTVL"] = TCP_KEEPINTVL,
        ["TCP_KEEPCNT"] = TCP_KEEPCNT,
        ["TCP_LINGER2"] = TCP_LINGER2,
        ["TCP_INFO"] = 11,
        ["TCP_USER_TIMEOUT"] = 18,
        ["F_GETFL"] = F_GETFL,
        ["F_SETFL"] = F_SETFL,
        ["O_RDONLY"] = 0,
        ["O_WRONLY"] = 1,
        ["O_RDWR"] = O_RDWR,
        ["O_NONBLOCK"] = O_NONBLOCK,
        ["SHUT_RD"] = SHUT_RD,
        ["SHUT_WR"] = SHUT_WR,
        ["SHUT_RDWR"] = SHUT_RDWR,
    };

    private static readonly Dictionary<string, (int Number, string Message)> Errnos = new()
    {
        ["EPERM"] = (1, "Operation not permitted"),
        ["EINTR"] = (4, "Interrupted system call"),
        ["EBADF"] = (9, "Bad file descriptor"),
        ["EAGAIN"] = (11, "Resource temporarily unavailable"),
        ["EWOULDBLOCK"] = (11, "Resource temporarily unavailable"),
        ["EFAULT"] = (14, "Bad address"),
        ["EINVAL"] = (22, "Invalid argument"),
        ["EPIPE"] = (32, "Broken pipe"),
        ["ENOTSOCK"] = (88, "Socket operation on non-socket"),
        ["ENOPROTOOPT"] = (92, "Protocol not available"),
        ["EOPNOTSUPP"] = (95, "Operation not supported"),
        ["EADDRINUSE"] = (98, "Address already in use"),
        ["ECONNABORTED"] = (103, "Software caused connection abort"),
        ["ECONNRESET"] = (104, "Connection reset by peer"),
        ["EISCONN"] = (106, "Transport endpoint is already connected"),
        ["ENOTCONN"] = (107, "Transport endpoint is not connected"),
        ["ETIMEDOUT"] = (110, "Connection timed out"),
        ["ECONNREFUSED"] = (111, "Connection refused"),
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
