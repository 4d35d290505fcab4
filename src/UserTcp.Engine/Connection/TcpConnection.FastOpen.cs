using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// TCP Fast Open, the client side (RFC 7413 §4.1, §4.2.2; Linux's tcp_fastopen.c, tcp_send_syn_data and
/// tcp_rcv_fastopen_synack): the SYN asks for a cookie, or carries the cached cookie and the first write; the SYN-ACK's
/// cookie is cached; data the SYN-ACK did not acknowledge goes again at once. docs/design.md "TCP Fast Open — client".
/// </summary>
public sealed partial class TcpConnection
{
    /// <summary>Linux's MAX_TCP_OPTION_SPACE: SYN data leaves this much room for options middleboxes may add (tcp_send_syn_data).</summary>
    internal const int SynDataOptionReserve = 40;

    // Made only for a Fast Open active open; null for every other connection.
    private ActiveFastOpen? _fastOpen;

    /// <summary>The connection was opened with Fast Open (<see cref="TcpEngine.ConnectFastOpen"/>).</summary>
    public bool FastOpenRequested => _fastOpen is not null;

    /// <summary>
    /// The SYN has not left and will carry data (TCP_FASTOPEN_CONNECT or MSG_FASTOPEN with a cookie cached, or the
    /// client's no-cookie mode): what <see cref="Send"/> queues now, up to <see cref="FastOpenSynRoom"/>, rides in it.
    /// </summary>
    public bool FastOpenAwaitsData => _fastOpen is { SendsData: true, FirstSynSent: false } && State == TcpState.SynSent;

    /// <summary>The most data the SYN carries (the cached MSS less 40 bytes); 0 when it carries none.</summary>
    public int FastOpenSynRoom => _fastOpen is { SendsData: true, FirstSynSent: false } fastOpen ? fastOpen.Room : 0;

    /// <summary>The SYN carried data and the SYN-ACK acknowledged all of it (Linux's syn_data_acked, TCPI_OPT_SYN_DATA).</summary>
    public bool FastOpenSynDataAcknowledged => _fastOpen?.DataAcknowledged == true;

    /// <summary>Why a Fast Open connection's data did not ride in its SYN (tcpi_fastopen_client_fail).</summary>
    public FastOpenClientFailure FastOpenClientFailure => _fastOpen?.Failure ?? FastOpenClientFailure.None;

    /// <summary>
    /// Active open with Fast Open (Linux's tcp_fastopen_defer_connect and tcp_fastopen_cookie_check): with a cookie cached
    /// for the server, or in no-cookie mode, the SYN waits for the first write; otherwise it goes now and asks for a cookie.
    /// </summary>
    internal void OpenActiveFastOpen()
    {
        SetState(TcpState.SynSent, TcpCause.Connect);
        RequestEcn();
        FastOpenCacheEntry? cached = _engine.FastOpenCookies.Get(Id.Remote.Address);
        var fastOpen = new ActiveFastOpen();
        // tcp_send_syn_data: the MSS the server gave (or ours), cut by ours and the path's, less the option reserve.
        int mss = Math.Min(_config.Mss, cached is { Mss: > 0 } ? cached.Mss : _config.Mss);
        fastOpen.Room = Math.Max(mss, NegotiatedOptions.MinSendMss) - SynDataOptionReserve;
        if (FastOpenClientNoCookie)
        {
            fastOpen.SendsData = true; // TFO_CLIENT_NO_COOKIE: data without a cookie, and no option
        }
        else if (cached?.Cookie is byte[] cookie)
        {
            fastOpen.SendsData = true;
            fastOpen.Cookie = cookie;
            fastOpen.Experimental = cached.CookieExperimental;
        }
        else
        {
            fastOpen.RequestCookie = true;
            fastOpen.Experimental = cached?.TryExperimental == 1; // the server ignored RFC 7413's option once: ask in the old form
            fastOpen.Failure = FastOpenClientFailure.CookieUnavailable;
        }
        _fastOpen = fastOpen;
        if (fastOpen.SendsData) return; // the first write sends the SYN (Send)
        SynDue = true;
        _engine.MarkPending(this);
    }

    /// <summary>TFO_CLIENT_NO_COOKIE (net.ipv4.tcp_fastopen 0x4): the SYN carries data without a cookie or an option.</summary>
    private bool FastOpenClientNoCookie => (_config.FastOpen & FastOpenFlags.ClientNoCookie) != 0;

    /// <summary>
    /// Sends the SYN that waits for data now, with whatever is queued (none: the cookie alone), as a Fast Open write of
    /// nothing does (Linux's tcp_sendmsg_fastopen with an empty buffer). Nothing when no SYN waits.
    /// </summary>
    public void SendFastOpenSyn()
    {
        if (!FastOpenAwaitsData || SynDue) return;
        SynDue = true;
        _engine.MarkPending(this);
    }

