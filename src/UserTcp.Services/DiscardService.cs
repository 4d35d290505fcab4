using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>Discard (RFC 863, port 9): reads and throws away everything until the peer closes, then closes.</summary>
public sealed class DiscardService(ILogger? logger = null) : ConnectionService("discard", Port, logger)
{
    public const ushort Port = 9;

    public override async Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        byte[] buffer = new byte[64 * 1024];
        while (await ReadAsync(connection, buffer, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }
}
