namespace UserTcp.Sockets;

/// <summary>
/// A NetworkStream-like <see cref="Stream"/> over a <see cref="UserTcpConnection"/>: not seekable; dispose closes. As
/// NetworkStream's, a failed read or write throws an <see cref="IOException"/> whose inner exception is the connection's
/// <see cref="System.Net.Sockets.SocketException"/>.
/// </summary>
public sealed class UserTcpStream : Stream
{
    private readonly UserTcpConnection _connection;
    private bool _disposed;

    internal UserTcpStream(UserTcpConnection connection) => _connection = connection;

    /// <summary>True until disposed.</summary>
    public override bool CanRead => !_disposed;
    /// <summary>True until disposed.</summary>
    public override bool CanWrite => !_disposed;
    /// <summary>False: a TCP stream cannot seek.</summary>
    public override bool CanSeek => false;
    /// <summary>Not supported: a TCP stream has no length.</summary>
    public override long Length => throw new NotSupportedException("a TCP stream has no length");
    /// <summary>Not supported: a TCP stream has no position.</summary>
    public override long Position
    {
        get => throw new NotSupportedException("a TCP stream has no position");
        set => throw new NotSupportedException("a TCP stream has no position");
    }

    /// <summary>
    /// Reads what has arrived, waiting for at least one byte; 0 after the peer's FIN. A zero-byte read waits until a read
    /// would not block and returns 0, taking nothing, as NetworkStream's.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _connection.ReadForStreamAsync(buffer, cancellationToken);
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Queues all of <paramref name="buffer"/> for sending, waiting for send-buffer room (the peer's window).</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _connection.WriteForStreamAsync(buffer, cancellationToken);
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Data is handed to TCP as it is written; there is nothing to flush (as with NetworkStream).</summary>
    public override void Flush() { }

    /// <summary>Completes at once: written data is already queued for the engine, which sends as the window allows.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Not supported: a TCP stream cannot seek.</summary>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("a TCP stream cannot seek");

    /// <summary>Not supported: a TCP stream has no length.</summary>
    public override void SetLength(long value) => throw new NotSupportedException("a TCP stream has no length");

    /// <summary>
    /// Closes the connection; with a positive <see cref="UserTcpConnection.Linger"/> it waits for the FIN's acknowledgment,
    /// except in code the stack runs inline (<see cref="UserTcpConnectionOptions.InlineCompletions"/>), where it returns at once.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            Task closing = _connection.CloseAsync().AsTask();
            // Code the stack runs inline cannot wait out a linger: the FIN's ACK would be read by this very thread, so the
            // close returns at once and the FIN goes on, as when a linger runs out.
            if (!Runtime.Completions.IsSignalling) closing.GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _connection.CloseAsync().ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
