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
/// an abort with a reason resets (RST); the peer's RST fires <see cref="ConnectionClosed"/>. Unlike the Sockets transport,
/// the peer's FIN is a half-close: Kestrel reads end of stream, the response in progress still goes out, and
/// <see cref="ConnectionClosed"/> fires once our side is closed too; the close lingers (see <see cref="Shutdown"/>); and
/// what arrives after Kestrel stops reading is dropped.
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
    private readonly TimeSpan _lingerTimeout;
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
    // Our FIN is out and the receive loop goes on until the client's FIN (a lingering close). Guarded by _shutdownLock.
    private bool _lingering;
    // The receive loop has ended (end of stream, reset, or stop). Guarded by _shutdownLock.
    private bool _receiveEnded;
    // ConnectionClosed has been cancelled (or DisposeAsync has passed the point where it may be). Guarded by _shutdownLock.
    private bool _connectionClosedFired;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private IDictionary<object, object?>? _items;
    // Written only by the receive loop and the send loop respectively; read from any thread.
    private long _bytesReceived;
    private long _bytesSent;
    // Callbacks for when the transport is done (OnClosed); null once they have run. Guarded by _shutdownLock.
    private List<Action<IUserTcpConnectionFeature>>? _onClosed = [];

    public UserTcpConnectionContext(UserTcpConnection connection, MemoryPool<byte> memoryPool, UserTcpTransportOptions options, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
        MemoryPool = memoryPool;
        _maxReadBuffer = options.MaxReadBufferSize ?? 0;
        _lingerTimeout = options.LingerTimeout;
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
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public void OnClosed(Action<IUserTcpConnectionFeature> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        lock (_shutdownLock)
        {
            if (_onClosed is not null)
            {
                _onClosed.Add(callback);
                return;
            }
        }
        callback(this);
    }

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
        FireConnectionClosed();
        lock (_shutdownLock) _connectionClosedFired = true;
        _connectionClosed.Dispose();
        _stopReceiving.Dispose();
        List<Action<IUserTcpConnectionFeature>> callbacks;
        lock (_shutdownLock)
        {
            callbacks = _onClosed ?? [];
            _onClosed = null;
        }
        foreach (Action<IUserTcpConnectionFeature> callback in callbacks)
        {
            try
            {
                callback(this);
            }
#pragma warning disable CA1031 // a failing OnClosed callback belongs to the application: log it, finish tearing down
            catch (Exception e)
#pragma warning restore CA1031
            {
                UserTcpTransportLog.UnexpectedError(_logger, ConnectionId, e);
            }
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task ReceiveAsync()
    {
        Exception? error = null;
        PipeWriter input = _application.Output;
        bool inputCompleted = false;
        try
        {
            // Into the input pipe while Kestrel reads it...
            while (true)
            {
                // Wait for data before taking a pool buffer (Kestrel's WaitForDataBeforeAllocatingBuffer): an idle
                // connection then holds no buffer.
                await _connection.ReadAsync(Memory<byte>.Empty, _stopReceiving.Token).ConfigureAwait(false);
                Memory<byte> buffer = input.GetMemory(MinReadBuffer);
                int received = await _connection.ReadAsync(buffer, _stopReceiving.Token).ConfigureAwait(false);
                if (received == 0)
                {
                    UserTcpTransportLog.ReadFin(_logger, ConnectionId);
                    break;
                }
                input.Advance(received);
                Interlocked.Add(ref _bytesReceived, received);
                ValueTask<FlushResult> flushing = input.FlushAsync();
                bool paused = !flushing.IsCompleted;
                if (paused) UserTcpTransportLog.Paused(_logger, ConnectionId, _maxReadBuffer);
                FlushResult flushed = await flushing.ConfigureAwait(false);
                if (paused) UserTcpTransportLog.Resumed(_logger, ConnectionId);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    // ...then, once Kestrel reads no more, into nothing: what still arrives is read and dropped, so that a
                    // close finds nothing unread (which would turn its FIN into a RST, RFC 2525 §2.17).
                    inputCompleted = true;
                    await input.CompleteAsync().ConfigureAwait(false);
                    await DrainAsync().ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (_shutdownReason is not null)
        {
            // We reset the connection, or the client did not close within the linger time: the reason is recorded.
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
            if (!inputCompleted) await input.CompleteAsync(_shutdownReason ?? error).ConfigureAwait(false);
            ReceiveEnded();
            // The client's FIN alone is a half-close (RFC 9293 §3.6): Kestrel reads end of stream, and the response in
            // progress still goes out; ConnectionClosed waits until our side is done too. A reset or our own close fires it now.
            if (error is not null || _shutdownReason is not null) FireConnectionClosed();
        }
    }

    /// <summary>Reads and drops what arrives until the client's FIN (or until the stop).</summary>
    private async Task DrainAsync()
    {
        byte[] sink = new byte[MinReadBuffer];
        int received;
        while ((received = await _connection.ReadAsync(sink, _stopReceiving.Token).ConfigureAwait(false)) > 0)
        {
            Interlocked.Add(ref _bytesReceived, received);
        }
        UserTcpTransportLog.ReadFin(_logger, ConnectionId);
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
                    Interlocked.Add(ref _bytesSent, segment.Length);
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

    /// <summary>
    /// Ends our side once. With a reason: reset (RST). Without: close with a FIN after the data already written — at once
    /// when the client has closed its side already; otherwise as a lingering close (RFC 9112 §9.6): FIN now, then keep
    /// reading and dropping until the client's FIN, and close then, or when <see cref="UserTcpTransportOptions.LingerTimeout"/>
    /// runs out. A request the client sent after our last read so cannot reset the connection, losing the response.
    /// </summary>
    private void Shutdown(Exception? reason)
    {
        bool bothDone;
        lock (_shutdownLock)
        {
            if (_shutdownReason is not null)
            {
                // An abort while the close lingers: reset after all.
                if (reason is not null && _lingering && !_receiveEnded)
                {
                    UserTcpTransportLog.WriteRst(_logger, ConnectionId, reason.Message);
                    Reset();
                }
                return;
            }
            _shutdownReason = reason ?? SendCompleted;
            bothDone = _receiveEnded;
            if (reason is not null)
            {
                UserTcpTransportLog.WriteRst(_logger, ConnectionId, reason.Message);
                Reset();
            }
            else if (_receiveEnded)
            {
                UserTcpTransportLog.WriteFin(_logger, ConnectionId, SendCompleted.Message);
                Close();
            }
            else
            {
                UserTcpTransportLog.WriteFin(_logger, ConnectionId, SendCompleted.Message);
                _lingering = true;
                try
                {
                    _connection.Shutdown(SocketShutdown.Send);
                }
                catch (ObjectDisposedException)
                {
                    // The stack has stopped and closed every connection itself.
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.NotConnected)
                {
                    // Already CLOSED (the client's RST came while the receive loop waited for Kestrel): nothing to half-close;
                    // the receive loop reads the reset once it goes on.
                }
                _stopReceiving.CancelAfter(_lingerTimeout);
            }
        }
        // The client had half-closed and the receive loop left ConnectionClosed to us: now both sides are done.
        if (bothDone) FireConnectionClosed();
    }

    /// <summary>The receive loop has ended: a lingering close closes now.</summary>
    private void ReceiveEnded()
    {
        bool close;
        lock (_shutdownLock)
        {
            _receiveEnded = true;
            close = _lingering;
        }
        if (close) Close();
    }

    private void Close()
    {
        try
        {
            // Without SO_LINGER the close returns at once and the FIN follows the queued data in the background.
            ValueTask closing = _connection.CloseAsync(CancellationToken.None);
            if (!closing.IsCompleted) _ = closing.AsTask();
        }
        catch (ObjectDisposedException)
        {
            // The stack has stopped and closed every connection itself.
        }
    }

    private void Reset()
    {
        try
        {
            _connection.Abort();
        }
        catch (ObjectDisposedException)
        {
            // The stack has stopped and closed every connection itself.
        }
        _stopReceiving.Cancel();
    }

    /// <summary>Cancels <see cref="ConnectionClosed"/>, once; never after <see cref="DisposeAsync"/>.</summary>
    private void FireConnectionClosed()
    {
        lock (_shutdownLock)
        {
            if (_connectionClosedFired) return;
            _connectionClosedFired = true;
        }
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
