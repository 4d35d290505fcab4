using System.IO.Pipelines;
using System.Net.Sockets;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>
/// A TCP connection of a <see cref="NetStack"/>, the .NET way: async reads and writes with cancellation and
/// backpressure (a write waits for room in the send buffer, which drains as the peer's window allows),
/// <see cref="Shutdown"/> for half-close, <see cref="Stream"/> and <see cref="Pipe"/> views, and
/// <see cref="SocketException"/>s with the <see cref="SocketError"/> codes socket users know.
/// </summary>
public sealed class UserTcpConnection : IAsyncDisposable
{
    private readonly NetStack _stack;
    private readonly TcpConnection _tcb;
    private UserTcpStream? _stream;
    private IDuplexPipe? _pipe;

    internal UserTcpConnection(NetStack stack, TcpConnection tcb)
    {
        _stack = stack;
        _tcb = tcb;
    }

    public IpEndpoint LocalEndpoint => _tcb.LocalEndpoint;
    public IpEndpoint RemoteEndpoint => _tcb.RemoteEndpoint;
    /// <summary>The RFC 9293 state (read without the lock: a moment old at worst).</summary>
    public TcpState State => _tcb.State;
    /// <summary>Why the connection failed, if it did.</summary>
    public TcpError Error => _tcb.Error;

    /// <summary>TCP_NODELAY: send small segments at once instead of after the previous ACK (Nagle off).</summary>
    public bool NoDelay
    {
        get => _tcb.NoDelay;
        set => _stack.Call(() => _tcb.NoDelay = value);
    }

    /// <summary>SO_KEEPALIVE with the stack's keepalive timings (or those set below).</summary>
    public bool KeepAlive
    {
        get => _tcb.KeepAlive;
        set => _stack.Call(() => _tcb.KeepAlive = value);
    }

    /// <summary>TCP_KEEPIDLE.</summary>
    public TimeSpan KeepAliveIdle
    {
        get => _tcb.KeepAliveIdle;
        set => _stack.Call(() => _tcb.KeepAliveIdle = value);
    }

    /// <summary>
    /// SO_LINGER. Null (the default): <see cref="CloseAsync"/> returns at once and the FIN goes out in the background.
    /// Zero: close resets the connection. Positive: close waits up to this long for the FIN to be acknowledged.
    /// </summary>
    public TimeSpan? Linger { get; set; }

    /// <summary>A <see cref="System.IO.Stream"/> over the connection; disposing it closes the connection.</summary>
    public Stream Stream => LazyInitializer.EnsureInitialized(ref _stream, () => new UserTcpStream(this));

    /// <summary>An <see cref="IDuplexPipe"/> over the connection (System.IO.Pipelines), built on <see cref="Stream"/>.</summary>
    public IDuplexPipe Pipe => LazyInitializer.EnsureInitialized(ref _pipe, () => new DuplexPipe(
        PipeReader.Create(Stream, new StreamPipeReaderOptions(leaveOpen: true)),
        PipeWriter.Create(Stream, new StreamPipeWriterOptions(leaveOpen: true))));

    /// <summary>Reads what has arrived, waiting for at least one byte; 0 means the peer has closed its side.</summary>
    /// <exception cref="SocketException">The connection was reset or timed out.</exception>
    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            (ReceiveStatus status, int read) = _stack.Call(() =>
            {
                try
                {
                    ReceiveStatus s = _tcb.Receive(buffer.Span, out int n);
                    return (s, n);
                }
                catch (TcpException e)
                {
                    throw e.ToSocketException();
                }
            });
            switch (status)
            {
                case ReceiveStatus.Data:
                    return read;
                case ReceiveStatus.EndOfStream:
                    return 0;
            }
            await _stack.WaitAsync(() => _tcb.BytesToRead > 0 || _tcb.FinReceived || _tcb.State == TcpState.Closed || _tcb.IsReceiveShutdown,
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Queues all of <paramref name="data"/> for sending, waiting for send-buffer room as needed.</summary>
    /// <exception cref="SocketException">Shut down for sending, reset, or timed out.</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            ReadOnlyMemory<byte> rest = data;
            int accepted = _stack.Call(() =>
            {
                try
                {
                    return _tcb.Send(rest.Span);
                }
                catch (TcpException e)
                {
                    throw e.ToSocketException();
                }
            });
            data = data[accepted..];
            if (data.IsEmpty) return;
            await _stack.WaitAsync(() => _tcb.SendBufferFree > 0 || _tcb.State == TcpState.Closed || _tcb.IsSendShutdown, cancellationToken)
                .ConfigureAwait(false);
        }
    }

    /// <summary>Waits until everything written has been acknowledged by the peer (or the connection ended).</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) =>
        _stack.WaitAsync(() => _tcb.BytesUnacknowledged == 0 || _tcb.State == TcpState.Closed, cancellationToken);

    /// <summary>
    /// Send: half-close — a FIN follows the data already written, and reading goes on (RFC 9293 §3.6).
    /// Receive: reads return end-of-stream from now on.
    /// </summary>
    public void Shutdown(SocketShutdown how) => _stack.Call(() => _tcb.Shutdown(how switch
    {
        SocketShutdown.Send => ShutdownDirection.Send,
        SocketShutdown.Receive => ShutdownDirection.Receive,
        _ => ShutdownDirection.Both,
    }));

    /// <summary>
    /// Closes the connection: a FIN after the data already written, or a RST when unread data is left
    /// (RFC 2525 §2.17) or <see cref="Linger"/> is zero. With a positive linger, waits for the FIN's acknowledgment.
    /// </summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_stack.IsStopping) return; // the stack closes (or has closed) every connection itself; cleanup never throws
        _stack.Call(() =>
        {
            _tcb.LingerZero = Linger == TimeSpan.Zero;
            _tcb.Close();
        });
        if (Linger is TimeSpan linger && linger > TimeSpan.Zero)
        {
            try
            {
                await _stack.WaitAsync(() => _tcb.State is TcpState.Closed or TcpState.TimeWait or TcpState.FinWait2, cancellationToken)
                    .WaitAsync(linger, _stack.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // SO_LINGER ran out: close returns and the FIN goes on being retransmitted in the background, as on Linux.
            }
        }
    }

    /// <summary>Resets the connection at once (RST).</summary>
    public void Abort()
    {
        if (!_stack.IsStopping) _stack.Call(_tcb.Abort);
    }

    public ValueTask DisposeAsync() => CloseAsync();

    public override string ToString() => _tcb.ToString();

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
