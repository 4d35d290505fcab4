using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>Segments for a listener (RFC 9293 §3.10.7.2), the SYN queue, and SYN cookies once it is full.</summary>
public sealed partial class TcpEngine
{
    private SynCookies? _cookies;

    private SynCookies Cookies => _cookies ??= new SynCookies(_secrets);

    // RFC 9293 §3.10.7.2: LISTEN. A SYN makes a half-open connection (a small record, no buffers: docs/design.md
    // "Security"); once the SYN queue is full, a SYN cookie instead, which makes the connection only when the ACK returns it.
    private void OnSegmentInListen(TimeSpan now, TcpPassiveOpen listener, FourTuple id, in TcpSegment seg, SeqNumber? iss = null)
    {
        if (seg.Has(TcpFlags.Rst))
        {
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.ResetInListen, SegmentSummary.From(seg)));
            return; // an incoming RST is ignored
        }
        if (seg.Has(TcpFlags.Ack))
        {
            if (!seg.Has(TcpFlags.Syn) && CookiesRecentlySent(listener, now))
            {
                if (TryOpenFromCookie(now, listener, id, seg)) return;
                Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.BadSynCookie, SegmentSummary.From(seg)));
            }
            else
            {
                Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.AckInListen, SegmentSummary.From(seg)));
            }
            QueueReset(id, seg.AcknowledgmentNumber, default, TcpFlags.Rst); // <SEQ=SEG.ACK><CTL=RST>
            return;
        }
        if (!seg.Has(TcpFlags.Syn))
        {
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.ListenNotSyn, SegmentSummary.From(seg)));
            return;
        }
        if (seg.Has(TcpFlags.Fin))
        {
            // Linux's tcp_rcv_state_process drops a SYN with FIN in LISTEN before it looks at Fast Open or the queues, so
            // the FIN of a Fast Open SYN never reaches tcp_fastopen_add_skb; RFC 9293 §3.10.7.2 leaves FIN there unsaid.
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.SynWithFinInListen, SegmentSummary.From(seg)));
            return;
        }
        if (!HasRoomForConnection(now, id))
        {
            // Like a full listen queue on Linux: the SYN is dropped unanswered and the peer's retransmission tries again.
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.ConnectionLimit, SegmentSummary.From(seg)));
            return;
        }
        if (!listener.HasRoomToAccept)
        {
            // Linux's tcp_conn_request: with the accept queue full a SYN is dropped, cookie or not, and the peer retries it.
            // A cookie now would be lost with its final ACK (dropped for the same full queue), leaving the peer ESTABLISHED
            // on a connection we never made (issue 10: seen at 20,000 kernel clients).
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.AcceptQueueFull, SegmentSummary.From(seg)));
            return;
        }
        SynCookieMode cookies = listener.ConnectionConfig.SynCookies;
        bool queueFull = !listener.HasRoomForSyn;
        // As Linux's tcp_conn_request: a SYN that takes over a TIME-WAIT (its ISS already chosen) never gets a cookie.
        if (iss is null && (cookies == SynCookieMode.Always || queueFull && cookies == SynCookieMode.WhenSynQueueFull))
        {
            Counters.Count(MibCounter.TcpExtTCPReqQFullDoCookies); // every cookie, as Linux's tcp_syn_flood_action counts it
            SendCookieSynAck(now, listener, id, seg);
            return;
        }
        if (queueFull)
        {
            Counters.ListenOverflows++;
            Counters.Count(MibCounter.TcpExtListenDrops);
            Counters.Count(MibCounter.TcpExtTCPReqQFullDrop);
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.SynQueueFull, SegmentSummary.From(seg)));
            return;
        }
        FastOpenAnswer fastOpen = TryFastOpen(now, listener, id, seg);
        TcpConnection connection = NewConnection(id, listener, listener.ConnectionConfig, iss);
        TcpCause cause = iss is null ? TcpCause.SynInListen : TcpCause.SynReusedTimeWait;
        if (fastOpen.MakeChild)
        {
            connection.OpenFastOpenChild(now, seg, cause, fastOpen.Cookie);
            listener.EnqueueFastOpen(connection);
            return;
        }
        listener.SynQueueLength++;
        connection.OpenPassive(now, seg, cause);
        if (fastOpen.Cookie != TcpFastOpenKind.None) connection.SendFastOpenCookie(fastOpen.Cookie);
    }

    private static bool CookiesRecentlySent(TcpPassiveOpen listener, TimeSpan now) =>
        listener.LastCookieSent is TimeSpan sent && now - sent <= SynCookies.ValidAfterLastCookie;

    /// <summary>
    /// Answers a SYN statelessly: a SYN-ACK numbered by a cookie, with the options the connection will have (Linux's
    /// cookie_v4_init_sequence and cookie_init_timestamp). Nothing is kept but the listener's "cookies sent" time.
    /// </summary>
    private void SendCookieSynAck(TimeSpan now, TcpPassiveOpen listener, FourTuple id, in TcpSegment syn)
    {
        // The buffer sizes the connection will get (NewConnection caps them): the window scale offered must be its own.
        TcpConfig config = CappedBufferSizes(listener.ConnectionConfig);
        var options = new NegotiatedOptions(config);
        options.TakePeerSyn(SynCookies.Answerable(syn.Options, config));
        int mssIndex = SynCookies.MssIndex(options.SendMss);
        uint cookie = Cookies.Make(id, syn.SequenceNumber, now, mssIndex);
        TcpTimestamp? timestamp = null;
        // Linux's tcp_conn_request: a cookie keeps an agreement to ECN only in the TSval, so without timestamps there is none.
        bool ecn = options.Timestamps && TcpConnection.AgreesToEcn(syn, config);
        if (options.Timestamps)
        {
            uint clock = (uint)(now.Ticks / TimeSpan.TicksPerMillisecond);
            uint encoded = SynCookies.EncodeTimestamp(clock, options.WindowScaling ? (byte)options.SendWindowShift : null, options.Sack, ecn);
            timestamp = new TcpTimestamp(unchecked(encoded + TimestampOffsetOf(id, config)), syn.Options.Timestamp!.Value.Value);
        }
        var repr = new TcpRepr
        {
            SequenceNumber = new SeqNumber(cookie),
            AcknowledgmentNumber = syn.SequenceNumber + 1,
            Flags = TcpFlags.Syn | TcpFlags.Ack | (ecn ? TcpFlags.Ece : TcpFlags.None),
            // RFC 7323 §2.2: never scaled in a SYN; rounded as the connection's own SYN-ACK would be (tcp_openreq_init_rwin).
            Window = ReceiveWindow.Initial(config.ReceiveBufferSize, ReceiveWindow.SynAckMss(config.Mss, options.Timestamps)),
            Options = options.Offer(answering: true, timestamp),
        };
        TransmitFor(id, repr);
        Counters.Count(MibCounter.TcpExtSyncookiesSent);
        listener.LastCookieSent = now;
        // Once per listener, as Linux's "Possible SYN flooding on port ... Sending cookies.", and not when every SYN gets one.
        if (!listener.SynFloodWarned && config.SynCookies != SynCookieMode.Always)
        {
            listener.SynFloodWarned = true;
            Emit(new TcpEvent(now, TcpEventKind.Warning, new FourTuple(listener.LocalEndpoint, default), Cause: TcpCause.SynFlood));
        }
    }

    /// <summary>
    /// An ACK to a listener that recently sent cookies: if SEG.ACK − 1 is a valid cookie for SEG.SEQ − 1, the connection is
    /// made with the options the cookie kept and the ACK processed as the end of its handshake. False when it is not.
    /// </summary>
    private bool TryOpenFromCookie(TimeSpan now, TcpPassiveOpen listener, FourTuple id, in TcpSegment ack)
    {
        TcpConfig config = listener.ConnectionConfig;
        SeqNumber peerIsn = ack.SequenceNumber - 1;
        uint cookie = (ack.AcknowledgmentNumber - 1).Value;
        CookieOptions? options = Cookies.Check(id, peerIsn, cookie, now) is int mssIndex
            ? SynCookies.DecodeOptions(SynCookies.MssTable[mssIndex], ack.Options.Timestamp, TimestampOffsetOf(id, config), config)
            : null;
        if (options is not CookieOptions kept)
        {
            Counters.Count(MibCounter.TcpExtSyncookiesFailed);
            return false;
        }
        Counters.Count(MibCounter.TcpExtSyncookiesRecv);
        if (!listener.HasRoomToAccept)
        {
            // Linux (tcp_v4_syn_recv_sock): the accept queue is full, so the ACK is dropped; the cookie holds nothing to retry.
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.AcceptQueueFull, SegmentSummary.From(ack)));
            return true;
        }
        if (!HasRoomForConnection(now, id))
        {
            Emit(new TcpEvent(now, TcpEventKind.Dropped, id, TcpState.Listen, TcpState.Listen, TcpCause.ConnectionLimit, SegmentSummary.From(ack)));
            return true;
        }
        TcpConnection connection = NewConnection(id, listener, config, new SeqNumber(cookie));
        listener.SynQueueLength++;
        connection.OpenFromCookie(now, ack, kept);
        connection.OnSegment(now, ack);
        return true;
    }
}
