using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>A listening endpoint: <see cref="AcceptAsync"/> hands out established connections.</summary>
public sealed class UserTcpListener : IDisposable
{
    private readonly NetStack _stack;
    private readonly TcpListener _listener;

    internal UserTcpListener(NetStack stack, TcpListener listener)
    {
        _stack = stack;
        _listener = listener;
    }

    public IpEndpoint LocalEndpoint => _listener.LocalEndpoint;

    /// <summary>Waits for the next established connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public async Task<UserTcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            UserTcpConnection? accepted = _stack.Call(() =>
            {
                ObjectDisposedException.ThrowIf(_listener.IsClosed, this);
                return _listener.TryAccept(out TcpConnection tcb) ? new UserTcpConnection(_stack, tcb) : null;
            });
            if (accepted is not null) return accepted;
            await _stack.WaitAsync(() => _listener.PendingAccepts > 0 || _listener.IsClosed, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops listening; connections not yet accepted are reset.</summary>
    public void Dispose()
    {
        if (!_stack.IsStopping) _stack.Call(_listener.Close);
    }
}
