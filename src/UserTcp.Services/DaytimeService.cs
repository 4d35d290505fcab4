using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// Daytime (RFC 867, port 13): sends one line with the date and time, then closes first — the active close, so this
/// side passes FIN-WAIT-1, FIN-WAIT-2 and TIME-WAIT while the peer passes CLOSE-WAIT and LAST-ACK. The line is in
/// ctime(3) layout in local time, as inetd prints it: <c>Tue Mar 10 12:34:56 2026\r\n</c>. Whatever the peer sends is
/// thrown away (RFC 867): the receive side is shut first, so data that came before the close cannot turn it into a RST.
/// </summary>
public sealed class DaytimeService(TimeProvider? time = null, ILogger? logger = null) : ConnectionService("daytime", Port, logger, inlineCompletions: true)
{
    public const ushort Port = 13;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The line sent for <paramref name="now"/>, CR LF included.</summary>
    public static string Format(DateTimeOffset now)
    {
        // ctime pads the day of the month with a space: "Mar  1".
        string day = now.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2);
        return now.ToString($"ddd MMM '{day}' HH:mm:ss yyyy", CultureInfo.InvariantCulture) + "\r\n";
    }

    public override async Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        byte[] line = Encoding.ASCII.GetBytes(Format(_time.GetLocalNow()));
        connection.Shutdown(SocketShutdown.Receive);
        await WriteAsync(connection, line, cancellationToken).ConfigureAwait(false);
        await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }
}
