using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.AspNetCore;

/// <summary>
/// Kestrel's transport over a <see cref="NetStack"/>: binds endpoints on the stack's address and hands Kestrel its
/// connections. It claims only what is the stack's (<see cref="CanBind"/>): the stack's own address, and the wildcard
/// addresses (0.0.0.0, [::]), which on a stack of one address mean that address. Other endpoints — localhost, say — are
/// left to the next transport registered, normally Kestrel's Sockets transport on the kernel's network.
/// </summary>
public sealed class UserTcpTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly NetStack _stack;
    private readonly UserTcpTransportOptions _options;
    private readonly ILogger _logger;
    private readonly IMemoryPoolFactory<byte>? _memoryPoolFactory;

    /// <param name="stack">The stack to listen on; the caller starts it before the host and disposes it after.</param>
    /// <param name="options">Backlog, socket options and buffer limits.</param>
    /// <param name="loggerFactory">Where the transport logs (category UserTcp.AspNetCore).</param>
    /// <param name="memoryPoolFactory">Kestrel's pool of pinned blocks, when the host has one; otherwise the shared array pool.</param>
    public UserTcpTransportFactory(NetStack stack, UserTcpTransportOptions? options = null, ILoggerFactory? loggerFactory = null,
        IMemoryPoolFactory<byte>? memoryPoolFactory = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _stack = stack;
        _options = options ?? new UserTcpTransportOptions();
        Validate(_options);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("UserTcp.AspNetCore");
        _memoryPoolFactory = memoryPoolFactory;
    }

    /// <summary>True for an <see cref="IPEndPoint"/> on the stack's address or a wildcard address.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint ip && IsOnStack(ip.Address);

    /// <summary>Listens on the endpoint's port of the stack.</summary>
    /// <exception cref="NotSupportedException">The endpoint is not an address of the stack, or its port is 0.</exception>
    /// <exception cref="AddressInUseException">The stack already listens on that port.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint ip || !IsOnStack(ip.Address))
        {
            throw new NotSupportedException(
                $"UserTcp listens on its stack's address {_stack.Address} (or a wildcard address), not on {endpoint}: listen on http://{_stack.Address}:PORT");
        }
        if (ip.Port == 0)
        {
            throw new NotSupportedException($"UserTcp needs a port to listen on, not 0: listen on http://{_stack.Address}:PORT");
        }
        UserTcpListener listener;
        try
        {
            listener = _stack.Listen((ushort)ip.Port, _options.Backlog, _options.ConnectionOptions);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"UserTcp {_stack.Address}:{ip.Port} already has a listener", e);
        }
        MemoryPool<byte> pool = _memoryPoolFactory?.Create(new MemoryPoolOptions { Owner = "usertcp" }) ?? new SharedArrayMemoryPool();
        UserTcpTransportLog.Bound(_logger, listener.LocalEndpoint, _options.Backlog);
        return ValueTask.FromResult<IConnectionListener>(new UserTcpConnectionListener(listener, pool, _options, _logger));
    }

    private static void Validate(UserTcpTransportOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Backlog, 1, "UserTcpTransportOptions.Backlog");
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxReadBufferSize ?? 0, "UserTcpTransportOptions.MaxReadBufferSize");
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxWriteBufferSize ?? 0, "UserTcpTransportOptions.MaxWriteBufferSize");
        if (options.LingerTimeout < TimeSpan.Zero && options.LingerTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LingerTimeout, "UserTcpTransportOptions.LingerTimeout is zero or more (or infinite)");
        }
        ArgumentNullException.ThrowIfNull(options.ConnectionOptions, "UserTcpTransportOptions.ConnectionOptions");
    }

    private bool IsOnStack(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || (address.TryToIpv4(out Ipv4Address ipv4) && ipv4 == _stack.Address);

    /// <summary><see cref="MemoryPool{T}.Shared"/> as a pool of its own, so that the listener may dispose it.</summary>
    private sealed class SharedArrayMemoryPool : MemoryPool<byte>
    {
        public override int MaxBufferSize => Shared.MaxBufferSize;
        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => Shared.Rent(minBufferSize);
        protected override void Dispose(bool disposing) { }
    }
}
