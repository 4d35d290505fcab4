using System.IO.Pipelines;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets;

/// <summary>
/// A TCP connection of a <see cref="NetStack"/>, the .NET way: async reads and writes with cancellation and
/// backpressure (a write waits for room in the send buffer, which drains as the peer's window allows),
/// <see cref="Shutdown"/> for half-close, <see cref="Stream"/> and <see cref="Pipe"/> views, and
/// <see cref="SocketException"/>s with the <see cref="SocketError"/> codes socket users know. Non-blocking
/// <see cref="Receive"/> and <see cref="Send(ReadOnlySpan{byte}, out SocketError)"/> answer <see cref="SocketError.WouldBlock"/> instead of waiting.
/// <para>
/// Errors follow Linux: a failure (reset, timeout — host or network unreachable when an ICMP error preceded it —, refusal) is reported once — by the next read, write, connect or
/// <see cref="TakeError"/> — after which reads return end-of-stream and writes <see cref="SocketError.Shutdown"/>
/// (EPIPE). A reset that arrives after the peer's FIN reads as <see cref="SocketError.Shutdown"/> too, as Linux's
/// EPIPE. One read and one write may be pending at a time; waiting for them allocates nothing.
/// </para>
/// </summary>
public sealed partial class UserTcpConnection : IAsyncDisposable
{
    private readonly StackShard _shard;
    private readonly TcpConnection _tcb;
    private readonly TcpConfig _config;
    private UserTcpStream? _stream;
    private IDuplexPipe? _pipe;

    internal UserTcpConnection(StackShard shard, TcpConnection tcb, TcpConfig config, TimeSpan? linger, bool inlineCompletions)
    {
        _shard = shard;
        _tcb = tcb;
        _config = config;
        Linger = linger;
        InlineCompletions = inlineCompletions;
    }

    /// <summary>
    /// Whether a read or write that had to wait resumes its awaiter on the stack's thread that completed it, right after
    /// that pass's packets went out, instead of on the thread pool (<see cref="UserTcpConnectionOptions.InlineCompletions"/>).
    /// </summary>
    public bool InlineCompletions { get; }

    /// <summary>The shard (device queue) the connection lives on; only its engine knows it.</summary>
    internal StackShard Shard => _shard;

    /// <summary>Our address and port.</summary>
    public IpEndpoint LocalEndpoint => _tcb.LocalEndpoint;
    /// <summary>The peer's address and port.</summary>
    public IpEndpoint RemoteEndpoint => _tcb.RemoteEndpoint;
    /// <summary>The RFC 9293 state (read without the lock: a moment old at worst).</summary>
    public TcpState State => _tcb.State;
    /// <summary>Why the connection failed, if it did (the engine's view; <see cref="TakeError"/> is SO_ERROR's).</summary>
    public TcpError Error => _tcb.Error;

    /// <summary>
    /// SO_SNDBUF: bytes of data the send buffer holds. It may change at any time, as on Linux: a smaller buffer keeps
    /// what is queued and takes more only once it has drained below the new size; a pending write goes on at once in a larger one.
    /// </summary>
    public int SendBufferSize
    {
        get => _tcb.SendBufferSize;
        set => ChangeWriteSpace(UserTcpConnectionOptions.CheckBufferSize(value, nameof(SendBufferSize)), static (tcb, size) => tcb.SendBufferSize = size);
    }

    /// <summary>
    /// TCP_NOTSENT_LOWAT: a write takes data only while fewer than this many bytes wait unsent (rounded up, as Linux's,
    /// to the chunk a write fills: half the peer's largest window, at most 64 KiB), and <see cref="Poll"/> reports
    /// <see cref="UserTcpPollEvents.Out"/> only while fewer than half of them do. Null: the stack's
    /// (<see cref="TcpConfig.NotSentLowWatermark"/>).
    /// </summary>
    public uint? NotSentLowWatermark
    {
        get => _tcb.NotSentLowWatermark;
        set => ChangeWriteSpace(value, static (tcb, mark) => tcb.NotSentLowWatermark = mark);
    }
    /// <summary>
    /// SO_RCVBUF: bytes of data the receive buffer holds now — as set, or as receive-buffer auto-tuning has grown it from
    /// the stack's initial size (<see cref="TcpConfig.ReceiveBufferAutoTuning"/>; read without the lock: a moment old at worst).
    /// </summary>
    public int ReceiveBufferSize => _tcb.ReceiveBufferSize;

