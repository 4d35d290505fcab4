using UserTcp.Sockets;
using static UserTcp.Script.LinuxSymbols;
using static UserTcp.Script.SocketErrno;

namespace UserTcp.Script;

/// <summary>
/// poll, epoll_create, epoll_ctl and epoll_wait, onto the API's readiness: <see cref="UserTcpConnection.Poll"/> and
/// <see cref="UserTcpListener.Poll"/> for poll(), an <see cref="UserTcpEventPoll"/> per epoll descriptor. A call with a
/// timeout waits as a blocking call does, and returns 0 when its time is up.
/// </summary>
internal sealed partial class ScriptExecution
{
    private const int POLLNVAL = 0x20, POLLRDNORM = 0x40, POLLWRNORM = 0x100;
    /// <summary>The events an epoll_ctl or poll mask may carry that UserTcp reports (EPOLLPRI and the band bits never happen for TCP here).</summary>
    private const long PollEventBits = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | POLLRDNORM | 0x80 | POLLWRNORM | 0x200 | 0x2000;

    // The epoll descriptors, and for each registration the epoll_data its epoll_ctl gave (what epoll_wait hands back).
    private readonly Dictionary<int, (UserTcpEventPoll Poll, Dictionary<object, (long Data, long Events)> Registered)> _epolls = [];
    /// <summary>When a waiting poll or epoll_wait times out (µs), so a call that blocks the script can be woken then.</summary>
    private long? _callWakeAt;

    private bool FdInUse(int fd) => _sockets.ContainsKey(fd) || _epolls.ContainsKey(fd);

    /// <summary>Linux's poll mask for what the API reports: POLLIN comes with POLLRDNORM, POLLOUT with POLLWRNORM.</summary>
    private static long LinuxMask(UserTcpPollEvents events)
    {
        long mask = (int)events;
        if ((events & UserTcpPollEvents.In) != 0) mask |= POLLRDNORM;
        if ((events & UserTcpPollEvents.Out) != 0) mask |= POLLWRNORM;
        return mask;
    }

    /// <summary>The readiness of descriptor <paramref name="fd"/>; null when it is no socket (POLLNVAL).</summary>
    private UserTcpPollEvents? Readiness(int fd) => _sockets.TryGetValue(fd, out ScriptSocket? socket)
        ? socket.Connection?.Poll() ?? socket.Listener?.Poll() ?? UserTcpPollEvents.Out | UserTcpPollEvents.Hangup // a socket never connected: Linux's tcp_poll of TCP_CLOSE
        : null;

    private Func<Outcome?> PollCall(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        if (call.Arguments[0] is not ListExpression { Braces: false } array || array.Items.Any(i => i is not ListExpression { Struct: PollFdStruct }))
        {
            throw Fail(line, "poll's first argument is [{fd=N, events=...[, revents=...]}, ...]");
        }
        var fds = array.Items.Select(i => (PollFdStruct)((ListExpression)i).Struct!).ToList();
        long nfds = Int(line, call.Arguments[1], "nfds");
        if (nfds != fds.Count) throw Fail(line, $"poll's nfds is {nfds}, but the array has {fds.Count} entries");
        long timeout = Int(line, call.Arguments[2], "the timeout");
        long? started = null;
        return () =>
        {
            started ??= _now;
            var revents = new long[fds.Count];
            int ready = 0;
            for (int i = 0; i < fds.Count; i++)
            {
                int fd = (int)Int(line, fds[i].Fd, "fd");
                long events = Int(line, fds[i].Events, "events");
                revents[i] = Readiness(fd) is UserTcpPollEvents now ? LinuxMask(now) & (events | 0x8 | 0x10) : POLLNVAL;
                if (revents[i] != 0) ready++;
            }
            if (ready == 0 && !TimedOut(started.Value, timeout)) return null;
            _callWakeAt = null;
            for (int i = 0; i < fds.Count; i++)
            {
                // A pollfd written without revents= expects none (packetdrill's opt_revents is 0, and pollfds_check compares it).
                ScriptExpression expected = fds[i].ReturnedEvents ?? new IntegerExpression(0, "0");
                if (Int(line, expected, "revents") != revents[i])
                {
                    throw Fail(line, $"poll gave revents=0x{revents[i]:x} for fd {Int(line, fds[i].Fd, "fd")}, the script expects {expected}");
                }
            }
            return Outcome.Ok(ready);
        };
    }

