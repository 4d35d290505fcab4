using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Script.LinuxSymbols;

namespace UserTcp.Script;

/// <summary>
/// The system calls, mapped onto the engine with Linux's semantics: errors as errno values, a connection's error
/// reported once (then EOF on read, EPIPE on write), blocking sockets waiting on the manual clock, O_NONBLOCK ones
/// answering EAGAIN / EINPROGRESS.
/// </summary>
internal sealed partial class ScriptExecution
{
    private const int EBADF = 9;
    private const int EAGAIN = 11;
    private const int EINVAL = 22;
    private const int EPIPE = 32;
    private const int EADDRINUSE = 98;
    private const int ECONNABORTED = 103;
    private const int ECONNRESET = 104;
    private const int EISCONN = 106;
    private const int ENOTCONN = 107;
    private const int ETIMEDOUT = 110;
    private const int ECONNREFUSED = 111;
    private const int EALREADY = 114;
    private const int EINPROGRESS = 115;

    private void RunSyscall(SyscallEvent e)
    {
        (long at, long baseTime) = Resolve(e);
        AdvanceTo(at);
        CheckNothingUnexpected(e.Line);
        if (_blocking is { } busy)
        {
            throw Fail(e.Line, $"blocking system call while another blocking system call is already in progress (`{busy.Spec.Call}` on line {busy.Line})");
        }
        long? end = e.Call.EndTime is long endTime ? baseTime + endTime : null;
        Func<Outcome?> attempt = Prepare(e);
        Outcome? outcome = attempt();
        Step(_now); // what the call queued leaves now
        _lastEventTime = at;

        if (outcome is Outcome done)
        {
            if (end is long returnAt && Math.Abs(_now - returnAt) > Tolerance(returnAt))
            {
                throw Fail(e.Line, $"`{e.Call.Call}` returned {done} at {Seconds(_now)} s; the script expects it to block until {Seconds(returnAt)} s");
            }
            CheckResult(e.Line, e.Call, done);
            Trace($"{Seconds(_now)} line {e.Line}: {e.Call.Call} = {done}");
            return;
        }
        if (end is long blockUntil)
        {
            Trace($"{Seconds(_now)} line {e.Line}: {e.Call.Call} blocks (expected to return at {Seconds(blockUntil)} s)");
            _blocking = new PendingCall(e.Line, e.Call, attempt, blockUntil);
            return;
        }

        // Written without "...": like packetdrill's main thread, the script itself waits in the call; only UserTcp's
        // timers run until it returns.
        Trace($"{Seconds(_now)} line {e.Line}: {e.Call.Call} blocks the script");
        long started = _now;
        while (outcome is null)
        {
            if (_engine.PollAt is not TimeSpan next)
            {
                throw Fail(e.Line, $"`{e.Call.Call}` blocks and nothing can wake it: UserTcp has no timer armed, and no later line runs while a call "
                    + $"written without `...` blocks (write `{Seconds(at)}...<return time> {e.Call.Name}(...)` to let the next lines run meanwhile)");
            }
            if (Micros(next) - started > MaxBlockMicros) throw Fail(e.Line, $"`{e.Call.Call}` is still blocked after {MaxBlockMicros / 3_600_000_000} hours of script time");
            Step(Math.Max(Micros(next), _now));
            outcome = attempt();
        }
        Step(_now);
        CheckResult(e.Line, e.Call, outcome.Value);
        Trace($"{Seconds(_now)} line {e.Line}: {e.Call.Call} = {outcome.Value} (after blocking {Seconds(_now - started)} s)");
    }

    private void Complete(PendingCall call, Outcome outcome)
    {
        if (Math.Abs(_now - call.End) > Tolerance(call.End))
        {
            throw Fail(call.Line, $"`{call.Spec.Call}` returned {outcome} at {Seconds(_now)} s; the script expects it to return at {Seconds(call.End)} s");
        }
        CheckResult(call.Line, call.Spec, outcome);
        Trace($"{Seconds(_now)} line {call.Line}: {call.Spec.Call} = {outcome} (returns)");
    }