    /// <summary>TCP_NODELAY: send small segments at once instead of after the previous ACK (Nagle off).</summary>
    public bool NoDelay
    {
        get => _tcb.NoDelay;
        set => Change(value, static (tcb, on) => tcb.NoDelay = on);
    }

    /// <summary>
    /// TCP_QUICKACK as on Linux: true leaves pingpong mode (ACKs no longer wait to ride on answers) and sends a
    /// scheduled ACK now if nothing waits to be read (otherwise the read sends it); false enters pingpong mode. Not
    /// permanent, as tcp(7) warns: the connection moves in and out of pingpong mode by itself too. Read without the lock.
    /// </summary>
    public bool QuickAck
    {
        get => _tcb.QuickAck;
        set => Change(value, static (tcb, on) => tcb.QuickAck = on);
    }

    /// <summary>SO_KEEPALIVE, with <see cref="KeepAliveIdle"/>, <see cref="KeepAliveInterval"/> and <see cref="KeepAliveCount"/>.</summary>
    public bool KeepAlive
    {
        get => _tcb.KeepAlive;
        // Setting it again must not restart the idle time (Linux's sock_set_keepalive acts on a change only).
        set => Change(value, static (tcb, on) =>
        {
            if (tcb.KeepAlive != on) tcb.KeepAlive = on;
        });
    }

    /// <summary>TCP_KEEPIDLE (1 s to 32767 s).</summary>
    public TimeSpan KeepAliveIdle
    {
        get => _tcb.KeepAliveIdle;
        set => Change(UserTcpConnectionOptions.CheckKeepAliveTime(value, nameof(KeepAliveIdle)), static (tcb, idle) => tcb.KeepAliveIdle = idle);
    }

    /// <summary>TCP_KEEPINTVL (1 s to 32767 s).</summary>
    public TimeSpan KeepAliveInterval
    {
        get => _tcb.KeepAliveInterval;
        set => Change(UserTcpConnectionOptions.CheckKeepAliveTime(value, nameof(KeepAliveInterval)), static (tcb, interval) => tcb.KeepAliveInterval = interval);
    }

    /// <summary>TCP_KEEPCNT (1 to 127).</summary>
    public int KeepAliveCount
    {
        get => _tcb.KeepAliveCount;
        set => Change(UserTcpConnectionOptions.CheckKeepAliveCount(value, nameof(KeepAliveCount)), static (tcb, count) => tcb.KeepAliveCount = count);
    }

    /// <summary>
    /// TCP_SYNCNT (1 to 127): SYN retransmissions before connecting fails; set while the SYN is unanswered, it applies to
    /// that SYN, as on Linux.
    /// </summary>
    public int SynRetries
    {
        get => _tcb.SynRetries;
        set => Change(UserTcpConnectionOptions.CheckSynRetries(value, nameof(SynRetries)), static (tcb, retries) => tcb.SynRetries = retries);
    }

    /// <summary>TCP_LINGER2: how long this connection, once closed by the application, may wait in FIN-WAIT-2 (cut to 120 s).</summary>
    public TimeSpan FinWait2Timeout
    {
        get => _tcb.FinWait2Timeout;
        set => Change(UserTcpConnectionOptions.CheckFinWait2Timeout(value, nameof(FinWait2Timeout)), static (tcb, linger2) => tcb.FinWait2Timeout = UserTcpConnectionOptions.ClampFinWait2Timeout(linger2));
    }

    /// <summary>
    /// TCP_CORK: segments smaller than the MSS wait until it is cleared (then what is queued goes at once), or the FIN;
    /// with nothing in flight, at most one RTO (as Linux's 200 ms ceiling, tcp(7)).
    /// </summary>
    public bool Corked
    {
        get => _tcb.Corked;
        set => Change(value, static (tcb, on) => tcb.Corked = on);
    }

    /// <summary>TCP_USER_TIMEOUT: how long sent data may go unacknowledged before the connection times out; null: the retry counts alone.</summary>
    public TimeSpan? UserTimeout
    {
        get => _tcb.UserTimeout;
        set => Change<TimeSpan?>(value is null ? null : UserTcpConnectionOptions.CheckUserTimeout(value.Value, nameof(UserTimeout)), static (tcb, timeout) => tcb.UserTimeout = timeout);
    }

    /// <summary>IP_TOS: the TOS byte of the packets sent from now on; its two ECN bits are the stack's (cleared here), as Linux's.</summary>
    public byte TypeOfService
    {
        get => _tcb.TypeOfService;
        set => Change(value, static (tcb, tos) => tcb.TypeOfService = tos);
    }