    /// <summary>Whether a call with <paramref name="timeoutMs"/> (negative: none) begun at <paramref name="started"/> is due to return 0; arms the wake time while it is not.</summary>
    private bool TimedOut(long started, long timeoutMs)
    {
        if (timeoutMs == 0) return true;
        if (timeoutMs < 0) return false;
        long end = started + timeoutMs * 1000;
        if (_now >= end)
        {
            _callWakeAt = null;
            return true;
        }
        _callWakeAt = end;
        return false;
    }

    private Func<Outcome?> EpollCreate(int line, SyscallSpec call)
    {
        Arguments(line, call, 1);
        long size = Int(line, call.Arguments[0], "the size");
        if (call.Result is not IntegerExpression { Value: >= 0 and < int.MaxValue } fd)
        {
            throw Fail(line, "epoll_create(...) = N names the new file descriptor: write a number");
        }
        return () =>
        {
            if (size <= 0) return Outcome.Error(EINVAL);
            if (FdInUse((int)fd.Value)) throw Fail(line, $"fd {fd.Value} is already open");
            _epolls[(int)fd.Value] = (new UserTcpEventPoll(_stack), new Dictionary<object, (long, long)>(ReferenceEqualityComparer.Instance));
            return Outcome.Ok(fd.Value);
        };
    }

    private Func<Outcome?> EpollCtl(int line, SyscallSpec call)
    {
        Arguments(line, call, 4);
        int epfd = Fd(line, call);
        long op = Int(line, call.Arguments[1], "the operation");
        long fd = Int(line, call.Arguments[2], "the fd");
        EpollEventStruct? ev = call.Arguments[3] is ListExpression { Struct: EpollEventStruct e } ? e : null;
        if (ev is null && op != EPOLL_CTL_DEL) throw Fail(line, "epoll_ctl's event is {events=..., fd=N} (or ptr=, u32=, u64=)");
        long events = ev is null ? 0 : Int(line, ev.Events, "events");
        if ((events & ~(PollEventBits | EPOLLET | EPOLLONESHOT)) != 0) throw Fail(line, "epoll_ctl events other than EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET and EPOLLONESHOT are not supported");
        long data = ev is null ? 0 : Int(line, ev.Data, "epoll_data");
        // EPOLLRDNORM and EPOLLWRNORM come with EPOLLIN and EPOLLOUT (tcp_poll sets both), so asking for either asks for the pair.
        var interest = (UserTcpPollEvents)(events & (0x1 | 0x4 | 0x8 | 0x10 | 0x2000))
            | ((events & POLLRDNORM) != 0 ? UserTcpPollEvents.In : 0) | ((events & POLLWRNORM) != 0 ? UserTcpPollEvents.Out : 0);
        UserTcpPollMode mode = ((events & EPOLLET) != 0 ? UserTcpPollMode.EdgeTriggered : 0) | ((events & EPOLLONESHOT) != 0 ? UserTcpPollMode.OneShot : 0);
        return () =>
        {
            if (!_epolls.TryGetValue(epfd, out var epoll) || !_sockets.TryGetValue((int)fd, out ScriptSocket? socket)) return Outcome.Error(EBADF);
            object? target = (object?)socket.Connection ?? socket.Listener;
            if (target is null) throw Fail(line, "epoll_ctl on a socket that neither listens nor has a connection is not supported");
            try
            {
                switch (op)
                {
                    case EPOLL_CTL_ADD or EPOLL_CTL_MOD:
                        Register(epoll.Poll, target, add: op == EPOLL_CTL_ADD, interest, mode);
                        break;
                    case EPOLL_CTL_DEL:
                        bool removed = target is UserTcpConnection connection ? epoll.Poll.Remove(connection) : epoll.Poll.Remove((UserTcpListener)target);
                        if (!removed) return Outcome.Error(ENOENT);
                        epoll.Registered.Remove(target);
                        return Outcome.Ok(0);
                    default:
                        return Outcome.Error(EINVAL);
                }
            }
            catch (InvalidOperationException)
            {
                return Outcome.Error(EEXIST);
            }
            catch (KeyNotFoundException)
            {
                return Outcome.Error(ENOENT);
            }
            epoll.Registered[target] = (data, events);
            return Outcome.Ok(0);
        };
    }

