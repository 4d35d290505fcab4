using UserTcp.Sockets;

namespace UserTcp.AspNetCore;

/// <summary>
/// The UserTcp connection under an ASP.NET Core connection (<c>HttpContext.Features.Get&lt;IUserTcpConnectionFeature&gt;()</c>):
/// its TCP state, endpoints and socket options, as Kestrel's Sockets transport offers its <c>Socket</c>.
/// </summary>
public interface IUserTcpConnectionFeature
{
    /// <summary>The connection; reading or writing it directly would bypass the transport's pipes, so don't.</summary>
    UserTcpConnection Connection { get; }

    /// <summary>Bytes the transport has read from the connection so far (what the client sent: request heads and bodies).</summary>
    long BytesReceived { get; }

    /// <summary>Bytes the transport has handed to the connection for sending so far (responses, headers included).</summary>
    long BytesSent { get; }

    /// <summary>
    /// Runs <paramref name="callback"/> once the transport has finished with the connection (closed or reset, both of its
    /// loops ended, after Kestrel's teardown), when the byte counts are final; at once if that has happened already.
    /// </summary>
    void OnClosed(Action<IUserTcpConnectionFeature> callback);
}