    private static void CheckResult(int line, SyscallSpec spec, Outcome outcome)
    {
        string expected = spec.Errno is null ? $"{spec.Result}" : $"{spec.Result} {spec.Errno}";
        bool matches;
        switch (spec.Result)
        {
            case EllipsisExpression:
                matches = true;
                break;
            case IntegerExpression { Value: -1 } when spec.Errno is string errno:
                if (!TryErrno(errno, out long number)) throw Fail(line, $"unknown errno {errno}");
                matches = outcome.Errno == number;
                break;
            case IntegerExpression { Value: -1 }:
                matches = outcome.Errno != 0;
                break;
            case IntegerExpression value:
                if (spec.Errno is not null) throw Fail(line, $"an errno ({spec.Errno}) goes with the result -1, not {value}");
                matches = outcome.Errno == 0 && outcome.Value == value.Value;
                break;
            default:
                throw Fail(line, $"the result `{spec.Result}` is not supported: write a number, -1 ERRNO, or ...");
        }
        if (!matches) throw Fail(line, $"`{spec.Call}` returned {outcome}, the script expects {expected}");
    }

    /// <summary>Checks a call's arguments and returns the attempt that runs it (again, while it blocks).</summary>
    private Func<Outcome?> Prepare(SyscallEvent e)
    {
        SyscallSpec call = e.Call;
        int line = e.Line;
        return call.Name switch
        {
            "socket" => Socket(line, call),
            "bind" => Bind(line, call),
            "listen" => Listen(line, call),
            "accept" => Accept(line, call),
            "connect" => Connect(line, call),
            "write" => Write(line, call, 3),
            "send" => Write(line, call, 4),
            "read" => Read(line, call, 3),
            "recv" => Read(line, call, 4),
            "shutdown" => Shutdown(line, call),
            "close" => Close(line, call),
            "fcntl" => Fcntl(line, call),
            "setsockopt" => SetSockOpt(line, call),
            "getsockopt" => GetSockOpt(line, call),
            _ => throw Fail(line, $"system call `{call.Name}` is not supported (supported: socket, bind, listen, accept, connect, write, send, read, recv, "
                + "shutdown, close, fcntl, setsockopt, getsockopt)"),
        };
    }

    // ───────────── socket, bind, listen, accept, connect ─────────────

    private Func<Outcome?> Socket(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        if (call.Arguments[0] is not EllipsisExpression && Int(line, call.Arguments[0], "the domain") != AF_INET)
        {
            throw Fail(line, $"socket domain `{call.Arguments[0]}` is not supported: UserTcp is AF_INET only");
        }
        long type = Int(line, call.Arguments[1], "the socket type");
        if ((type & ~(SOCK_NONBLOCK | 0x80000L)) != SOCK_STREAM) throw Fail(line, $"socket type `{call.Arguments[1]}` is not supported: only SOCK_STREAM");
        if (call.Arguments[2] is not EllipsisExpression && Int(line, call.Arguments[2], "the protocol") is not (0 or IPPROTO_TCP))
        {
            throw Fail(line, $"protocol `{call.Arguments[2]}` is not supported: only IPPROTO_TCP");
        }
        if (call.Result is not IntegerExpression { Value: >= 0 and < int.MaxValue } fd)
        {
            throw Fail(line, "socket(...) = N names the new file descriptor: write a number");
        }
        if (_sockets.ContainsKey((int)fd.Value)) throw Fail(line, $"fd {fd.Value} is already open");
        return () =>
        {
            _sockets[(int)fd.Value] = new ScriptSocket((int)fd.Value, (type & SOCK_NONBLOCK) != 0);
            return Outcome.Ok(fd.Value);
        };
    }

