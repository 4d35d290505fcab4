using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Sockets;

/// <summary>What <see cref="NetStack.DisposeAsync"/> does with connections still open.</summary>
public enum CloseMode : byte
{
    /// <summary>Close each with a FIN and wait for the closes to finish, up to <see cref="NetStackOptions.ShutdownTimeout"/>; reset what is left.</summary>
    Graceful,
    /// <summary>Reset every connection at once.</summary>
    Reset,
}

/// <summary>How a <see cref="NetStack"/> runs.</summary>
public sealed record NetStackOptions
{
    /// <summary>This stack's IPv4 address (the kernel routes it through the TUN interface).</summary>
    public required Ipv4Address Address { get; init; }
    /// <summary>The engine's tunables (timers, buffers, retries).</summary>
    public TcpConfig Tcp { get; init; } = new();
    /// <summary>What disposing of the stack does to open connections: close them (FIN) or abort them (RST).</summary>
    public CloseMode CloseOnDispose { get; init; } = CloseMode.Graceful;
    /// <summary>How long a graceful dispose waits for connections to finish closing.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Another consumer of the engine's events (a recorder, a lab), besides the log.</summary>
    public ITcpEventSink? Events { get; init; }
    /// <summary>
    /// The reader threads run at nice -20, as the timer threads always do: the kernel's TCP runs in softirq context, ahead
    /// of every process, so a stack compared with it (the lab) should not wait behind a busy machine's other work to read
    /// and answer. Needs CAP_SYS_NICE (root); without it the threads stay at their nice value. Off by default: a server
    /// on a shared machine need not outrank everything else.
    /// </summary>
    public bool HighPriorityReaders { get; init; }

    /// <summary>
    /// Test seam: replaces how engine errors become the <see cref="System.Net.Sockets.SocketError"/>s the API reports,
    /// so a test can plant a socket-API bug and show the script corpus catches it. Null: <see cref="SocketErrors"/>.
    /// </summary>
    internal Func<TcpError, System.Net.Sockets.SocketError>? ErrorTranslation { get; init; }
}
