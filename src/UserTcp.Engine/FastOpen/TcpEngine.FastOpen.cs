using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What a listener does with a SYN's Fast Open option and data (RFC 7413 §4.2.2; Linux's tcp_try_fastopen).</summary>
/// <param name="MakeChild">Open a Fast Open connection: its data taken and acknowledged, accept() returns it at once.</param>
/// <param name="Cookie">The option kind our SYN-ACK carries a cookie in; <see cref="TcpFastOpenKind.None"/>: no cookie.</param>
internal readonly record struct FastOpenAnswer(bool MakeChild, TcpFastOpenKind Cookie);

/// <summary>The server side of TCP Fast Open: cookies, and which SYNs open a connection with their data.</summary>
public sealed partial class TcpEngine
{
    /// <summary>The key a listener's cookies are made with: its own (TCP_FASTOPEN_KEY), the stack's, or the stack's random one.</summary>
    internal FastOpenKey FastOpenKeyOf(TcpPassiveOpen listener) => listener.ConnectionConfig.FastOpenKey ?? _secrets.FastOpenKey;

    /// <summary>The cookie for the peer of <paramref name="id"/>: the SYN came from its remote address to its local one.</summary>
    internal TcpFastOpenCookie FastOpenCookieFor(TcpPassiveOpen listener, FourTuple id) =>
        FastOpenServerCookies.Make(FastOpenKeyOf(listener).Primary, id.Remote.Address, id.Local.Address);

    /// <summary>
    /// Linux's tcp_try_fastopen, in its order: a cookie request is counted; nothing happens unless the server bit is on,
    /// the SYN carries data or the option, and the listener's Fast Open queue has room; with cookies not required any
    /// such SYN opens a connection; a request gets a cookie; a valid cookie (primary or backup key) opens one, the
    /// backup's also getting the primary's cookie back; an invalid one gets a fresh cookie and its data is not taken.
    /// </summary>
    private FastOpenAnswer TryFastOpen(TimeSpan now, TcpPassiveOpen listener, FourTuple id, in TcpSegment syn)
    {
        TcpOptions options = syn.Options;
        TcpFastOpenKind kind = options.FastOpen;
        bool hasOption = kind != TcpFastOpenKind.None;
        bool request = hasOption && options.FastOpenCookie.IsRequest;
        if (request) Counters.Count(MibCounter.TcpExtTCPFastOpenCookieReqd);
        FastOpenFlags flags = listener.ConnectionConfig.FastOpen;
        if ((flags & FastOpenFlags.Server) == 0 || !(hasOption || !syn.Payload.IsEmpty) || !listener.HasFastOpenRoom(now, Counters))
        {
            return default;
        }
        if ((flags & FastOpenFlags.ServerCookieNotRequired) != 0)
        {
            Counters.Count(MibCounter.TcpExtTCPFastOpenPassive);
            return new FastOpenAnswer(MakeChild: true, TcpFastOpenKind.None);
        }
        if (request) return new FastOpenAnswer(MakeChild: false, kind);
        if (!hasOption) return default; // data without a cookie: an ordinary SYN, its data left for the peer to send again
        int match = FastOpenServerCookies.Check(FastOpenKeyOf(listener), id.Remote.Address, id.Local.Address, options.FastOpenCookie.Value);
        if (match == 0)
        {
            Counters.Count(MibCounter.TcpExtTCPFastOpenPassiveFail);
            return new FastOpenAnswer(MakeChild: false, kind);
        }
        Counters.Count(MibCounter.TcpExtTCPFastOpenPassive);
        if (match == 2)
        {
            Counters.Count(MibCounter.TcpExtTCPFastOpenPassiveAltKey);
            return new FastOpenAnswer(MakeChild: true, kind);
        }
        return new FastOpenAnswer(MakeChild: true, TcpFastOpenKind.None);
    }

    /// <summary>
    /// TFO_SERVER_WO_SOCKOPT1 with the server bit: every new listener gets a Fast Open queue as long as its backlog
    /// (inet_listen; fastopen_queue_tune caps it at somaxconn, which the backlog already is here), or as
    /// <see cref="TcpConfig.FastOpenQueueLength"/> says.
    /// </summary>
    private static void TuneFastOpenOnListen(TcpPassiveOpen listener)
    {
        const FastOpenFlags both = FastOpenFlags.Server | FastOpenFlags.ServerWithoutSocketOption;
        TcpConfig config = listener.ConnectionConfig;
        if ((config.FastOpen & both) == both && listener.FastOpenQueueLength == 0) listener.FastOpenQueueLength = config.FastOpenQueueLength ?? listener.Backlog;
    }
}