    private Func<Outcome?> Bind(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        ushort port = SockaddrPort(line, call.Arguments[1], _localIp, anyAllowed: true, "local_ip") ?? _bindPort;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is not null || socket.Connection is not null || socket.BoundPort is not null) return Outcome.Error(EINVAL);
            if (_sockets.Values.Any(other => other != socket && (other.BoundPort == port || other.Listener?.LocalEndpoint.Port == port)
                && !(other.Options.ReuseAddress && socket.Options.ReuseAddress && other.Listener is null)))
            {
                return Outcome.Error(EADDRINUSE);
            }
            socket.BoundPort = port;
            _localPort = port;
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Listen(int line, SyscallSpec call)
    {
        Arguments(line, call, 2);
        int fd = Fd(line, call);
        int backlog = (int)Math.Clamp(Int(line, call.Arguments[1], "the backlog"), 1, 65535);
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Connection is not null) return Outcome.Error(EINVAL);
            if (socket.Listener is not null) return Outcome.Ok(0);
            ushort port = socket.BoundPort ?? _bindPort;
            try
            {
                socket.Listener = _engine.Listen(port, backlog, socket.Options.ConnectionConfig(_config));
            }
            catch (TcpException exception) when (exception.Error == TcpError.AddressInUse)
            {
                return Outcome.Error(EADDRINUSE);
            }
            socket.BoundPort = port;
            _listenerSockets[socket.Listener] = socket;
            _localPort = port;
            _remotePort = _passivePeerPort;
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Accept(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        int? wanted = call.Result is IntegerExpression { Value: >= 0 and < int.MaxValue } r ? (int)r.Value : null;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is null) return Outcome.Error(EINVAL);
            if (!socket.Listener.TryAccept(out TcpConnection connection))
            {
                return socket.NonBlocking ? Outcome.Error(EAGAIN) : null;
            }
            int newFd = wanted is int w && !_sockets.ContainsKey(w) ? w : Enumerable.Range(3, int.MaxValue - 3).First(n => !_sockets.ContainsKey(n));
            var accepted = new ScriptSocket(newFd, nonBlocking: false)
            {
                Connection = connection,
                BoundPort = socket.BoundPort,
                ConnectionConfig = socket.Listener.ConnectionConfig,
            };
            CopyOptions(socket.Options, accepted.Options);
            _sockets[newFd] = accepted;
            _connection = connection;
            _localPort = connection.LocalEndpoint.Port;
            _remotePort = connection.RemoteEndpoint.Port;
            return Outcome.Ok(newFd);
        };
    }

    private static void CopyOptions(SocketOptions from, SocketOptions to)
    {
        to.ReuseAddress = from.ReuseAddress;
        to.KeepAlive = from.KeepAlive;
        to.NoDelay = from.NoDelay;
        to.KeepIdle = from.KeepIdle;
        to.KeepInterval = from.KeepInterval;
        to.KeepCount = from.KeepCount;
        to.Linger2 = from.Linger2;
        to.Linger = from.Linger;
        to.SendBuffer = from.SendBuffer;
        to.ReceiveBuffer = from.ReceiveBuffer;
    }

    private Func<Outcome?> Connect(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        ushort port = SockaddrPort(line, call.Arguments[1], _remoteIp, anyAllowed: false, "remote_ip") ?? _connectPort;
        bool started = false;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (!started)
            {
                started = true;
                if (socket.Listener is not null) return Outcome.Error(EISCONN);
                if (socket.Connection is { } existing)
                {
                    if (existing.State is TcpState.SynSent or TcpState.SynReceived)
                    {
                        if (socket.NonBlocking) return Outcome.Error(EALREADY);
                    }
                    else if (existing.State != TcpState.Closed)
                    {
                        return Outcome.Error(EISCONN);
                    }
                    else if (PendingError(socket) is int error)
                    {
                        socket.ErrorReported = true;
                        return Outcome.Error(error);
                    }
                    else
                    {
                        socket.Connection = null;
                    }
                }
                if (socket.Connection is null)
                {
                    TcpConnection connection;
                    TcpConfig config = socket.Options.ConnectionConfig(_config);
                    try
                    {
                        connection = _engine.Connect(new IpEndpoint(_remoteIp, port), socket.BoundPort ?? 0, config);
                    }
                    catch (TcpException exception) when (exception.Error == TcpError.AddressInUse)
                    {
                        return Outcome.Error(EADDRINUSE);
                    }
                    _seen.Add(connection);
                    socket.Options.ApplyAll(connection, _config);
                    socket.Connection = connection;
                    socket.ConnectionConfig = config;
                    socket.ErrorReported = false;
                    _connection = connection;
                    _localPort = connection.LocalEndpoint.Port;
                    _remotePort = port;
                    if (socket.NonBlocking) return Outcome.Error(EINPROGRESS);
                }
            }
            TcpConnection c = socket.Connection!;
            if (c.State.IsSynchronized()) return Outcome.Ok(0);
            if (c.State == TcpState.Closed)
            {
                int error = PendingError(socket) ?? ECONNABORTED;
                socket.ErrorReported = true;
                return Outcome.Error(error);
            }
            return null;
        };
    }

    // ───────────── write, read ─────────────

    private Func<Outcome?> Write(int line, SyscallSpec call, int arguments)
    {
        Arguments(line, call, arguments);
        int fd = Fd(line, call);
        long count = Int(line, call.Arguments[2], "the byte count");
        if (count is < 0 or > 64 * 1024 * 1024) throw Fail(line, $"write of {count} bytes is not supported (0 to 64 MiB)");
        if (arguments == 4 && Int(line, call.Arguments[3], "the flags") != 0) throw Fail(line, "send flags other than 0 are not supported");
        // Like packetdrill, the data is zeros unless the script gives a string.
        byte[] data = new byte[count];
        if (call.Arguments[1] is StringExpression text) System.Text.Encoding.ASCII.GetBytes(text.Value.AsSpan(0, (int)Math.Min(text.Value.Length, count)), data);
        int written = 0;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Connection is not { } c) return Outcome.Error(EPIPE);
            if (PendingError(socket) is int error)
            {
                socket.ErrorReported = true;
                return Outcome.Error(error);
            }
            if (c.IsSendShutdown || c.State is TcpState.Closed) return Outcome.Error(EPIPE);
            if (c.State is TcpState.SynSent or TcpState.SynReceived) return socket.NonBlocking ? Outcome.Error(EAGAIN) : null;
            if (count == 0) return Outcome.Ok(0);
            try
            {
                written += c.Send(data.AsSpan(written));
            }
            catch (TcpException exception)
            {
                return Outcome.Error(Errno(exception.Error));
            }
            if (written == count) return Outcome.Ok(count);
            if (socket.NonBlocking) return written > 0 ? Outcome.Ok(written) : Outcome.Error(EAGAIN);
            return null; // a blocking write waits until all of it fits
        };
    }

    private Func<Outcome?> Read(int line, SyscallSpec call, int arguments)
    {
        Arguments(line, call, arguments);
        int fd = Fd(line, call);
        long count = Int(line, call.Arguments[2], "the byte count");
        if (count is < 0 or > 64 * 1024 * 1024) throw Fail(line, $"read of {count} bytes is not supported (0 to 64 MiB)");
        if (arguments == 4 && Int(line, call.Arguments[3], "the flags") != 0) throw Fail(line, "recv flags other than 0 are not supported");
        byte[] buffer = new byte[count];
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Connection is not { } c) return Outcome.Error(ENOTCONN);
            if (count == 0) return Outcome.Ok(0);
            if (c.BytesToRead == 0)
            {
                // tcp_recvmsg: once the peer's FIN was read past (SOCK_DONE) a read returns 0 before any error.
                if (c.FinReceived) return Outcome.Ok(0);
                if (PendingError(socket) is int error)
                {
                    socket.ErrorReported = true;
                    return Outcome.Error(error);
                }
                if (c.State is TcpState.SynSent or TcpState.SynReceived) return socket.NonBlocking ? Outcome.Error(EAGAIN) : null;
                if (c.State == TcpState.Closed) return Outcome.Ok(0);
            }
            try
            {
                ReceiveStatus status = c.Receive(buffer, out int read);
                return status switch
                {
                    ReceiveStatus.Data => Outcome.Ok(read),
                    ReceiveStatus.EndOfStream => Outcome.Ok(0),
                    _ => socket.NonBlocking ? Outcome.Error(EAGAIN) : null,
                };
            }
            catch (TcpException exception)
            {
                return Outcome.Error(Errno(exception.Error));
            }
        };
    }

    // ───────────── shutdown, close, fcntl ─────────────

    private Func<Outcome?> Shutdown(int line, SyscallSpec call)
    {
        Arguments(line, call, 2);
        int fd = Fd(line, call);
        long how = Int(line, call.Arguments[1], "how");
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (how is not (SHUT_RD or SHUT_WR or SHUT_RDWR)) return Outcome.Error(EINVAL);
            if (socket.Listener is not null) throw Fail(line, "shutdown of a listening socket is not supported");
            if (socket.Connection is not { } c || c.State == TcpState.Closed) return Outcome.Error(ENOTCONN);
            c.Shutdown(how switch
            {
                SHUT_RD => ShutdownDirection.Receive,
                SHUT_WR => ShutdownDirection.Send,
                _ => ShutdownDirection.Both,
            });
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Close(int line, SyscallSpec call)
    {
        Arguments(line, call, 1);
        int fd = Fd(line, call);
        TcpConnection? lingering = null;
        long lingerUntil = 0;
        return () =>
        {
            if (lingering is { } waiting)
            {
                // SO_LINGER with a timeout: close() waits for the FIN to be acknowledged (sk_stream_wait_close).
                bool done = waiting.State is not (TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck) || _now >= lingerUntil;
                return done ? Outcome.Ok(0) : null;
            }
            if (!_sockets.Remove(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is { } listener)
            {
                listener.Close();
                _listenerSockets.Remove(listener);
                return Outcome.Ok(0);
            }
            if (socket.Connection is not { } c) return Outcome.Ok(0);
            c.Close();
            if (socket.Options.Linger is (true, > 0) && !socket.NonBlocking && c.State is TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck)
            {
                lingering = c;
                lingerUntil = _now + socket.Options.Linger.Seconds * 1_000_000L;
                return null;
            }
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Fcntl(int line, SyscallSpec call)
    {
        if (call.Arguments.Count is < 2 or > 3) throw Fail(line, $"fcntl takes 2 or 3 arguments, not {call.Arguments.Count}");
        int fd = Fd(line, call);
        long command = Int(line, call.Arguments[1], "the command");
        long argument = call.Arguments.Count == 3 ? Int(line, call.Arguments[2], "the argument") : 0;
        if (command is not (F_GETFL or F_SETFL)) throw Fail(line, $"fcntl command `{call.Arguments[1]}` is not supported (F_GETFL, F_SETFL)");
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (command == F_GETFL) return Outcome.Ok(O_RDWR | (socket.NonBlocking ? O_NONBLOCK : 0));
            socket.NonBlocking = (argument & O_NONBLOCK) != 0;
            return Outcome.Ok(0);
        };
    }

    // ───────────── socket options ─────────────

    private Func<Outcome?> SetSockOpt(int line, SyscallSpec call)
    {
        Arguments(line, call, 5);
        int fd = Fd(line, call);
        (long level, long name) = OptionName(line, call);
        ScriptExpression valueExpression = call.Arguments[3];
        (bool On, int Seconds) linger = default;
        long value = 0;
        if (level == SOL_SOCKET && name == SO_LINGER) linger = LingerValue(line, valueExpression);
        else value = Int(line, valueExpression, "the option value");
        if (level == SOL_SOCKET && name is SO_SNDBUF or SO_RCVBUF && value is < 0 or > MaxBufferOption)
        {
            throw Fail(line, $"{call.Arguments[2]} of {value} is not supported (0 to {MaxBufferOption} bytes)");
        }
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            SocketOptions options = socket.Options;
            TcpConnection? c = socket.Connection;
            switch (level, name)
            {
                case (SOL_SOCKET, SO_REUSEADDR):
                    options.ReuseAddress = value != 0;
                    break;
                case (SOL_SOCKET, SO_KEEPALIVE):
                    options.KeepAlive = value != 0;
                    if (c is not null && c.KeepAlive != (value != 0)) c.KeepAlive = value != 0;
                    break;
                case (SOL_SOCKET, SO_LINGER):
                    options.Linger = linger;
                    if (c is not null) c.LingerZero = linger is (true, 0);
                    break;
                case (SOL_SOCKET, SO_SNDBUF or SO_RCVBUF):
                    // Buffers are fixed when the engine creates a connection: set before connect() or listen() they
                    // size it (and, on a listener, every connection it makes). On a socket with a connection the call
                    // succeeds, as on Linux, and is kept for a later connect(), but the connection keeps its buffers
                    // (and its window scale) — getsockopt goes on reporting those.
                    if (socket.Listener is not null)
                    {
                        throw Fail(line, $"setsockopt({call.Arguments[2]}) on a socket that is already listening is not supported: the engine fixes "
                            + "a listener's buffer sizes at listen(); set it before listen()");
                    }
                    int buffer = BufferBytes(name, value);
                    if (name == SO_SNDBUF) options.SendBuffer = buffer;
                    else options.ReceiveBuffer = buffer;
                    break;
                case (IPPROTO_TCP, TCP_NODELAY):
                    options.NoDelay = value != 0;
                    if (c is not null) c.NoDelay = value != 0;
                    break;
                case (IPPROTO_TCP, TCP_KEEPIDLE):
                    if (value is < 1 or > 32767) return Outcome.Error(EINVAL);
                    options.KeepIdle = (int)value;
                    if (c is not null) c.KeepAliveIdle = TimeSpan.FromSeconds(value);
                    break;
                case (IPPROTO_TCP, TCP_KEEPINTVL):
                    if (value is < 1 or > 32767) return Outcome.Error(EINVAL);
                    options.KeepInterval = (int)value;
                    if (c is not null) c.KeepAliveInterval = TimeSpan.FromSeconds(value);
                    break;
                case (IPPROTO_TCP, TCP_KEEPCNT):
                    if (value is < 1 or > 127) return Outcome.Error(EINVAL);
                    options.KeepCount = (int)value;
                    if (c is not null) c.KeepAliveCount = (int)value;
                    break;
                case (IPPROTO_TCP, TCP_LINGER2):
                    if (value < 0) throw Fail(line, "TCP_LINGER2 below 0 (reset orphaned FIN-WAIT-2 at once) is not supported by the engine");
                    options.Linger2 = (int)Math.Min(value, 120); // Linux caps it at TCP_FIN_TIMEOUT_MAX
                    if (c is not null) c.FinWait2Timeout = value == 0 ? _config.FinWait2Timeout : TimeSpan.FromSeconds(options.Linger2.Value);
                    break;
            }
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> GetSockOpt(int line, SyscallSpec call)
    {
        Arguments(line, call, 5);
        int fd = Fd(line, call);
        (long level, long name) = OptionName(line, call);
        ScriptExpression expected = call.Arguments[3];
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            SocketOptions options = socket.Options;
            TcpConnection? c = socket.Connection;
            if (level == SOL_SOCKET && name == SO_LINGER)
            {
                (bool on, int seconds) = options.Linger;
                if (expected is not EllipsisExpression && LingerValue(line, expected) != (on, seconds))
                {
                    throw Fail(line, $"getsockopt(SO_LINGER) gave {{onoff={(on ? 1 : 0)}, linger={seconds}}}, the script expects {expected}");
                }
                return Outcome.Ok(0);
            }
            long actual = (level, name) switch
            {
                (SOL_SOCKET, SO_ERROR) => TakeError(socket),
                (SOL_SOCKET, SO_REUSEADDR) => options.ReuseAddress ? 1 : 0,
                (SOL_SOCKET, SO_KEEPALIVE) => (c?.KeepAlive ?? options.KeepAlive ?? _config.KeepAlive) ? 1 : 0,
                (SOL_SOCKET, SO_SNDBUF) => 2L * BuffersInEffect(socket).SendBufferSize,
                (SOL_SOCKET, SO_RCVBUF) => 2L * BuffersInEffect(socket).ReceiveBufferSize,
                (IPPROTO_TCP, TCP_NODELAY) => (c?.NoDelay ?? options.NoDelay ?? _config.NoDelay) ? 1 : 0,
                (IPPROTO_TCP, TCP_KEEPIDLE) => (long)(c?.KeepAliveIdle.TotalSeconds ?? options.KeepIdle ?? _config.KeepAliveIdle.TotalSeconds),
                (IPPROTO_TCP, TCP_KEEPINTVL) => (long)(c?.KeepAliveInterval.TotalSeconds ?? options.KeepInterval ?? _config.KeepAliveInterval.TotalSeconds),
                (IPPROTO_TCP, TCP_KEEPCNT) => c?.KeepAliveCount ?? options.KeepCount ?? _config.KeepAliveCount,
                _ => (long)(c?.FinWait2Timeout.TotalSeconds ?? (options.Linger2 is int l and > 0 ? l : _config.FinWait2Timeout.TotalSeconds)),
            };
            if (expected is not EllipsisExpression && Int(line, expected, "the expected option value") != actual)
            {
                string shown = name == SO_ERROR && level == SOL_SOCKET && actual != 0 ? $"{actual} ({ErrnoName((int)actual)})" : actual.ToString(CultureInfo.InvariantCulture);
                throw Fail(line, $"getsockopt({call.Arguments[2]}) gave [{shown}], the script expects {expected}");
            }
            return Outcome.Ok(0);
        };
    }

    // SO_SNDBUF/SO_RCVBUF. Linux doubles the value set ("to allow space for bookkeeping overhead", socket(7)),
    // getsockopt returns the doubled value, and the data the buffer holds — the receive window it offers — is about
    // the value set. The runner does the same, exactly: the engine's buffer holds N bytes of data and getsockopt
    // reports 2N. Linux's floors apply (SOCK_MIN_RCVBUF 2304 and SOCK_MIN_SNDBUF 4608 on x86-64, as doubled values);
    // its ceiling (net.core.rmem_max/wmem_max) does not, there being no sysctl here.
    private const int MaxBufferOption = 64 * 1024 * 1024;
    private const int MinReportedReceiveBuffer = 2304;
    private const int MinReportedSendBuffer = 4608;

    /// <summary>The bytes of data the engine's buffer holds after setsockopt(SO_SNDBUF or SO_RCVBUF, <paramref name="value"/>).</summary>
    private static int BufferBytes(long name, long value) =>
        (int)(Math.Max(2 * value, name == SO_SNDBUF ? MinReportedSendBuffer : MinReportedReceiveBuffer) / 2);

    /// <summary>
    /// The buffer sizes getsockopt reports: the connection's own (fixed when it was made), else those a listener gives
    /// the connections it makes, else those the next connect() or listen() will use.
    /// </summary>
    private TcpConfig BuffersInEffect(ScriptSocket socket) =>
        socket.Connection is not null && socket.ConnectionConfig is { } made ? made
        : socket.Listener is { } listener ? listener.ConnectionConfig
        : socket.Options.ConnectionConfig(_config);

    /// <summary>SO_ERROR: the pending error, cleared by reading it (sock_error).</summary>
    private long TakeError(ScriptSocket socket)
    {
        if (PendingError(socket) is not int error) return 0;
        socket.ErrorReported = true;
        return error;
    }

    private static (long Level, long Name) OptionName(int line, SyscallSpec call)
    {
        long level = Int(line, call.Arguments[1], "the level");
        long name = Int(line, call.Arguments[2], "the option name");
        bool known = (level, name) switch
        {
            (SOL_SOCKET, SO_REUSEADDR or SO_KEEPALIVE or SO_LINGER or SO_SNDBUF or SO_RCVBUF) => true,
            (SOL_SOCKET, SO_ERROR) => call.Name == "getsockopt",
            (IPPROTO_TCP, TCP_NODELAY or TCP_KEEPIDLE or TCP_KEEPINTVL or TCP_KEEPCNT or TCP_LINGER2) => true,
            _ => false,
        };
        if (!known)
        {
            throw Fail(line, $"{call.Name}({call.Arguments[1]}, {call.Arguments[2]}) is not supported (SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER, SO_SNDBUF, SO_RCVBUF, SO_ERROR, "
                + "TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_LINGER2)");
        }
        return (level, name);
    }

    private static (bool On, int Seconds) LingerValue(int line, ScriptExpression expression)
    {
        if (expression is ListExpression { Braces: true } fields)
        {
            long? on = null, seconds = null;
            foreach (ScriptExpression field in fields.Items)
            {
                if (field is AssignExpression { Name: "onoff" or "l_onoff" } o) on = Int(line, o.Value, "onoff");
                else if (field is AssignExpression { Name: "linger" or "l_linger" } l) seconds = Int(line, l.Value, "linger");
                else throw Fail(line, $"unexpected `{field}` in a linger struct: write {{onoff=1, linger=0}}");
            }
            if (on is long onValue && seconds is long secondsValue) return (onValue != 0, (int)secondsValue);
        }
        throw Fail(line, $"SO_LINGER takes {{onoff=N, linger=N}}, not `{expression}`");
    }

    // ───────────── errors and arguments ─────────────

    /// <summary>
    /// The connection's error as an errno, if it has one that was not reported yet. A RST in CLOSE-WAIT is EPIPE, as
    /// Linux's tcp_reset sets it (the peer had already closed; RFC 9293 just says "reset").
    /// </summary>
    private int? PendingError(ScriptSocket socket)
    {
        if (socket.ErrorReported || socket.Connection is not { } c) return null;
        return c.Error == TcpError.ConnectionReset && _resetInCloseWait.Contains(c) ? EPIPE : PendingErrno(c.Error);
    }

    private static int? PendingErrno(TcpError error) => error switch
    {
        TcpError.ConnectionRefused => ECONNREFUSED,
        TcpError.ConnectionReset => ECONNRESET,
        TcpError.TimedOut => ETIMEDOUT,
        _ => null,
    };

    private static int Errno(TcpError error) => error switch
    {
        TcpError.ConnectionRefused => ECONNREFUSED,
        TcpError.ConnectionReset => ECONNRESET,
        TcpError.TimedOut => ETIMEDOUT,
        TcpError.ConnectionAborted => ECONNABORTED,
        TcpError.Shutdown => EPIPE,
        TcpError.NotConnected => ENOTCONN,
        TcpError.AddressInUse => EADDRINUSE,
        _ => EINVAL,
    };

    private static void Arguments(int line, SyscallSpec call, int count)
    {
        if (call.Arguments.Count != count) throw Fail(line, $"{call.Name} takes {count} arguments, not {call.Arguments.Count}");
    }

    private static int Fd(int line, SyscallSpec call) =>
        call.Arguments[0] is IntegerExpression { Value: >= 0 and < int.MaxValue } fd
            ? (int)fd.Value
            : throw Fail(line, $"the first argument of {call.Name} is a file descriptor number, not `{call.Arguments[0]}`");

    /// <summary>
    /// The port of a <c>{sa_family=AF_INET, sin_port=htons(N), sin_addr=inet_addr("a.b.c.d")}</c> argument (null for
    /// <c>...</c>). The address must be the one the runner plays (<paramref name="address"/>, or INADDR_ANY when
    /// <paramref name="anyAllowed"/>): a script cannot reach hosts the runner does not simulate.
    /// </summary>
    private static ushort? SockaddrPort(int line, ScriptExpression expression, Ipv4Address address, bool anyAllowed, string option)
    {
        if (expression is EllipsisExpression) return null;
        if (expression is not ListExpression { Braces: true } fields)
        {
            throw Fail(line, $"an address argument is ... or {{sa_family=AF_INET, sin_port=htons(N), sin_addr=inet_addr(\"a.b.c.d\")}}, not `{expression}`");
        }
        ushort? port = null;
        foreach (ScriptExpression field in fields.Items)
        {
            switch (field)
            {
                case AssignExpression { Name: "sa_family" } family when family.Value is WordExpression { Name: "AF_INET" }:
                    break;
                case AssignExpression { Name: "sin_port" } p:
                    long value = Int(line, p.Value, "sin_port");
                    if (value is < 1 or > ushort.MaxValue) throw Fail(line, $"sin_port {value} is out of range (port 0 is not supported)");
                    port = (ushort)value;
                    break;
                case AssignExpression { Name: "sin_addr", Value: CallExpression { Name: "inet_addr", Arguments: [StringExpression text] } }:
                    if (!Ipv4Address.TryParse(text.Value, out Ipv4Address given)) throw Fail(line, $"`{text.Value}` is not an IPv4 address");
                    if (given != address && !(anyAllowed && given == Ipv4Address.Any))
                    {
                        throw Fail(line, $"address {given} is not the one the runner plays here ({address}; set it with --{option})");
                    }
                    break;
                default:
                    throw Fail(line, $"`{field}` is not supported in an address: write sa_family=AF_INET, sin_port=htons(N), sin_addr=inet_addr(\"a.b.c.d\")");
            }
        }
        return port;
    }

    /// <summary>A number: a literal, a symbol, a|b, [n], htons(n).</summary>
    private static long Int(int line, ScriptExpression expression, string what) => expression switch
    {
        IntegerExpression i => i.Value,
        WordExpression w when TrySymbol(w.Name, out long value) => value,
        WordExpression w => throw Fail(line, $"unknown symbol `{w.Name}` for {what}"),
        OrExpression or => Int(line, or.Left, what) | Int(line, or.Right, what),
        ListExpression { Braces: false, Items.Count: 1 } list => Int(line, list.Items[0], what),
        CallExpression { Name: "htons" or "htonl" or "ntohs" or "ntohl", Arguments.Count: 1 } call => Int(line, call.Arguments[0], what),
        _ => throw Fail(line, $"{what} must be a number, a symbol or [n], not `{expression}`"),
    };
}
