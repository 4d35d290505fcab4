using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.AspNetCore;

/// <summary>One endpoint Kestrel listens on through the stack: hands Kestrel each connection the stack's listener accepts.</summary>
internal sealed class UserTcpConnectionListener : IConnectionListener
{
    private readonly UserTcpListener _listener;
    private readonly MemoryPool<byte> _memoryPool;
    private readonly UserTcpTransportOptions _options;
    private readonly ILogger _logger;

    public UserTcpConnectionListener(UserTcpListener listener, MemoryPool<byte> memoryPool, UserTcpTransportOptions options, ILogger logger)
    {
        _listener = listener;
        _memoryPool = memoryPool;
        _options = options;
        _logger = logger;
        EndPoint = listener.LocalEndpoint.ToIPEndPoint();
    }

    /// <summary>The stack's address and the port, also when Kestrel asked for a wildcard address.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>The next established connection, its loops running; null once the listener is unbound or the stack has stopped.</summary>
    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        UserTcpConnection connection;
        try
        {
            connection = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        var context = new UserTcpConnectionContext(connection, _memoryPool, _options, _logger);
        UserTcpTransportLog.Accepted(_logger, context.ConnectionId, connection.RemoteEndpoint);
        context.Start();
        return context;
    }

    /// <summary>Stops listening: new SYNs are refused with RST and connections not yet accepted are reset; accepted ones go on.</summary>
    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _listener.Dispose();
        _memoryPool.Dispose();
        return ValueTask.CompletedTask;
    }
}