    /// <summary>EPOLL_CTL_ADD or EPOLL_CTL_MOD of a connection or a listener.</summary>
    private static void Register(UserTcpEventPoll poll, object target, bool add, UserTcpPollEvents interest, UserTcpPollMode mode)
    {
        switch (target)
        {
            case UserTcpConnection connection when add:
                poll.Add(connection, interest, mode);
                break;
            case UserTcpConnection connection:
                poll.Modify(connection, interest, mode);
                break;
            case UserTcpListener listener when add:
                poll.Add(listener, interest, mode);
                break;
            default:
                poll.Modify((UserTcpListener)target, interest, mode);
                break;
        }
    }

    private Func<Outcome?> EpollWait(int line, SyscallSpec call)
    {
        Arguments(line, call, 4);
        int epfd = Fd(line, call);
        List<EpollEventStruct> expected = call.Arguments[1] switch
        {
            ListExpression { Struct: EpollEventStruct one } => [one],
            ListExpression { Braces: false } many when many.Items.All(i => i is ListExpression { Struct: EpollEventStruct }) =>
                many.Items.Select(i => (EpollEventStruct)((ListExpression)i).Struct!).ToList(),
            EllipsisExpression => [],
            _ => throw Fail(line, "epoll_wait's events are {events=..., fd=N}, a list of them, or ..."),
        };
        long max = Int(line, call.Arguments[2], "maxevents");
        long timeout = Int(line, call.Arguments[3], "the timeout");
        long? started = null;
        return () =>
        {
            if (!_epolls.TryGetValue(epfd, out var epoll)) return Outcome.Error(EBADF);
            if (max <= 0) return Outcome.Error(EINVAL);
            started ??= _now;
            var results = new UserTcpPollResult[Math.Min(max, 1024)];
            int n = epoll.Poll.Wait(results);
            if (n == 0 && !TimedOut(started.Value, timeout)) return null;
            _callWakeAt = null;
            // An event the call did not return reads as zeros, as packetdrill compares the script's with a zeroed struct.
            for (int i = 0; i < expected.Count; i++)
            {
                (long data, long asked) = i < n ? epoll.Registered.GetValueOrDefault(results[i].Target) : (0, 0);
                long events = i < n ? LinuxMask(results[i].Events) & (asked | 0x8 | 0x10) : 0; // ep_item_poll: the mask, within what was asked
                long wantedEvents = Int(line, expected[i].Events, "events");
                long wantedData = Int(line, expected[i].Data, "epoll_data");
                if (events != wantedEvents || data != wantedData)
                {
                    throw Fail(line, $"epoll_wait gave {{events=0x{events:x}, data={data}}}, the script expects {{events={expected[i].Events}, data={expected[i].Data}}}");
                }
            }
            return Outcome.Ok(n);
        };
    }

    /// <summary>close() of an epoll descriptor, or of a socket some epoll watches (the kernel drops it from every interest list).</summary>
    private bool CloseEpoll(int fd)
    {
        if (!_epolls.Remove(fd, out var epoll)) return false;
        epoll.Poll.Dispose();
        return true;
    }

    private void ForgetInEpolls(ScriptSocket socket)
    {
        foreach ((UserTcpEventPoll poll, Dictionary<object, (long, long)> data) in _epolls.Values)
        {
            if (socket.Connection is { } connection && poll.Remove(connection)) data.Remove(connection);
            if (socket.Listener is { } listener && poll.Remove(listener)) data.Remove(listener);
        }
    }
}
