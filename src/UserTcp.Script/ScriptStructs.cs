namespace UserTcp.Script;

/// <summary>
/// What a <c>{...}</c> argument is, recognised from its fields as packetdrill's grammar does (parser.y: linger,
/// sockaddr, pollfd, epollev, msghdr, iovec, cmsg, sock_extended_err, scm_timestamping), plus struct tcp_info for
/// getsockopt(TCP_INFO). A brace list that is none of these stays a plain <see cref="ListExpression"/>.
/// </summary>
public abstract record StructValue;

/// <summary><c>{onoff=1, linger=0}</c> (also <c>l_onoff</c>/<c>l_linger</c>): struct linger for SO_LINGER.</summary>
public sealed record LingerStruct(ScriptExpression OnOff, ScriptExpression Linger) : StructValue;

/// <summary><c>{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}</c>.</summary>
public sealed record SockAddrStruct(ScriptExpression Family, ScriptExpression Port, ScriptExpression Address) : StructValue;

/// <summary><c>{fd=4, events=POLLIN[, revents=POLLIN]}</c>: one struct pollfd of poll()'s array.</summary>
public sealed record PollFdStruct(ScriptExpression Fd, ScriptExpression Events, ScriptExpression? ReturnedEvents) : StructValue;

/// <summary>Which member of epoll_data an epoll_event names: fd, ptr, u32 or u64.</summary>
public enum EpollDataKind : byte
{
    Fd,
    Address,
    Number32,
    Number64,
}

/// <summary><c>{events=EPOLLIN|EPOLLET, fd=4}</c> (or <c>ptr=</c>, <c>u32=</c>, <c>u64=</c>): struct epoll_event.</summary>
public sealed record EpollEventStruct(ScriptExpression Events, EpollDataKind DataKind, ScriptExpression Data) : StructValue;

/// <summary><c>{..., 1000}</c>: struct iovec, a buffer of that many bytes.</summary>
public sealed record IoVecStruct(ScriptExpression Base, ScriptExpression Length) : StructValue;

/// <summary><c>{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data=...}</c>: one control message.</summary>
public sealed record CmsgStruct(ScriptExpression Level, ScriptExpression Type, ScriptExpression Data) : StructValue;

/// <summary>
/// <c>{msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0[, msg_control=[...]]}</c>: struct msghdr for
/// sendmsg/recvmsg; <see cref="IovCount"/> is the <c>msg_iovlen</c> written in parentheses.
/// </summary>
public sealed record MsgHdrStruct(ScriptExpression Name, ScriptExpression NameLength, long IovCount, IReadOnlyList<IoVecStruct> Iov, ScriptExpression Flags, IReadOnlyList<ScriptExpression> Control) : StructValue
{
    public bool Equals(MsgHdrStruct? other) => other is not null && Name == other.Name && NameLength == other.NameLength && IovCount == other.IovCount
        && Iov.SequenceEqual(other.Iov) && Flags == other.Flags && Control.SequenceEqual(other.Control);

    public override int GetHashCode() => HashCode.Combine(IovCount, Iov.Count, Control.Count);
}

/// <summary><c>{ee_errno=..., ee_origin=..., ee_type=..., ee_code=..., ee_info=..., ee_data=...}</c>: struct sock_extended_err.</summary>
public sealed record SockExtendedErrStruct(ScriptExpression Errno, ScriptExpression Origin, ScriptExpression Type, ScriptExpression Code, ScriptExpression Info, ScriptExpression Data) : StructValue;

/// <summary><c>{scm_sec=0, scm_nsec=20000000}</c>: a timestamp of struct scm_timestamping.</summary>
public sealed record ScmTimestampingStruct(ScriptExpression Seconds, ScriptExpression Nanoseconds) : StructValue;

/// <summary><c>{tcpi_state=TCP_ESTABLISHED, tcpi_snd_cwnd=10, ...}</c>: the struct tcp_info fields a getsockopt(TCP_INFO) line expects.</summary>
public sealed record TcpInfoStruct(IReadOnlyList<(TcpInfoField Field, ScriptExpression Value)> Fields) : StructValue
{
    public bool Equals(TcpInfoStruct? other) => other is not null && Fields.SequenceEqual(other.Fields);

    public override int GetHashCode() => Fields.Count;
}

