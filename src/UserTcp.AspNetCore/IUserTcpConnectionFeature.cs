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
}
