using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;

namespace UserTcp.AspNetCore;

/// <summary>
/// One accepted UserTcp connection as Kestrel sees it. <see cref="Transport"/> is a pair of pipes over the connection: a
/// receive loop reads the connection into the input pipe and stops while the pipe holds
/// <see cref="UserTcpTransportOptions.MaxReadBufferSize"/> unread bytes (the receive buffer then fills and the TCP window
/// closes); a send loop writes the output pipe to the connection, each write waiting for send-buffer room (the peer's
/// window). Endings map onto TCP as Kestrel's own Sockets transport maps them: Kestrel completing its output, or
/// <see cref="Abort(ConnectionAbortedException)"/> without a reason (the client closed first), closes with a FIN;
/// an abort with a reason resets (RST); the peer's FIN or RST fires <see cref="ConnectionClosed"/>.
/// </summary>
internal sealed class UserTcpConnectionContext : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IMemoryPoolFeature, IUserTcpConnectionFeature
{
    // Half of a Kestrel memory-pool block: each read gets at least this much room.
    private const int MinReadBuffer = 2048;
    private static readonly ConnectionAbortedException SendCompleted = new("The UserTcp transport's send loop completed gracefully.");

    private readonly UserTcpConnection _connection;
    private readonly ILogger _logger;
    private readonly long _maxReadBuffer;
    // The transport's ends of the two pipes: Output is what the receive loop writes, Input what the send loop reads.
    private readonly DuplexPipe _application;
    // Kestrel's ends as first handed out (middleware may replace Transport with a wrapper, e.g. TLS).
    private readonly DuplexPipe _originalTransport;
    private readonly CancellationTokenSource _connectionClosed = new();
    // Cancelled once the connection has been closed or reset by us: nothing more is to be read.
    private readonly CancellationTokenSource _stopReceiving = new();
    private readonly Lock _shutdownLock = new();
    // Why the connection ended on our side; set once, under _shutdownLock, before the close or reset happens.
    private volatile Exception? _shutdownReason;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private IDictionary<object, object?>? _items;

    public UserTcpConnectionContext(UserTcpConnection connection, MemoryPool<byte> memoryPool, UserTcpTransportOptions options, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
        MemoryPool = memoryPool;
        _maxReadBuffer = options.MaxReadBufferSize ?? 0;
        long maxWriteBuffer = options.MaxWriteBufferSize ?? 0;
        // The receive loop continues inline after a flush; Kestrel's reads resume on the thread pool. For the output, the
        // send loop resumes inline on the application's flush and the application resumes on the thread pool.
        var input = new Pipe(new PipeOptions(memoryPool, PipeScheduler.ThreadPool, PipeScheduler.Inline,
            _maxReadBuffer, _maxReadBuffer / 2, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(memoryPool, PipeScheduler.Inline, PipeScheduler.ThreadPool,
            maxWriteBuffer, maxWriteBuffer / 2, useSynchronizationContext: false));
        Transport = _originalTransport = new DuplexPipe(input.Reader, output.Writer);
        _application = new DuplexPipe(output.Reader, input.Writer);
        ConnectionId = ConnectionIds.Next();
        LocalEndPoint = connection.LocalEndpoint.ToIPEndPoint();
        RemoteEndPoint = connection.RemoteEndpoint.ToIPEndPoint();
        ConnectionClosed = _connectionClosed.Token;

        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IUserTcpConnectionFeature>(this);
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; }
    public override IDuplexPipe Transport { get; set; }
    public override CancellationToken ConnectionClosed { get; set; }
    public MemoryPool<byte> MemoryPool { get; }
    public UserTcpConnection Connection => _connection;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    /// <summary>Starts the receive and send loops.</summary>
    public void Start()
    {
        _receiving = ReceiveAsync();
        _sending = SendAsync();
    }

    /// <summary>
    /// With a reason: reset the connection (RST), as Kestrel's Sockets transport does unless FinOnError is set. Without one
    /// (Kestrel passes null when the client has closed its side and nothing went wrong): close with a FIN.
    /// </summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        // Ends the send loop if it waits for output; a write in progress fails on the reset connection.
        _application.Input.CancelPendingRead();
    }

    void IConnectionLifetimeFeature.Abort() =>
        Abort(new ConnectionAbortedException("The connection was aborted by the application via IConnectionLifetimeFeature.Abort()."));