    /// <summary>A write reached a SYN that waits for data: the SYN goes at the next dispatch, carrying it.</summary>
    private void OnFastOpenWrite() => SendFastOpenSyn();

    /// <summary>
    /// The first SYN's Fast Open option and data; a retransmitted SYN carries neither (Linux's tcp_send_syn_data sets the
    /// cookie's length to -1 for retries).
    /// </summary>
    private ReadOnlySpan<byte> FastOpenSyn(TimeSpan now, ref TcpOptions options, bool retransmission)
    {
        if (_fastOpen is not { } fastOpen || retransmission || fastOpen.FirstSynSent) return default;
        fastOpen.FirstSynSent = true;
        fastOpen.SynSentAt = now;
        if (fastOpen.Cookie is not null || fastOpen.RequestCookie)
        {
            FastOpenWire.SetOption(ref options, fastOpen.Cookie, fastOpen.Experimental);
            fastOpen.OptionSent = true;
            fastOpen.ExperimentalSent = fastOpen.Experimental;
        }
        if (!fastOpen.SendsData) return default;
        int buffered = _sender.Buffer.End - (Iss + 1);
        fastOpen.SynDataLength = Math.Clamp(buffered, 0, fastOpen.Room);
        return fastOpen.SynDataLength == 0 ? default : _sender.Buffer.Payload(Iss + 1, fastOpen.SynDataLength, _engine.PayloadScratch);
    }

    /// <summary>The highest acknowledgment SYN-SENT accepts: the SYN, and the data it carried (Linux's snd_nxt).</summary>
    private SeqNumber SynSentAckLimit => SndMax + (_fastOpen?.SynDataLength ?? 0);

    /// <summary>
    /// Before the SYN-ACK is taken: the data the SYN carried becomes a segment sent with it, so the ACK's bookkeeping (the
    /// send buffer, RTT, what was delivered) treats it as any data sent (Linux queues SYN-data as an skb after the SYN).
    /// </summary>
    private void TakeSynDataAsSent()
    {
        if (_fastOpen is { SynDataLength: > 0 } fastOpen) _sender.TakeSynData(fastOpen.SynDataLength, fastOpen.SynSentAt);
    }

    /// <summary>
    /// The SYN-ACK of a Fast Open SYN, once ESTABLISHED (Linux's tcp_rcv_fastopen_synack): its cookie and MSS are cached,
    /// and data the SYN carried that it did not acknowledge is marked lost and sent again now, without a congestion
    /// response. Returns true when data goes again (then no pure ACK is due: the data carries it).
    /// </summary>
    private bool OnFastOpenSynAck(TimeSpan now, in TcpSegment seg)
    {
        if (_fastOpen is not { } fastOpen) return false;
        bool dataSent = fastOpen.SynDataLength > 0;
        bool dataLeft = dataSent && SndUna < Iss + 1 + fastOpen.SynDataLength;
        // Linux's foc.len: -1 without a usable option (none, or an odd or out-of-range length), 0 for an empty one.
        int length = FastOpenWire.ReadCookie(seg.Options, out TcpFastOpenCookie cookie, out bool cookieExperimental);
        bool synLost = false;
        byte tryExperimental = 0;
        if (!fastOpen.OptionSent)
        {
            length = -1; // the SYN asked for no cookie (no-cookie mode): an unsolicited one is not cached
        }
        else if (_sender.Retransmissions > 0)
        {
            // The SYN timed out, and the SYN-ACK neither brings a cookie nor acknowledges the data: the server saw only the
            // retransmitted plain SYN, so the SYN with data (or its SYN-ACK) was lost.
            synLost = length < 0 && dataLeft;
        }
        else if (length < 0 && !dataSent)
        {
            // A cookie request went unanswered: try the experimental option next time; after that, RFC 7413's for good.
            tryExperimental = fastOpen.ExperimentalSent ? (byte)2 : (byte)1;
        }
        ushort mss = seg.Options.MaxSegmentSize is ushort given and > 0 ? given : (ushort)0;
        _engine.FastOpenCookies.Set(Id.Remote.Address, mss, length > 0 ? cookie.Value : default, cookieExperimental, synLost, tryExperimental, now);
        if (dataLeft)
        {
            fastOpen.Failure = _sender.Retransmissions > 0 ? FastOpenClientFailure.SynRetransmitted : FastOpenClientFailure.DataNotAcknowledged;
            _sender.ResendSynData();
            _engine.Counters.Count(MibCounter.TcpExtTCPFastOpenActiveFail);
            return true;
        }
        fastOpen.DataAcknowledged = dataSent;
        if (dataSent)
        {
            _sender.CountSynDataAsOne();
            fastOpen.Failure = FastOpenClientFailure.None;
            _engine.Counters.Count(MibCounter.TcpExtTCPFastOpenActive);
        }
        return false;
    }
}
