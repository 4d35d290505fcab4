using System.Globalization;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Script.LinuxSymbols;
using static UserTcp.Script.SocketErrno;

namespace UserTcp.Script;

/// <summary>
/// The system calls, each mapped onto the UserTcp.Sockets call a .NET program would make: a blocking call awaits
/// the API's task (the script's clock runs until it completes), an O_NONBLOCK one uses the non-blocking call, and
/// errno is the <see cref="SocketError"/> the API reported, through <see cref="SocketErrno"/>. Only what a file
/// descriptor is (the table, blocking mode, bind's ports) lives here.
/// </summary>
internal sealed partial class ScriptExecution
{
    /// <summary>net.core.somaxconn's default since Linux 5.4: the most a listen() backlog can be.</summary>
    private const int SomaxConn = 4096;

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
        // run_system_call.c's to_live_fd: a call on a descriptor the script does not hold open (never made, or closed)
        // fails the script; it never reaches the kernel, so EBADF cannot be expected.
        if (e.Call.Name is not ("socket" or "poll" or "epoll_create" or "epoll_create1")
            && e.Call.Arguments is [IntegerExpression { Value: var fd }, ..] && !_sockets.ContainsKey((int)fd) && !_epolls.ContainsKey((int)fd))
        {
            throw Fail(e.Line, $"unable to find fd with script fd {fd} (packetdrill runs calls only on descriptors the script holds open)");
        }
        Outcome? outcome = attempt();
        Step(_now); // let the stack take in what the call did
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
            TimeSpan? engineNext = _stack.NextDeadline;
            // A poll or epoll_wait with a timeout wakes then too.
            TimeSpan? wake = _callWakeAt is long at2 && (engineNext is null || Time(at2) < engineNext) ? Time(at2) : engineNext;
            if (wake is not TimeSpan next)
            {
                throw Fail(e.Line, $"`{e.Call.Call}` blocks and nothing can wake it: UserTcp has no timer armed, and no later line runs while a call "
                    + $"written without `...` blocks (write `{Seconds(at)}...<return time> {e.Call.Name}(...)` to let the next lines run meanwhile)");
            }
            if (Micros(next) - started > MaxBlockMicros) throw Fail(e.Line, $"`{e.Call.Call}` is still blocked after {MaxBlockMicros / 3_600_000_000} hours of script time");
            Step(Math.Max(Micros(next), _now));
            outcome = attempt();
        }
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

    /// <summary>Checks a call's arguments and returns the attempt that runs it (asked again while it blocks).</summary>
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
            "sendto" => Write(line, call, 6),
            "read" => Read(line, call, 3),
            "recv" => Read(line, call, 4),
            "recvfrom" => Read(line, call, 6),
            "ioctl" => Ioctl(line, call),
            "sendmsg" => SendMsg(line, call),
            "recvmsg" => RecvMsg(line, call),
            "shutdown" => Shutdown(line, call),
            "close" => Close(line, call),
            "fcntl" => Fcntl(line, call),
            "setsockopt" => SetSockOpt(line, call),
            "getsockopt" => GetSockOpt(line, call),
            "poll" => PollCall(line, call),
            "epoll_create" => EpollCreate(line, call),
            "epoll_ctl" => EpollCtl(line, call),
            "epoll_wait" => EpollWait(line, call),
            _ => throw Fail(line, $"system call `{call.Name}` is not supported (supported: socket, bind, listen, accept, connect, write, send, sendto, sendmsg, read, recv, "
                + "recvfrom, recvmsg, ioctl, shutdown, close, fcntl, setsockopt, getsockopt, poll, epoll_create, epoll_ctl, epoll_wait)"),
        };
    }

    /// <summary>The outcome of an API call that failed with <paramref name="error"/>.</summary>
    private Outcome Failed(SocketError error) =>
        TryOf(error, out int errno) ? Outcome.Error(errno) : throw Fail(_line, $"UserTcp reported {error}, which no system call of a script returns");

    // The API completes a call's task inside the pass (or timer) that ends it, so after each step of the stack a
    // finished call's task is already complete here; nothing is awaited, and no continuation runs anywhere.

    /// <summary>The outcome of a blocking call's task: <paramref name="value"/> when it succeeded, the errno of its SocketException when not; null while it runs.</summary>
    private Outcome? Finished(Task task, Func<long> value)
    {
        if (!task.IsCompleted) return null;
        if (task.IsCompletedSuccessfully) return Outcome.Ok(value());
        return Failed(task.Exception?.InnerException ?? new OperationCanceledException());
    }

    /// <summary>The same for a read's ValueTask: read once, when complete.</summary>
    private Outcome? Finished(ValueTask<int> read)
    {
        if (!read.IsCompleted) return null;
        try
        {
            return Outcome.Ok(read.GetAwaiter().GetResult());
        }
        catch (Exception error) when (error is not ScriptFailureException)
        {
            return Failed(error);
        }
    }

    /// <summary>The same for a write's ValueTask, which succeeds with the whole count.</summary>
    private Outcome? Finished(ValueTask write, long count)
    {
        if (!write.IsCompleted) return null;
        try
        {
            write.GetAwaiter().GetResult();
            return Outcome.Ok(count);
        }
        catch (Exception error) when (error is not ScriptFailureException)
        {
            return Failed(error);
        }
    }

    private Outcome Failed(Exception error) => error is SocketException socket
        ? Failed(socket.SocketErrorCode)
        : throw Fail(_line, $"UserTcp failed the call: {error.GetType().Name}: {error.Message}");

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
        if (FdInUse((int)fd.Value)) throw Fail(line, $"fd {fd.Value} is already open");
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
        NoAddress(line, call, familyAllowed: false);
        ushort port = _bindPort;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is not null || socket.Connection is not null || socket.BoundPort is not null) return Outcome.Error(EINVAL);
            // bind()'s own rule: a port bound by another descriptor is taken, unless both set SO_REUSEADDR and it is not listening.
            if (_sockets.Values.Any(other => other != socket && (other.BoundPort == port || other.Listener?.LocalEndpoint.Port == port)
                && !(other.ReuseAddress && socket.ReuseAddress && other.Listener is null)))
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
        // Linux's __sys_listen: a backlog above net.core.somaxconn (4096), or negative (compared unsigned), is somaxconn.
        long asked = Int(line, call.Arguments[1], "the backlog");
        int backlog = asked is < 0 or > SomaxConn ? SomaxConn : (int)asked;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Connection is not null) return Outcome.Error(EINVAL);
            if (socket.Listener is not null) return Outcome.Ok(0);
            ushort port = socket.BoundPort ?? _bindPort;
            try
            {
                socket.Listener = _stack.Listen(port, backlog, ForNewConnections(socket.Options));
            }
            catch (SocketException exception)
            {
                return Failed(exception.SocketErrorCode);
            }
            socket.BoundPort = port;
            _localPort = port;
            _remotePort = _passivePeerPort;
            _listenerUnderTest = _learnScriptLocalIsn = true;
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Accept(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        int? wanted = call.Result is IntegerExpression { Value: >= 0 and < int.MaxValue } r ? (int)r.Value : null;
        ValueTask<UserTcpConnection>? waiting = null;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (socket.Listener is not { } listener) return Outcome.Error(EINVAL);
            UserTcpConnection? connection;
            if (socket.NonBlocking && waiting is null)
            {
                if (!listener.TryAccept(out connection)) return Outcome.Error(EAGAIN);
            }
            else
            {
                if (waiting is not ValueTask<UserTcpConnection> accept)
                {
                    accept = listener.AcceptAsync();
                    waiting = accept;
                }
                if (!accept.IsCompleted) return null;
                try
                {
                    connection = accept.GetAwaiter().GetResult(); // read once, when complete
                }
                catch (Exception error) when (error is not ScriptFailureException)
                {
                    return Failed(error);
                }
            }
            // packetdrill's script fds are names (end_syscall's CHECK_FD takes any descriptor): an accept() = N whose N
            // still names an open socket renames N, and that socket stays open, out of the script's reach.
            int newFd = wanted is int w && !_epolls.ContainsKey(w) ? w : Enumerable.Range(3, int.MaxValue - 3).First(n => !FdInUse(n));
            _sockets[newFd] = new ScriptSocket(newFd, nonBlocking: false)
            {
                Connection = connection,
                BoundPort = socket.BoundPort,
                Options = listener.Options,
                ReuseAddress = socket.ReuseAddress,
            };
            _made.Add(connection);
            _localPort = connection.LocalEndpoint.Port;
            _remotePort = connection.RemoteEndpoint.Port;
            return Outcome.Ok(newFd);
        };
    }

    private Func<Outcome?> Connect(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        NoAddress(line, call, familyAllowed: true);
        ushort port = _connectPort;
        Task? waiting = null;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (waiting is not null) return Finished(waiting, () => 0);
            if (socket.Listener is not null) return Outcome.Error(EISCONN);
            if (socket.Connection is { } existing)
            {
                if (existing.FastOpenAwaitsData) return Failed(SocketError.IsConnected); // __inet_stream_connect with DEFER_CONNECT
                if (existing.State is TcpState.SynSent or TcpState.SynReceived)
                {
                    if (socket.NonBlocking) return Failed(SocketError.AlreadyInProgress);
                    return Wait(existing);
                }
                if (existing.State != TcpState.Closed)
                {
                    // __inet_stream_connect: SS_CONNECTING with the handshake done becomes SS_CONNECTED and returns 0.
                    if (!socket.Connecting) return Failed(SocketError.IsConnected);
                    socket.Connecting = false;
                    return Outcome.Ok(0);
                }
                socket.Connecting = false;
                SocketError pending = existing.TakeError();
                if (pending != SocketError.Success) return Failed(pending);
                socket.Connection = null; // closed and reported: the descriptor may connect again
            }
            UserTcpConnection connection;
            try
            {
                connection = _stack.Connect(new IpEndpoint(_remoteIp, port), ForNewConnections(socket.Options) with { LocalPort = socket.BoundPort });
            }
            catch (SocketException exception)
            {
                return Failed(exception.SocketErrorCode);
            }
            socket.Connection = connection;
            _made.Add(connection);
            _localPort = connection.LocalEndpoint.Port;
            _remotePort = port;
            _learnScriptLocalIsn = true;
            _listenerUnderTest = false;
            // TCP_FASTOPEN_CONNECT with a cookie cached: connect() returns 0 at once; the first write sends the SYN.
            if (connection.FastOpenAwaitsData) return Outcome.Ok(0);
            socket.Connecting = socket.NonBlocking;
            if (socket.NonBlocking) return Failed(SocketError.InProgress);
            return Wait(connection);
        };

        Outcome? Wait(UserTcpConnection connection)
        {
            waiting = connection.WaitConnectedAsync();
            return Finished(waiting, () => 0);
        }
    }

    /// <summary>
    /// The options a new connection or listener gets: the descriptor's, on the engine configuration the script's
    /// set-up has made by now (when that differs from the stack's, mid-script sysctls apply to new sockets only).
    /// </summary>
    private UserTcpConnectionOptions ForNewConnections(UserTcpConnectionOptions options) => _config == _stackConfig ? options : options with { Tcp = _config };

    // ───────────── write, read ─────────────

    /// <summary>write, send and sendto (whose address a connected TCP socket ignores, as Linux's tcp_sendmsg does).</summary>
    private Func<Outcome?> Write(int line, SyscallSpec call, int arguments)
    {
        Arguments(line, call, arguments);
        int fd = Fd(line, call);
        long count = Int(line, call.Arguments[2], "the byte count");
        if (count is < 0 or > 64 * 1024 * 1024) throw Fail(line, $"write of {count} bytes is not supported (0 to 64 MiB)");
        long flags = arguments > 3 ? Int(line, call.Arguments[3], "the flags") : 0;
        if ((flags & ~(MSG_EOR | MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_FASTOPEN)) != 0) throw Fail(line, $"{call.Name} flags other than MSG_EOR, MSG_MORE, MSG_DONTWAIT, MSG_NOSIGNAL and MSG_FASTOPEN are not supported");
        bool fastOpen = (flags & MSG_FASTOPEN) != 0;
        bool unspecified = arguments == 6 && IsUnspecified(call.Arguments[4]);
        UserTcpSendFlags sendFlags = ((flags & MSG_EOR) != 0 ? UserTcpSendFlags.EndOfRecord : 0) | ((flags & MSG_MORE) != 0 ? UserTcpSendFlags.More : 0);
        bool dontWait = (flags & MSG_DONTWAIT) != 0;
        // A NULL buffer faults when the kernel copies from it: EFAULT, and nothing is queued.
        bool faults = IsNull(call.Arguments[1]) && count > 0;
        // Like packetdrill, the data is zeros unless the script gives a string.
        byte[] data = new byte[count];
        if (call.Arguments[1] is StringExpression text)
        {
            System.Text.Encoding.ASCII.GetBytes(text.Value.AsSpan(0, (int)Math.Min(text.Value.Length, count)), data);
            _wroteText |= data.AsSpan().IndexOfAnyExcept((byte)0) >= 0;
        }
        ValueTask? waiting = null;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (waiting is ValueTask pending) return Finished(pending, count);
            bool opened = false;
            if (fastOpen && FastOpenBeforeWrite(socket, unspecified, out opened) is Outcome refused) return refused;
            if (socket.Connection is not { } connection) return Outcome.Error(EPIPE);
            if (faults) return Outcome.Error(EFAULT);
            if (socket.NonBlocking || dontWait || count == 0)
            {
                int sent = connection.Send(data, sendFlags, out SocketError error);
                // tcp_sendmsg_fastopen: a SYN that asks for a cookie carries nothing, and the call says EINPROGRESS.
                if (opened && error == SocketError.WouldBlock) error = SocketError.InProgress;
                return error == SocketError.Success ? Outcome.Ok(sent) : Failed(error);
            }
            ValueTask write = connection.WriteAsync(data, sendFlags); // a blocking write returns once all of it is queued
            waiting = write;
            return Finished(write, count);
        };
    }

    /// <summary>read, recv and recvfrom (on a connected socket the address is the peer's; scripts write it as ...).</summary>
    private Func<Outcome?> Read(int line, SyscallSpec call, int arguments)
    {
        Arguments(line, call, arguments);
        int fd = Fd(line, call);
        long count = Int(line, call.Arguments[2], "the byte count");
        if (count is < 0 or > 64 * 1024 * 1024) throw Fail(line, $"read of {count} bytes is not supported (0 to 64 MiB)");
        if (arguments > 3 && Int(line, call.Arguments[3], "the flags") != 0) throw Fail(line, $"{call.Name} flags other than 0 are not supported");
        // A NULL buffer faults when the kernel copies data into it: EFAULT, and the data stays queued.
        bool faults = IsNull(call.Arguments[1]) && count > 0;
        byte[] buffer = new byte[count];
        ValueTask<int>? waiting = null;
        return () =>
        {
            if (!_sockets.TryGetValue(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            if (waiting is ValueTask<int> pending) return Finished(pending);
            if (socket.Connection is not { } connection) return Outcome.Error(ENOTCONN);
            if (count == 0) return Outcome.Ok(0);
            if (faults && connection.Available > 0) return Outcome.Error(EFAULT);
            if (socket.NonBlocking)
            {
                int read = connection.Receive(buffer, out SocketError error);
                return error == SocketError.Success ? Outcome.Ok(read) : Failed(error);
            }
            ValueTask<int> reading = connection.ReadAsync(buffer);
            waiting = reading;
            return Finished(reading);
        };
    }

    private static bool IsNull(ScriptExpression buffer) => buffer is WordExpression { Name: "NULL" } or IntegerExpression { Value: 0 };

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
            if (socket.Connection is not { } connection) return Outcome.Error(ENOTCONN);
            try
            {
                connection.Shutdown(how switch
                {
                    SHUT_RD => SocketShutdown.Receive,
                    SHUT_WR => SocketShutdown.Send,
                    _ => SocketShutdown.Both,
                });
            }
            catch (SocketException exception)
            {
                return Failed(exception.SocketErrorCode);
            }
            return Outcome.Ok(0);
        };
    }

    private Func<Outcome?> Close(int line, SyscallSpec call)
    {
        Arguments(line, call, 1);
        int fd = Fd(line, call);
        Task? lingering = null;
        return () =>
        {
            // SO_LINGER with a timeout: close() waits for the FIN to be acknowledged, or the linger time (sk_stream_wait_close).
            if (lingering is not null) return Finished(lingering, () => 0);
            if (CloseEpoll(fd)) return Outcome.Ok(0);
            if (!_sockets.Remove(fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            ForgetInEpolls(socket);
            if (socket.Listener is { } listener)
            {
                listener.Dispose();
                return Outcome.Ok(0);
            }
            if (socket.Connection is not { } connection) return Outcome.Ok(0);
            ValueTask closing = connection.CloseAsync();
            if (socket.NonBlocking || closing.IsCompleted) return Outcome.Ok(0);
            lingering = closing.AsTask(); // backed by a Task (the lingering wait): complete exactly when the ValueTask is
            return null;
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

    // ───────────── errors and arguments ─────────────

    private static void Arguments(int line, SyscallSpec call, int count)
    {
        if (call.Arguments.Count != count) throw Fail(line, $"{call.Name} takes {count} arguments, not {call.Arguments.Count}");
    }

    private static int Fd(int line, SyscallSpec call) =>
        call.Arguments[0] is IntegerExpression { Value: >= 0 and < int.MaxValue } fd
            ? (int)fd.Value
            : throw Fail(line, $"the first argument of {call.Name} is a file descriptor number, not `{call.Arguments[0]}`");

    /// <summary>
    /// bind() and connect() are given no address in packetdrill (run_system_call.c's syscall_bind and syscall_connect):
    /// the address is <c>...</c> (connect's may be an address family) and its length <c>...</c>; packetdrill fills in the
    /// addresses it plays, as the runner does from --local_ip, --bind_port, --remote_ip and --connect_port.
    /// </summary>
    private static void NoAddress(int line, SyscallSpec call, bool familyAllowed)
    {
        ScriptExpression address = call.Arguments[1];
        if (address is not EllipsisExpression)
        {
            if (!familyAllowed || address is not (IntegerExpression or WordExpression))
            {
                throw Fail(line, $"{call.Name}'s address is ...{(familyAllowed ? " or an address family" : "")} as in packetdrill, which fills in the "
                    + $"address it plays (--{(familyAllowed ? "remote_ip, --connect_port" : "local_ip, --bind_port")}), not `{address}`");
            }
            if (Int(line, address, "the address family") != AF_INET) throw Fail(line, $"connect's address family is AF_INET: UserTcp is IPv4 only, not `{address}`");
        }
        if (call.Arguments[2] is not EllipsisExpression)
        {
            throw Fail(line, $"{call.Name}'s address length is ... as in packetdrill, not `{call.Arguments[2]}`");
        }
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