    /// <summary>Kestrel calls this once its connection middleware has finished: both pipes are done, then both loops.</summary>
    public override async ValueTask DisposeAsync()
    {
        await _originalTransport.Input.CompleteAsync().ConfigureAwait(false);
        await _originalTransport.Output.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _receiving.ConfigureAwait(false);
            await _sending.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // the loops catch their own failures; whatever escapes is logged, never thrown into Kestrel's teardown
        catch (Exception e)
#pragma warning restore CA1031
        {
            UserTcpTransportLog.UnexpectedError(_logger, ConnectionId, e);
        }
        _connectionClosed.Dispose();
        _stopReceiving.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ReceiveAsync()
    {
        Exception? error = null;
        PipeWriter input = _application.Output;
        try
        {
            while (true)
            {
                Memory<byte> buffer = input.GetMemory(MinReadBuffer);
                int received = await _connection.ReadAsync(buffer, _stopReceiving.Token).ConfigureAwait(false);
                if (received == 0)
                {
                    UserTcpTransportLog.ReadFin(_logger, ConnectionId);
                    break;
                }
                input.Advance(received);
                ValueTask<FlushResult> flushing = input.FlushAsync();
                bool paused = !flushing.IsCompleted;
                if (paused) UserTcpTransportLog.Paused(_logger, ConnectionId, _maxReadBuffer);
                FlushResult flushed = await flushing.ConfigureAwait(false);
                if (paused) UserTcpTransportLog.Resumed(_logger, ConnectionId);
                if (flushed.IsCompleted || flushed.IsCanceled) break; // Kestrel reads no more
            }
        }
        catch (OperationCanceledException) when (_shutdownReason is not null)
        {
            // We closed or reset the connection: the reason is already recorded.
        }
        catch (Exception e) when (AsNetworkError(e) is Exception networkError)
        {
            error = networkError;
        }
#pragma warning disable CA1031 // a transport loop is the last place its failure can be handled: log it and end the connection
        catch (Exception e)
#pragma warning restore CA1031
        {
            error = e;
            UserTcpTransportLog.UnexpectedError(_logger, ConnectionId, e);
        }
        finally
        {
            // If we closed or reset first, that is why receiving ended, whatever the read said.
            await input.CompleteAsync(_shutdownReason ?? error).ConfigureAwait(false);
            FireConnectionClosed();
        }
    }

    private async Task SendAsync()
    {
        Exception? shutdownReason = null;
        Exception? unexpected = null;
        PipeReader output = _application.Input;
        try
        {
            while (true)
            {
                ReadResult result = await output.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled) break; // aborted
                ReadOnlySequence<byte> buffer = result.Buffer;
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    // Waits for send-buffer room: the peer's window paces the application.
                    await _connection.WriteAsync(segment).ConfigureAwait(false);
                }
                output.AdvanceTo(buffer.End);
                if (result.IsCompleted) break; // Kestrel is done with the connection
            }
        }
        catch (Exception e) when (AsNetworkError(e) is Exception networkError)
        {
            shutdownReason = networkError;
        }
#pragma warning disable CA1031 // a transport loop is the last place its failure can be handled: log it and end the connection
        catch (Exception e)
#pragma warning restore CA1031
        {
            shutdownReason = unexpected = e;
            UserTcpTransportLog.UnexpectedError(_logger, ConnectionId, e);
        }
        finally
        {
            // A clean end of output closes with a FIN after the data written; a failed one resets.
            Shutdown(shutdownReason);
            await output.CompleteAsync(unexpected).ConfigureAwait(false);
            // A receive loop waiting for Kestrel to read must not wait any longer.
            _application.Output.CancelPendingFlush();
        }
    }

    /// <summary>The connection ended by the network (reset, timeout) or under us (the stack stopped), as Kestrel names it; else null.</summary>
    private Exception? AsNetworkError(Exception e)
    {
        switch (e)
        {
            case SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted } reset:
                UserTcpTransportLog.NetworkError(_logger, ConnectionId, reset.SocketErrorCode);
                return new ConnectionResetException(reset.Message, reset);
            case SocketException other:
                UserTcpTransportLog.NetworkError(_logger, ConnectionId, other.SocketErrorCode);
                return new ConnectionAbortedException(other.Message, other);
            case ObjectDisposedException:
                return new ConnectionAbortedException("The UserTcp stack has stopped.", e);
            default:
                return null;
        }
    }

    /// <summary>Ends our side once: null closes with a FIN after the data already written, a reason resets (RST).</summary>
    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            if (_shutdownReason is not null) return;
            _shutdownReason = reason ?? SendCompleted;
            try
            {
                if (reason is null)
                {
                    UserTcpTransportLog.WriteFin(_logger, ConnectionId, SendCompleted.Message);
                    // Without SO_LINGER the close returns at once and the FIN follows the queued data in the background.
                    ValueTask closing = _connection.CloseAsync(CancellationToken.None);
                    if (!closing.IsCompleted) _ = closing.AsTask();
                }
                else
                {
                    UserTcpTransportLog.WriteRst(_logger, ConnectionId, reason.Message);
                    _connection.Abort();
                }
            }
            catch (ObjectDisposedException)
            {
                // The stack has stopped and closed every connection itself.
            }
            _stopReceiving.Cancel();
        }
    }

    private void FireConnectionClosed()
    {
        try
        {
            _connectionClosed.Cancel();
        }
#pragma warning disable CA1031 // a failing ConnectionClosed callback belongs to the application: log it, finish tearing down
        catch (Exception e)
#pragma warning restore CA1031
        {
            UserTcpTransportLog.UnexpectedError(_logger, ConnectionId, e);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
