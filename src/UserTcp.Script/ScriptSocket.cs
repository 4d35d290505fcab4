using UserTcp.Sockets;

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
/// A call that is waiting (<c>start...end</c>, or one that blocks the script): <see cref="Attempt"/> is asked again
/// after every step of the stack and returns the outcome once the API call it made has completed.
/// </summary>
internal sealed record PendingCall(int Line, SyscallSpec Spec, Func<Outcome?> Attempt, long End);

/// <summary>
/// A script file descriptor: what the descriptor table holds beside the UserTcp.Sockets objects it names. Everything
/// a socket does is the API's; this keeps only what a descriptor is before and around them — blocking or not, the
/// port bind() chose and SO_REUSEADDR (bind's own bookkeeping), and the options setsockopt gave before connect() or
/// listen() (as <see cref="UserTcpConnectionOptions"/>, what the API takes then).
/// </summary>
internal sealed class ScriptSocket(int fd, bool nonBlocking)
{
    public int Fd { get; } = fd;
    public bool NonBlocking { get; set; } = nonBlocking;
    public ushort? BoundPort { get; set; }
    public bool ReuseAddress { get; set; }
    /// <summary>TCP_INQ: recvmsg reports the bytes still queued in a TCP_CM_INQ control message (a descriptor flag, as Linux's).</summary>
    public bool ReceiveQueueHint { get; set; }
    public UserTcpListener? Listener { get; set; }
    public UserTcpConnection? Connection { get; set; }
    /// <summary>
    /// Linux's SS_CONNECTING: a non-blocking connect() said EINPROGRESS and no connect() has since seen the result, so the
    /// next one that finds the connection established returns 0 (and only a later one EISCONN).
    /// </summary>
    public bool Connecting { get; set; }
    /// <summary>The options for the next connect() or listen(), and what getsockopt reports before either.</summary>
    public UserTcpConnectionOptions Options { get; set; } = new();
}
