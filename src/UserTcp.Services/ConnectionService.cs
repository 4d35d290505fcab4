using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using UserTcp.Engine;
using UserTcp.Sockets;

namespace UserTcp.Services;

/// <summary>
/// A service that gives every connection a task of its own (echo, discard, daytime, chargen): <see cref="RunAsync"/>
/// listens and serves until cancelled; <see cref="HandleConnectionAsync"/> serves one connection and is what each service
/// implements. A connection's task catches what ends it (a reset, a timeout, the stop), counts it, and closes it.
/// </summary>
public abstract class ConnectionService : TcpService
{
    protected ConnectionService(string name, ushort defaultPort, ILogger? logger) : this(name, defaultPort, logger, inlineCompletions: false)
    {
    }

    /// <param name="name">The service's name.</param>
    /// <param name="defaultPort">The port its RFC assigns.</param>
    /// <param name="logger">Where it logs.</param>
    /// <param name="inlineCompletions">
    /// The handler never blocks (it only awaits the connection): it is started on the thread that accepted the
    /// connection, and its reads, writes and accepts resume on the stack's thread that completed them
    /// (<see cref="UserTcpConnectionOptions.InlineCompletions"/>), which saves a thread switch per request.
    /// </param>
    protected ConnectionService(string name, ushort defaultPort, ILogger? logger, bool inlineCompletions) : base(name, defaultPort, logger)
    {
        InlineCompletions = inlineCompletions;
    }

    /// <summary>Whether the handler runs on the stack's threads (see the constructor); otherwise each connection's task starts on the thread pool.</summary>
    public bool InlineCompletions { get; }

    private static readonly UserTcpConnectionOptions InlineOptions = new() { InlineCompletions = true };

    /// <summary>Listens, then serves each connection on a task of its own; stopping cancels every connection's task (each closes with a FIN).</summary>
    /// <exception cref="SocketException">The port already has a listener (AddressAlreadyInUse).</exception>
    public override Task RunAsync(NetStack stack, ushort port = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        UserTcpListener listener = stack.Listen(port == 0 ? DefaultPort : port, options: ListenOptions(stack));
        ServiceLog.Listening(Logger, Name, listener.LocalEndpoint);
        return ServeAsync(listener, cancellationToken);
    }

    /// <summary>What <see cref="RunAsync"/> listens with: inline completions when the handler never blocks; the stack's defaults otherwise.</summary>
    protected virtual UserTcpConnectionOptions? ListenOptions(NetStack stack) => InlineCompletions ? InlineOptions : null;

    /// <summary>Serves the connections <paramref name="listener"/> accepts until cancelled, then disposes it (see <see cref="RunAsync"/>).</summary>
    public async Task ServeAsync(UserTcpListener listener, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        var drain = new Drain();
        using (listener)
        {
            try
            {
                while (true)
                {
                    UserTcpConnection connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                    Statistics.Accepted();
                    // A handler that never blocks starts here, up to its first wait; any other gets a thread-pool task.
                    _ = connection.InlineCompletions ? ServeConnectionAsync(connection, drain, cancellationToken) : StartOnThreadPool(connection);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The stop was asked for.
            }
            catch (ObjectDisposedException)
            {
                // The listener was closed or the stack disposed under us: nothing more to accept.
            }
            catch (IOException) when (listener.Stack.DeviceFailure is not null)
            {
                // The stack's device failed: nothing more to accept (the stack logs why, and its owner stops).
            }
        }
        Volatile.Write(ref drain.AcceptLoopDone, true);
        if (Statistics.ActiveConnections > 0) await drain.Drained.Task.ConfigureAwait(false);
        ServiceLog.Stopped(Logger, Name, Statistics.ConnectionsAccepted);

        // A function of its own, so the closure is made only for a handler that runs on the thread pool.
        Task StartOnThreadPool(UserTcpConnection connection) => Task.Run(() => ServeConnectionAsync(connection, drain, cancellationToken), CancellationToken.None);
    }

    /// <summary>How <see cref="ServeAsync"/> waits for its last connections once the accept loop has ended.</summary>
    private sealed class Drain
    {
        // Signalled when the last connection finishes after the accept loop has ended.
        public readonly TaskCompletionSource Drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool AcceptLoopDone;
    }

    /// <summary>
    /// Serves one connection until the service's dialogue ends; implementations close the connection the way their RFC
    /// says. Exceptions (a reset, a timeout, cancellation) may escape: <see cref="ServeAsync"/> handles them.
    /// </summary>
    public abstract Task HandleConnectionAsync(UserTcpConnection connection, CancellationToken cancellationToken);

    /// <summary>Reads from the connection and counts what arrived.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    protected async ValueTask<int> ReadAsync(UserTcpConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        int read = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Statistics.Received(read);
        return read;
    }

    /// <summary>
    /// Reads from the connection and counts what arrived, as <see cref="ReadAsync"/>, but returns -1 when the connection
    /// failed (a reset, most often) instead of throwing: the service then counts the failure when the handler returns
    /// (<see cref="UserTcpConnection.TryReadAsync"/>). A connection-rate client resets every connection it makes.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    protected async ValueTask<int> TryReadAsync(UserTcpConnection connection, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        int read = await connection.TryReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0) Statistics.Received(read);
        return read;
    }

    /// <summary>Writes to the connection (waiting for send-buffer room) and counts what was sent.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    protected async ValueTask WriteAsync(UserTcpConnection connection, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await connection.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        Statistics.Wrote(data.Length);
    }

    /// <summary>One connection's task (one state machine per connection): the handler, then the count, the close and the drain.</summary>
    private async Task ServeConnectionAsync(UserTcpConnection connection, Drain drain, CancellationToken cancellationToken)
    {
        IpEndpoint remote = connection.RemoteEndpoint;
        ServiceLog.Accepted(Logger, Name, remote);
        string outcome = "closed";
        try
        {
            await HandleConnectionAsync(connection, cancellationToken).ConfigureAwait(false);
            // A handler that read with TryReadAsync returns on a failure and leaves it to be taken here.
            if (connection.Error != TcpError.None && connection.TakeError() is SocketError failure and not SocketError.Success)
            {
                Statistics.Failed();
                outcome = failure.ToString();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "stopped";
        }
        catch (SocketException e)
        {
            Statistics.Failed();
            outcome = e.SocketErrorCode.ToString();
        }
        catch (ObjectDisposedException)
        {
            outcome = "stack stopped";
        }
#pragma warning disable CA1031 // a connection's task is the last place its failure can be handled: log it, reset, carry on serving
        catch (Exception e)
#pragma warning restore CA1031
        {
            Statistics.Failed();
            outcome = "crashed";
            ServiceLog.Crashed(Logger, Name, remote, e);
            TryAbort(connection);
        }
        finally
        {
            await TryCloseAsync(connection).ConfigureAwait(false);
            ServiceLog.Finished(Logger, Name, remote, outcome);
            if (Statistics.Finished() == 0 && Volatile.Read(ref drain.AcceptLoopDone)) drain.Drained.TrySetResult();
        }
    }

    private static void TryAbort(UserTcpConnection connection)
    {
        try
        {
            connection.Abort();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static async Task TryCloseAsync(UserTcpConnection connection)
    {
        try
        {
            // A no-op when the handler closed already; otherwise a FIN (or a RST if unread data is left).
            await connection.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The stack is gone and took the connection with it.
        }
    }
}
