using System.Buffers;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// Echo (RFC 862, port 7): sends back whatever arrives. When the peer half-closes, everything received before its
/// FIN has been echoed; then this side closes too (the peer reads end of stream after the last echoed byte).
/// Its handler only awaits the connection, so it runs on the stack's threads (<see cref="ConnectionService.InlineCompletions"/>):
/// a request costs no thread switch.
/// </summary>
public sealed class EchoService(ILogger? logger = null) : ConnectionService("echo", Port, logger, inlineCompletions: true)
{
    public const ushort Port = 7;

    /// <summary>
    /// Inline, Nagle off (interactive: each line back at once, not after the previous ACK), and no quick ACKs: every
    /// request is answered at once and the answer carries its ACK, so Linux's quick ACKs for a new connection's first
    /// segments would only put a pure ACK before it (Linux's TCP_QUICKACK 0, pingpong mode, from the first segment).
    /// </summary>
    protected override UserTcpConnectionOptions ListenOptions(NetStack stack)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return new UserTcpConnectionOptions { InlineCompletions = true, NoDelay = true, Tcp = stack.TcpConfig with { QuickAcks = 0, StartInPingPongMode = true } };
    }

    public override async Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!connection.NoDelay) connection.NoDelay = true; // interactive (a listener of our own has it on already)
        // Pooled: a connection that lives for one request (a connection-rate test) should not cost 16 KiB of garbage.
        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        int read;
        try
        {
            // A reset comes back as -1, not as an exception (which would cost more than the whole connection). The
            // connection is awaited directly, not through ConnectionService's counting wrappers: each wrapper is one more
            // async state machine to complete and resume per request.
            while ((read = await connection.TryReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                Statistics.Received(read);
                await connection.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                Statistics.Wrote(read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (read < 0) return; // the connection failed: nothing to close gracefully (the service counts it)
        // The peer's FIN: all it sent is echoed (queued ahead of our FIN), so close our side.
        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }
}
