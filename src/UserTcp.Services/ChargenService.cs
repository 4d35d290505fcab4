using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// Character generator (RFC 864, port 19): sends lines of 72 printable ASCII characters, each starting one character
/// further along the 95 printable characters (space to '~') than the one before, CR LF after each, until the peer ends
/// the connection. As RFC 864 says, the peer's data is thrown away; a FIN from the peer (a half-close) does not stop
/// the stream, a reset does — which is what a peer that closes with our data unread, or receives data after closing,
/// sends. Backpressure comes from the peer's window: a peer that stops reading stalls the generator, nothing piles up.
/// </summary>
public sealed class ChargenService(ILogger? logger = null) : ConnectionService("chargen", Port, logger, inlineCompletions: true)
{
    public const ushort Port = 19;
    public const int LineLength = 72;
    /// <summary>After this many lines the pattern repeats (one per printable character).</summary>
    public const int Period = 95;

    /// <summary>
    /// Bytes one write hands TCP: whole periods (so the next write continues the pattern), more than a default send
    /// buffer holds (256 KiB; 38 × 95 lines × 74 bytes = 267,140 bytes). The write then waits for room, and the stack's
    /// own thread goes on queueing the rest and sending it as the peer's ACKs free the buffer, without a thread switch;
    /// the task resumes once per write, not once per ACK. With 64 KiB writes the write mostly found room, so the task's
    /// thread sent and the stack's thread took the ACKs: a switch every 10-15 segments on a shared vCPU.
    /// </summary>
    public const int WriteSize = 38 * Period * (LineLength + 2);

    private static readonly byte[] Block = BuildBlock(WriteSize / (LineLength + 2));

    /// <summary>Line <paramref name="index"/> (0 based), CR LF included.</summary>
    public static string Line(long index)
    {
        var chars = new char[LineLength + 2];
        for (int j = 0; j < LineLength; j++) chars[j] = (char)(' ' + (int)((index + j) % Period));
        chars[LineLength] = '\r';
        chars[LineLength + 1] = '\n';
        return new string(chars);
    }

    public override async Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.Shutdown(SocketShutdown.Receive); // RFC 864: "any data received is thrown away"
        try
        {
            while (true) await WriteAsync(connection, Block, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            // The peer ended it: the way a chargen connection is supposed to end. After the peer's FIN a reset reads as
            // Shutdown (EPIPE), as on Linux.
        }
    }

    private static byte[] BuildBlock(int lines)
    {
        byte[] block = new byte[lines * (LineLength + 2)];
        for (int i = 0; i < lines; i++)
        {
            Span<byte> line = block.AsSpan(i * (LineLength + 2), LineLength + 2);
            for (int j = 0; j < LineLength; j++) line[j] = (byte)(' ' + (i + j) % Period);
            line[LineLength] = (byte)'\r';
            line[LineLength + 1] = (byte)'\n';
        }
        return block;
    }
}
