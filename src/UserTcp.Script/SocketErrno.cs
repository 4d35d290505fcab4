using System.Net.Sockets;

namespace UserTcp.Script;

/// <summary>
/// The one table between UserTcp.Sockets and the scripts: the Linux errno each <see cref="SocketError"/> the API
/// reports stands for (the values .NET itself maps errno to on Linux). A system call's errno comes from here and
/// nowhere else, so a wrong error in the API shows up as a wrong errno in a script.
/// </summary>
internal static class SocketErrno
{
    public const int ENOENT = 2;
    public const int EBADF = 9;
    public const int EEXIST = 17;
    public const int EAGAIN = 11;
    public const int EFAULT = 14;
    public const int EINVAL = 22;
    public const int EPIPE = 32;
    public const int EOPNOTSUPP = 95;
    public const int EADDRINUSE = 98;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int EISCONN = 106;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EALREADY = 114;
    public const int EHOSTUNREACH = 113;
    public const int EINPROGRESS = 115;

    /// <summary>The errno for <paramref name="error"/>; false for a code the scripts' calls cannot meet.</summary>
    public static bool TryOf(SocketError error, out int errno)
    {
        errno = error switch
        {
            SocketError.WouldBlock => EAGAIN,
            SocketError.InProgress => EINPROGRESS,
            SocketError.AlreadyInProgress => EALREADY,
            SocketError.IsConnected => EISCONN,
            SocketError.NotConnected => ENOTCONN,
            SocketError.Shutdown => EPIPE,
            SocketError.ConnectionReset => ECONNRESET,
            SocketError.ConnectionRefused => ECONNREFUSED,
            SocketError.ConnectionAborted => ECONNABORTED,
            SocketError.TimedOut => ETIMEDOUT,
            SocketError.AddressAlreadyInUse => EADDRINUSE,
            SocketError.InvalidArgument => EINVAL,
            SocketError.HostUnreachable => EHOSTUNREACH,
            SocketError.NetworkUnreachable => ENETUNREACH,
            _ => 0,
        };
        return errno != 0;
    }
}