    /// <summary>IP_MTU_DISCOVER: whether packets carry Don't Fragment and ICMP "fragmentation needed" lowers the path MTU (RFC 1191).</summary>
    public PathMtuDiscovery PathMtuDiscovery
    {
        get => _tcb.PathMtuDiscovery;
        set => Change(Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(PathMtuDiscovery), value, "IP_MTU_DISCOVER is 0 to 5"),
            static (tcb, mode) => tcb.PathMtuDiscovery = mode);
    }

    /// <summary>
    /// The MTU of the route to the peer (Linux's route <c>mtu</c> metric; the stack's MSS + 40 unless set): no segment is
    /// larger. A lower one shrinks segments at once; a higher one is reached by path MTU probing (<see cref="TcpConfig.MtuProbing"/>).
    /// </summary>
    public int RouteMtu
    {
        get => _tcb.RouteMtu;
        set => Change(value, static (tcb, mtu) => tcb.RouteMtu = mtu);
    }

    /// <summary>
    /// TCP_CONGESTION: the congestion-control algorithm. It may change at any time, as on Linux; the new one starts
    /// from the current congestion window and slow-start threshold.
    /// </summary>
    public CongestionControlAlgorithm CongestionControl
    {
        get => _tcb.CongestionControl;
        set => Change(Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(CongestionControl), value, "not a congestion-control algorithm UserTcp has"),
            static (tcb, algorithm) => tcb.CongestionControl = algorithm);
    }

    /// <summary>
    /// SO_LINGER. Null (the default): <see cref="CloseAsync"/> returns at once and the FIN goes out in the background.
    /// Zero: close resets the connection. Positive: close waits up to this long for the FIN to be acknowledged.
    /// </summary>
    public TimeSpan? Linger
    {
        get;
        set => field = value is null ? null : UserTcpConnectionOptions.CheckLinger(value.Value, nameof(Linger));
    }

    /// <summary>An option that changes how much a write may queue: a pending write and the write-space wakeup are retried (Linux's sk_write_space).</summary>
    private void ChangeWriteSpace<T>(T value, Action<TcpConnection, T> apply)
    {
        _shard.Enter();
        try
        {
            apply(_tcb, value);
            _shard.Touch(this);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>Applies an option to the engine's connection in a pass of its own (a change may arm or cancel a timer, or send).</summary>
    private void Change<T>(T value, Action<TcpConnection, T> apply)
    {
        _shard.Enter();
        try
        {
            apply(_tcb, value);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>A <see cref="System.IO.Stream"/> over the connection; disposing it closes the connection. Its failures are <see cref="IOException"/>s around the <see cref="SocketException"/>, as NetworkStream's.</summary>
    public Stream Stream => LazyInitializer.EnsureInitialized(ref _stream, () => new UserTcpStream(this));

    /// <summary>An <see cref="IDuplexPipe"/> over the connection (System.IO.Pipelines), built on <see cref="Stream"/>.</summary>
    public IDuplexPipe Pipe => LazyInitializer.EnsureInitialized(ref _pipe, () => new DuplexPipe(
        PipeReader.Create(Stream, new StreamPipeReaderOptions(leaveOpen: true)),
        PipeWriter.Create(Stream, new StreamPipeWriterOptions(leaveOpen: true))));

    /// <summary>
    /// Reads what has arrived, waiting for at least one byte; 0 means the peer has closed its side. With an empty
    /// <paramref name="buffer"/>, waits until a read would not block (data, end-of-stream or an error) and returns 0, as a
    /// zero-byte socket read does: a server can wait on many idle connections without holding a buffer for each.
    /// </summary>
    /// <exception cref="SocketException">The connection was reset, refused or timed out (reported once).</exception>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        StartRead(buffer, throwFailure: true, forStream: false, cancellationToken);

    /// <summary><see cref="UserTcpStream"/>'s read: a failure is an <see cref="IOException"/> around the <see cref="SocketException"/>, as NetworkStream's.</summary>
    internal ValueTask<int> ReadForStreamAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        StartRead(buffer, throwFailure: true, forStream: true, cancellationToken);

    /// <summary>
    /// Reads as <see cref="ReadAsync"/> does, but a failure of the connection (reset, refused, timed out) is not thrown:
    /// the read returns -1 and leaves the failure for <see cref="TakeError"/> (SO_ERROR), as a non-blocking socket's
    /// read() and getsockopt do. For servers that see many resets: an exception per reset costs far more than the
    /// connection's packets do. Cancellation, a failed device and a stopped stack still throw.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    public ValueTask<int> TryReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        StartRead(buffer, throwFailure: false, forStream: false, cancellationToken);

    private ValueTask<int> StartRead(Memory<byte> buffer, bool throwFailure, bool forStream, CancellationToken cancellationToken)
    {
        _shard.EnterLockOnly();
        // Nothing to return: the read waits, and that takes no pass — no clock read, no engine poll, nothing to send or
        // retry (echo's read right after its answer, once per request). A read that returns anything runs a pass, whose
        // fresh clock stamps what reading does (receive-buffer auto-tuning, a window update).
        if (ReadNeedsNoPass)
        {
            try
            {
                return WaitToRead(buffer, throwFailure, forStream, cancellationToken);
            }
            finally
            {
                _shard.ExitLockOnly();
            }
        }
        try
        {
            _shard.BeginPass();
            int read = ReceiveCore(buffer.Span, out SocketError error, reportFailure: throwFailure);
            if (read >= 0) return new ValueTask<int>(read);
            if (error != SocketError.WouldBlock) return throwFailure ? ValueTask.FromException<int>(Failure(error, forStream, reading: true)) : new ValueTask<int>(-1);
            return WaitToRead(buffer, throwFailure, forStream, cancellationToken);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>Under the engine lock, when a read finds nothing: it becomes the pending read, retried as the connection changes.</summary>
    private ValueTask<int> WaitToRead(Memory<byte> buffer, bool throwFailure, bool forStream, CancellationToken cancellationToken)
    {
        if (_shard.DeviceFailedError() is IOException failed) return ValueTask.FromException<int>(failed); // nothing more will arrive
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<int>(cancellationToken);
        _read ??= new UserOperation<int>(_shard.Gate, InlineCompletions);
        ValueTask<int> pending = _read.Start(cancellationToken);
        _readBuffer = buffer;
        _readThrowsFailure = throwFailure;
        _readForStream = forStream;
        return pending;
    }

    /// <summary>
    /// Queues all of <paramref name="data"/> for sending, waiting for send-buffer room as needed (an empty write queues
    /// nothing but still reports a failure or a shutdown, as Linux's send does). A write cancelled while
    /// it waits may have queued a first part of <paramref name="data"/>, which is sent; how much is not reported (as with
    /// Socket.SendAsync), so after a cancelled write the stream's position is unknown: abort, or use
    /// <see cref="Send(ReadOnlySpan{byte}, out SocketError)"/>, which returns what it queued.
    /// </summary>
    /// <exception cref="SocketException">Shut down for sending (<see cref="SocketError.Shutdown"/>), reset, or timed out.</exception>
    /// <exception cref="InvalidOperationException">Another write is pending.</exception>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        WriteAsync(data, UserTcpSendFlags.None, cancellationToken);

    /// <summary>Queues all of <paramref name="data"/> as <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> does, with <paramref name="flags"/> (MSG_EOR, MSG_MORE).</summary>
#pragma warning disable RS0026 // the same overload pair as Socket.SendAsync(buffer, flags, cancellationToken)
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, UserTcpSendFlags flags, CancellationToken cancellationToken = default)
#pragma warning restore RS0026
        => StartWrite(data, flags, forStream: false, cancellationToken);

    /// <summary><see cref="UserTcpStream"/>'s write: a failure is an <see cref="IOException"/> around the <see cref="SocketException"/>, as NetworkStream's.</summary>
    internal ValueTask WriteForStreamAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        StartWrite(data, UserTcpSendFlags.None, forStream: true, cancellationToken);

    private ValueTask StartWrite(ReadOnlyMemory<byte> data, UserTcpSendFlags flags, bool forStream, CancellationToken cancellationToken)
    {
        // An empty write still reports a failure or a shutdown, as Send and Linux's send do (tcp_sendmsg looks before it copies).
        _shard.Enter();
        try
        {
            if (_shard.DeviceFailedError() is IOException failed) return ValueTask.FromException(failed); // nothing can leave
            if (!StartsFastOpen)
            {
                int sent = SendCore(data.Span, out SocketError error, flags);
                if (sent < 0 && error != SocketError.WouldBlock) return ValueTask.FromException(Failure(error, forStream, reading: false));
                if (sent > 0) data = data[sent..];
                if (data.IsEmpty) return default;
                if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
                _write ??= new UserOperation<int>(_shard.Gate, InlineCompletions);
                ValueTask pending = _write.StartVoid(cancellationToken);
                _writeRest = data;
                _writeFlags = flags;
                _writeForStream = forStream;
                return pending;
            }
        }
        finally
        {
            _shard.Exit();
        }
        return FastOpenWriteAsync(data, flags, forStream, cancellationToken); // UserTcpConnection.FastOpen.cs
    }

    /// <summary>
    /// A non-blocking read: copies what has arrived and returns its length, with <paramref name="error"/> <see cref="SocketError.Success"/>;
    /// 0 and Success at end-of-stream; 0 and <see cref="SocketError.WouldBlock"/> when nothing has arrived yet; 0 and the
    /// error when the connection failed (reported once).
    /// </summary>
    public int Receive(Span<byte> buffer, out SocketError error)
    {
        error = SocketError.Success;
        if (buffer.IsEmpty) return 0;
        _shard.EnterLockOnly();
        if (ReadNeedsNoPass)
        {
            // Nothing to read, nothing for a pass to do (see StartRead).
            error = _shard.DeviceFailure is not null ? SocketError.NetworkDown : SocketError.WouldBlock;
            _shard.ExitLockOnly();
            return 0;
        }
        try
        {
            _shard.BeginPass();
            int read = ReceiveCore(buffer, out error);
            if (error == SocketError.WouldBlock && _shard.DeviceFailure is not null) error = SocketError.NetworkDown; // nothing more will arrive
            return Math.Max(read, 0);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>
    /// A non-blocking write: queues what fits in the send buffer and returns how much, with <paramref name="error"/>
    /// <see cref="SocketError.Success"/>; 0 and <see cref="SocketError.WouldBlock"/> when nothing fits (or the connection is
    /// still opening); 0 and the error when it cannot send (<see cref="SocketError.Shutdown"/> after a shutdown or close).
    /// </summary>
    public int Send(ReadOnlySpan<byte> data, out SocketError error) => Send(data, UserTcpSendFlags.None, out error);

    /// <summary>A non-blocking write as <see cref="Send(ReadOnlySpan{byte}, out SocketError)"/>, with <paramref name="flags"/> (MSG_EOR: only when all of it fits; MSG_MORE).</summary>
    public int Send(ReadOnlySpan<byte> data, UserTcpSendFlags flags, out SocketError error)
    {
        _shard.Enter();
        try
        {
            if (_shard.DeviceFailure is not null)
            {
                error = SocketError.NetworkDown; // the device failed: nothing can leave
                return 0;
            }
            int sent = SendCore(data, out error, flags);
            return Math.Max(sent, 0);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>SO_ERROR: the failure not yet reported (reset, refused, timed out), cleared by reading it; <see cref="SocketError.Success"/> when none.</summary>
    public SocketError TakeError()
    {
        _shard.Enter();
        try
        {
            return TakePendingError();
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>
    /// Waits until the connection is established (a connect in progress, see <see cref="NetStack.Connect"/>);
    /// throws the failure as a <see cref="SocketException"/> (reported once) when it did not get there, and
    /// <see cref="SocketError.ConnectionAborted"/> when it was closed or aborted before it did (Linux: ECONNABORTED).
    /// </summary>
    public Task WaitConnectedAsync(CancellationToken cancellationToken = default) =>
        WaitForStateAsync(static c => c.State is not (TcpState.SynSent or TcpState.SynReceived), static connection => connection.ConnectFailure(), null, cancellationToken);

    /// <summary>Under the engine lock, once the handshake has ended: why it failed, or null when it did not.</summary>
    private SocketException? ConnectFailure()
    {
        if (_tcb.State != TcpState.Closed) return null;
        SocketError error = TakePendingError();
        if (error == SocketError.Success) error = _tcb.Error != TcpError.None ? _shard.Translate(_tcb.Error) : SocketError.ConnectionAborted;
        return new SocketException((int)error);
    }

    /// <summary>
    /// Waits until everything written has been acknowledged by the peer. Throws, as a write would, when the connection
    /// failed or was aborted first: the failure (reset, timed out; reported once), then <see cref="SocketError.Shutdown"/>;
    /// <see cref="SocketError.ConnectionAborted"/> after <see cref="Abort"/>.
    /// </summary>
    /// <exception cref="SocketException">The connection ended without a clean close, so what was written may never have arrived.</exception>
    public Task FlushAsync(CancellationToken cancellationToken = default) =>
        WaitForStateAsync(static c => c.BytesUnacknowledged == 0 || c.State == TcpState.Closed, static connection => connection.FlushFailure(), null, cancellationToken);

    /// <summary>Under the engine lock, once a flush's wait has ended: why it failed (a CLOSED connection that did not close cleanly), or null.</summary>
    private SocketException? FlushFailure()
    {
        if (_tcb.State != TcpState.Closed || _tcb.Error == TcpError.None) return null;
        SocketError error = TakePendingError();
        if (error == SocketError.Success) error = _tcb.Error == TcpError.ConnectionAborted ? SocketError.ConnectionAborted : SocketError.Shutdown;
        return new SocketException((int)error);
    }

    /// <summary>
    /// Send: half-close — a FIN follows the data already written, and reading goes on (RFC 9293 §3.6); a write waiting
    /// for room fails with <see cref="SocketError.Shutdown"/> (EPIPE). Receive: a waiting read returns 0, and reads return
    /// end-of-stream whenever nothing is queued; what is queued and what still arrives stays readable, as Linux's SHUT_RD.
    /// </summary>
    /// <exception cref="SocketException"><see cref="SocketError.NotConnected"/>: the connection has closed (ENOTCONN).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="how"/> is none of Send, Receive and Both (EINVAL on Linux).</exception>
    public void Shutdown(SocketShutdown how)
    {
        if (how is not (SocketShutdown.Send or SocketShutdown.Receive or SocketShutdown.Both))
        {
            throw new ArgumentOutOfRangeException(nameof(how), how, "shutdown takes Send, Receive or Both");
        }
        _shard.Enter();
        try
        {
            if (_tcb.State == TcpState.Closed) throw new SocketException((int)SocketError.NotConnected);
            _tcb.Shutdown(how switch
            {
                SocketShutdown.Send => ShutdownDirection.Send,
                SocketShutdown.Receive => ShutdownDirection.Receive,
                _ => ShutdownDirection.Both, // checked above
            });
            _shard.Touch(this); // a pending read ends now
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>
    /// Closes the connection: a FIN after the data already written, or a RST when unread data is left
    /// (RFC 2525 §2.17) or <see cref="Linger"/> is zero. With a positive linger, waits for the FIN's acknowledgment.
    /// A read waiting meanwhile returns 0 (end-of-stream), and a write waiting for room fails with
    /// <see cref="SocketError.Shutdown"/> (EPIPE); later reads return 0 and later writes fail the same way.
    /// </summary>
    public ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_shard.CleanupIsMoot) return default; // the stack closes (or has closed) every connection itself; cleanup never throws
        // CLOSED is final (a reset, most often): nothing to send or to wait for, so no pass (State is read without the lock).
        if (_tcb.State == TcpState.Closed) return default;
        _shard.Enter();
        try
        {
            _tcb.LingerZero = Linger == TimeSpan.Zero;
            _tcb.Close();
            _shard.Touch(this);
        }
        finally
        {
            _shard.Exit();
        }
        if (Linger is not TimeSpan linger || linger <= TimeSpan.Zero) return default;
        // SO_LINGER: wait for the FIN's acknowledgment; when the time runs out, close returns and the FIN goes on
        // being retransmitted in the background, as on Linux.
        return new ValueTask(WaitForStateAsync(static c => c.State is TcpState.Closed or TcpState.TimeWait or TcpState.FinWait2, null, linger, cancellationToken));
    }

    /// <summary>Resets the connection at once (RST). A read waiting meanwhile returns 0; a write waiting fails with <see cref="SocketError.Shutdown"/>.</summary>
    public void Abort()
    {
        if (_shard.CleanupIsMoot) return;
        _shard.Enter();
        try
        {
            _tcb.Abort();
            _shard.Touch(this);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>This connection's row of the table, with the TCP_INFO fields (MSS, cwnd, ssthresh, RTT, RTO).</summary>
    public ConnectionSnapshot Snapshot()
    {
        TimeSpan now = _shard.Enter();
        try
        {
            return ConnectionSnapshot.Of(_tcb, now);
        }
        finally
        {
            _shard.Exit();
        }
    }

    /// <summary>Closes the connection, as <see cref="CloseAsync"/>.</summary>
    public ValueTask DisposeAsync() => CloseAsync();

    /// <summary>"local&lt;-&gt;remote STATE".</summary>
    public override string ToString() => _tcb.ToString();

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
