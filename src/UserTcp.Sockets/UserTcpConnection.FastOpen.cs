using System.Net.Sockets;
using UserTcp.Engine;

namespace UserTcp.Sockets;

/// <summary>TCP Fast Open's writes (RFC 7413): the first write of a Fast Open connection rides in its SYN.</summary>
public sealed partial class UserTcpConnection
{
    /// <summary>
    /// The connection was opened with <see cref="UserTcpConnectionOptions.FastOpenConnect"/>, a Fast Open cookie was cached
    /// for the server, and the SYN has not left: the next write sends it, carrying as much of the data as fits (the
    /// cached MSS less 40 bytes); poll reports the connection writable meanwhile, as Linux's for TCP_FASTOPEN_CONNECT.
    /// </summary>
    public bool FastOpenAwaitsData
    {
        get
        {
            lock (_shard.Gate) return _tcb.FastOpenAwaitsData;
        }
    }

    /// <summary>The SYN carried data and the server's SYN-ACK acknowledged all of it (tcp_info's TCPI_OPT_SYN_DATA).</summary>
    public bool FastOpenSynDataAcknowledged
    {
        get
        {
            lock (_shard.Gate) return _tcb.FastOpenSynDataAcknowledged;
        }
    }

    /// <summary>Under the engine lock: a write now would be a Fast Open connection's, made while its SYN is unanswered.</summary>
    private bool StartsFastOpen => _tcb.FastOpenRequested && _tcb.State == TcpState.SynSent;

    /// <summary>
    /// A write while a Fast Open SYN is unanswered (Linux's tcp_sendmsg_fastopen, then inet_wait_for_connect): all that
    /// fits is queued now — the SYN waiting for data takes its part, the rest waits behind it, so the data after the
    /// SYN-ACK carries the ACK — then the write waits for the handshake, and queues what did not fit once established.
    /// When all of it fits, the write is the handshake's own task: complete inside the pass that ends the handshake.
    /// </summary>
    private ValueTask FastOpenWriteAsync(ReadOnlyMemory<byte> data, UserTcpSendFlags flags, bool forStream, CancellationToken cancellationToken)
    {
        int queued;
        _shard.Enter();
        try
        {
            if (_shard.DeviceFailedError() is IOException failed) return ValueTask.FromException(failed);
            queued = SendCore(data.Span, out SocketError error, flags, fastOpenQueue: true);
            if (queued < 0 && error is not (SocketError.WouldBlock or SocketError.InProgress)) return ValueTask.FromException(Failure(error, forStream, reading: false));
            queued = Math.Max(queued, 0);
        }
        finally
        {
            _shard.Exit();
        }
        Task connected = WaitConnectedAsync(cancellationToken);
        return queued == data.Length && !forStream ? new ValueTask(connected) : FinishFastOpenWriteAsync(connected, data[queued..], flags, forStream, cancellationToken);
    }

    private async ValueTask FinishFastOpenWriteAsync(Task connected, ReadOnlyMemory<byte> rest, UserTcpSendFlags flags, bool forStream, CancellationToken cancellationToken)
    {
        try
        {
            await connected.ConfigureAwait(false);
        }
        catch (SocketException refused) when (forStream)
        {
            throw new IOException($"Unable to write data to the transport connection: {refused.Message}.", refused);
        }
        if (!rest.IsEmpty) await StartWrite(rest, flags, forStream, cancellationToken).ConfigureAwait(false);
    }
}
