namespace UserTcp.Tun;

/// <summary>A TUN or namespace operation failed; the message says what to do about it.</summary>
public sealed class TunException : Exception
{
    /// <summary>A failure with the system's <paramref name="errno"/>.</summary>
    public TunException(int errno, string message) : base(message) => Errno = errno;

    /// <summary>The errno the failing system call reported.</summary>
    public int Errno { get; }
}