/// <summary>Recognises the struct a brace list is by its field names (the parser calls it for every <c>{...}</c>).</summary>
internal static class StructRecognizer
{
    /// <summary>The typed struct, or null for a brace list of another shape; throws for a misspelt tcp_info field.</summary>
    public static StructValue? Recognize(IReadOnlyList<ScriptExpression> items, int line)
    {
        if (items.Count > 0 && items.All(i => i is AssignExpression { Name: var n } && n.StartsWith("tcpi_", StringComparison.Ordinal)))
        {
            var fields = new List<(TcpInfoField, ScriptExpression)>();
            foreach (AssignExpression field in items.Cast<AssignExpression>())
            {
                if (!TcpInfoNames.TryField(field.Name, out TcpInfoField f)) throw new ScriptParseException(line, $"`{field.Name}` is not a field of struct tcp_info");
                if (fields.Any(x => x.Item1 == f)) throw new ScriptParseException(line, $"`{field.Name}` is given twice");
                fields.Add((f, field.Value));
            }
            return new TcpInfoStruct(fields);
        }
        if (items is [EllipsisExpression or StringExpression, var length and not AssignExpression]) return new IoVecStruct(items[0], length);

        Dictionary<string, AssignExpression>? named = Named(items);
        if (named is null) return null;
        ScriptExpression? Get(string name) => named.TryGetValue(name, out AssignExpression? a) ? a.Value : null;
        bool Exactly(params string[] names) => named.Count == names.Length && names.All(named.ContainsKey);

        if (Exactly("onoff", "linger")) return new LingerStruct(Get("onoff")!, Get("linger")!);
        if (Exactly("l_onoff", "l_linger")) return new LingerStruct(Get("l_onoff")!, Get("l_linger")!);
        if (Exactly("sa_family", "sin_port", "sin_addr")) return new SockAddrStruct(Get("sa_family")!, Get("sin_port")!, Get("sin_addr")!);
        if (Exactly("fd", "events") || Exactly("fd", "events", "revents"))
        {
            // pollfd is {fd=, events=}; epoll_event is {events=, fd=}: the order tells them apart, as in packetdrill's grammar.
            return items[0] is AssignExpression { Name: "fd" }
                ? new PollFdStruct(Get("fd")!, Get("events")!, Get("revents"))
                : named.Count == 2 ? new EpollEventStruct(Get("events")!, EpollDataKind.Fd, Get("fd")!) : null;
        }
        foreach ((string member, EpollDataKind kind) in new[] { ("ptr", EpollDataKind.Address), ("u32", EpollDataKind.Number32), ("u64", EpollDataKind.Number64) })
        {
            if (Exactly("events", member)) return new EpollEventStruct(Get("events")!, kind, Get(member)!);
        }
        if (Exactly("cmsg_level", "cmsg_type", "cmsg_data")) return new CmsgStruct(Get("cmsg_level")!, Get("cmsg_type")!, Get("cmsg_data")!);
        if (Exactly("ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data"))
        {
            return new SockExtendedErrStruct(Get("ee_errno")!, Get("ee_origin")!, Get("ee_type")!, Get("ee_code")!, Get("ee_info")!, Get("ee_data")!);
        }
        if (Exactly("scm_sec", "scm_nsec")) return new ScmTimestampingStruct(Get("scm_sec")!, Get("scm_nsec")!);
        if (Exactly("msg_name", "msg_iov", "msg_flags") || Exactly("msg_name", "msg_iov", "msg_flags", "msg_control")) return MsgHdr(named, line);
        return null;
    }

    private static Dictionary<string, AssignExpression>? Named(IReadOnlyList<ScriptExpression> items)
    {
        var named = new Dictionary<string, AssignExpression>(StringComparer.Ordinal);
        foreach (ScriptExpression item in items)
        {
            if (item is not AssignExpression assign || !named.TryAdd(assign.Name, assign)) return null;
        }
        return named;
    }

    private static MsgHdrStruct MsgHdr(Dictionary<string, AssignExpression> named, int line)
    {
        AssignExpression name = named["msg_name"];
        AssignExpression iov = named["msg_iov"];
        if (iov.Argument is not IntegerExpression { Value: >= 0 } count)
        {
            throw new ScriptParseException(line, "msg_iov is written msg_iov(N)=[{..., len}, ...] with N the number of buffers");
        }
        if (iov.Value is not ListExpression { Braces: false } buffers || buffers.Items.Any(b => b is not ListExpression { Struct: IoVecStruct }))
        {
            throw new ScriptParseException(line, "msg_iov(N) takes a list of buffers: [{..., len}, ...]");
        }
        if (buffers.Items.Count != count.Value)
        {
            throw new ScriptParseException(line, $"msg_iov({count.Value}) lists {buffers.Items.Count} buffers");
        }
        IReadOnlyList<ScriptExpression> control = named.TryGetValue("msg_control", out AssignExpression? c)
            ? c.Value is ListExpression { Braces: false } list ? list.Items : throw new ScriptParseException(line, "msg_control takes a list of control messages: [{cmsg_level=..., cmsg_type=..., cmsg_data=...}]")
            : [];
        return new MsgHdrStruct(name.Argument ?? new EllipsisExpression(), name.Value, count.Value,
            buffers.Items.Select(b => (IoVecStruct)((ListExpression)b).Struct!).ToList(), named["msg_flags"].Value, control);
    }
}
