using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// Echo (RFC 862, port 7): sends back whatever arrives. When the peer half-closes, everything received before its
/// FIN has been echoed; then this side closes too (the peer reads end of stream after the last echoed byte).
/// </summary>
public sealed class EchoService(ILogger? logger = null) : ConnectionService("echo", Port, logger)
{
    public const ushort Port = 7;

    public override async Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.NoDelay = true; // interactive: each line back at once, not after the previous ACK
        byte[] buffer = new byte[16 * 1024];
        int read;
        while ((read = await ReadAsync(connection, buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await WriteAsync(connection, buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }
        // The peer's FIN: all it sent is echoed (queued ahead of our FIN), so close our side.
        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }
}
