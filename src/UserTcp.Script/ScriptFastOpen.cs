using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using static UserTcp.Script.LinuxSymbols;
using static UserTcp.Script.SocketErrno;

namespace UserTcp.Script;

/// <summary>
/// TCP Fast Open's system calls (RFC 7413 client): sendto with MSG_FASTOPEN on an unconnected socket opens the connection
/// as TCP_FASTOPEN_CONNECT does and writes in one call (Linux's tcp_sendmsg_fastopen); setsockopt TCP_FASTOPEN_CONNECT.
/// </summary>
internal sealed partial class ScriptExecution
{
    /// <summary>
    /// MSG_FASTOPEN before the write: on an unconnected socket, opens the connection with Fast Open (<paramref name="opened"/>);
    /// the errno when Linux refuses — EOPNOTSUPP without the client bit of tcp_fastopen or for AF_UNSPEC, EALREADY while a
    /// handshake is already under way. On an established connection the flag is ignored.
    /// </summary>
    private Outcome? FastOpenBeforeWrite(ScriptSocket socket, bool unspecified, out bool opened)
    {
        opened = false;
        if ((_config.FastOpen & FastOpenFlags.Client) == 0 || unspecified) return Outcome.Error(EOPNOTSUPP);
        if (socket.Listener is not null) return Outcome.Error(EPIPE);
        if (socket.Connection is { } existing)
        {
            return existing.State is TcpState.SynSent or TcpState.SynReceived && !existing.FastOpenAwaitsData ? Outcome.Error(EALREADY) : null;
        }
        UserTcpConnection connection;
        try
        {
            connection = _stack.Connect(new IpEndpoint(_remoteIp, _connectPort), ForNewConnections(socket.Options) with { LocalPort = socket.BoundPort, FastOpenConnect = true });
        }
        catch (SocketException exception)
        {
            return Failed(exception.SocketErrorCode);
        }
        socket.Connection = connection;
        _made.Add(connection);
        _localPort = connection.LocalEndpoint.Port;
        _remotePort = _connectPort;
        _learnScriptLocalIsn = true;
        _listenerUnderTest = false;
        socket.Connecting = socket.NonBlocking; // SS_CONNECTING: a later connect() reports the handshake's end once
        opened = true;
        return null;
    }

    /// <summary>setsockopt TCP_FASTOPEN_CONNECT (do_tcp_setsockopt): 0 or 1, with the client bit of tcp_fastopen, before connect().</summary>
    private Outcome SetFastOpenConnect(ScriptSocket socket, long value)
    {
        if (value is not (0 or 1)) return Outcome.Error(EINVAL);
        if ((_config.FastOpen & FastOpenFlags.Client) == 0) return Outcome.Error(EOPNOTSUPP);
        if (socket.Connection is not null || socket.Listener is not null) return Outcome.Error(EINVAL);
        socket.Options = socket.Options with { FastOpenConnect = value == 1 };
        return Outcome.Ok(0);
    }

    /// <summary>sendto's address given as AF_UNSPEC (packetdrill passes a bare family): Fast Open refuses it.</summary>
    private static bool IsUnspecified(ScriptExpression address) =>
        address is WordExpression { Name: "AF_UNSPEC" } || address is IntegerExpression { Value: 0 };
}
