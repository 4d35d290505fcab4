namespace UserTcp.Engine;

/// <summary>
/// Why something happened: a state change, a dropped segment, a retransmission or a connection error. Consumers
/// (the demo's ladder, the script runner, the lab) switch on it; <see cref="TcpCauseExtensions.Describe"/> gives the text.
/// </summary>
public enum TcpCause : byte
{
    /// <summary>No particular cause (events that are not changes).</summary>
    None,

    // ── State changes the application caused ──
    /// <summary>connect(): SYN-SENT.</summary>
    Connect,
    /// <summary>close(): the FIN is queued (FIN-WAIT-1 or LAST-ACK).</summary>
    Close,
    /// <summary>shutdown(SHUT_WR): the FIN is queued.</summary>
    ShutdownSend,
    /// <summary>A FIN queued in SYN-SENT or SYN-RECEIVED goes out once ESTABLISHED.</summary>
    FinQueuedBeforeEstablished,
    /// <summary>close() in SYN-SENT deletes the TCB (RFC 9293 §3.10.4).</summary>
    CloseBeforeEstablished,
    /// <summary>close() with unread data resets the connection (RFC 2525 §2.17).</summary>
    CloseWithUnreadData,
    /// <summary>abort() (or SO_LINGER 0): RST and CLOSED.</summary>
    Abort,
    /// <summary>The listener closed before the handshake completed.</summary>
    ListenerClosed,

    // ── State changes a segment caused ──
    /// <summary>A SYN arrived at a listener: SYN-RECEIVED.</summary>
    SynInListen,
    /// <summary>A SYN arrived at a TIME-WAIT connection and started a new one (RFC 6191, as Linux).</summary>
    SynReusedTimeWait,
    /// <summary>Our SYN was answered by a SYN-ACK: ESTABLISHED.</summary>
    SynAckReceived,
    /// <summary>A SYN arrived in SYN-SENT: simultaneous open (RFC 9293 Figure 7).</summary>
    SimultaneousOpen,
    /// <summary>The ACK of our SYN in SYN-RECEIVED: ESTABLISHED.</summary>
    AckOfSyn,
    /// <summary>The peer's FIN: CLOSE-WAIT.</summary>
    FinReceived,
    /// <summary>A FIN that also acknowledges ours: FIN-WAIT-1 straight to TIME-WAIT.</summary>
    FinWithAckOfOurFin,
    /// <summary>A FIN before the ACK of ours: CLOSING (simultaneous close).</summary>
    SimultaneousClose,
    /// <summary>The peer's FIN in FIN-WAIT-2: TIME-WAIT.</summary>
    FinInFinWait2,
    /// <summary>The ACK of our FIN (FIN-WAIT-1 → FIN-WAIT-2, CLOSING → TIME-WAIT, LAST-ACK → CLOSED).</summary>
    AckOfOurFin,
    /// <summary>A RST that acknowledged our SYN: connection refused.</summary>
    ConnectionRefused,
    /// <summary>An acceptable RST (reset by peer, or back to LISTEN from SYN-RECEIVED).</summary>
    ResetReceived,
    /// <summary>Data arrived after the application closed: RST (RFC 2525 §2.17, Linux).</summary>
    DataAfterClose,

    // ── State changes a timer caused ──
    /// <summary>2MSL elapsed in TIME-WAIT.</summary>
    TimeWaitExpired,
    /// <summary>An orphaned FIN-WAIT-2 timed out (Linux tcp_fin_timeout).</summary>
    FinWait2Timeout,
    /// <summary>Retransmissions ran out.</summary>
    RetransmissionsExhausted,
    /// <summary>Zero-window probes went unanswered up to the retry limit.</summary>
    ZeroWindowProbesUnanswered,
    /// <summary>Opt-in (<see cref="TcpConfig.CloseWaitTimeout"/>): the application left CLOSE-WAIT idle too long, and was closed for.</summary>
    CloseWaitIdle,
    /// <summary>Keepalive probes went unanswered (Linux then resets).</summary>
    KeepAliveTimeout,
    /// <summary>Data (or probes) went unacknowledged for longer than the connection's TCP_USER_TIMEOUT (RFC 9293 §3.8.3's USER TIMEOUT).</summary>
    UserTimeoutExpired,

    // ── Dropped segments ──
    /// <summary>The packet did not parse (the event's WireError says why).</summary>
    Malformed,
    /// <summary>No connection or listener: RST sent unless it was a RST.</summary>
    NoConnection,
    /// <summary>LISTEN: neither SYN, ACK nor RST.</summary>
    ListenNotSyn,
    /// <summary>The listener's SYN queue is full.</summary>
    SynQueueFull,
    /// <summary>The listener's accept queue is full: a SYN, or the final ACK, is dropped (Linux's tcp_conn_request; tcp_abort_on_overflow = 0).</summary>
    AcceptQueueFull,
    /// <summary>The peer retransmitted its SYN in SYN-RECEIVED: our SYN-ACK goes again.</summary>
    RetransmittedSyn,
    /// <summary>Outside the receive window: answered with an ACK.</summary>
    OutsideWindow,
    /// <summary>A RST outside the receive window.</summary>
    ResetOutsideWindow,
    /// <summary>A RST in the window but not at RCV.NXT: challenge ACK (RFC 5961 §3.2).</summary>
    ResetNotExact,
    /// <summary>A RST in TIME-WAIT ignored (RFC 1337).</summary>
    ResetIgnoredInTimeWait,
    /// <summary>A SYN in a synchronized state: challenge ACK (RFC 5961 §4).</summary>
    SynInSynchronizedState,
    /// <summary>A segment without the ACK bit.</summary>
    NoAck,
    /// <summary>An ACK outside what SYN-SENT or SYN-RECEIVED accepts (RST sent).</summary>
    UnacceptableAck,
    /// <summary>SYN-SENT: a RST without ACK, or neither SYN nor RST.</summary>
    NotSynInSynSent,
    /// <summary>An ACK for data not yet sent: answered with an ACK.</summary>
    AckOfUnsentData,
    /// <summary>PAWS: an old timestamp (RFC 7323 §5.3): answered with an ACK.</summary>
    PawsRejected,

    // ── Retransmissions ──
    /// <summary>The retransmission timer expired (RFC 6298).</summary>
    RetransmissionTimeout,
    /// <summary>Third duplicate ACK, or a partial ACK in NewReno recovery (RFC 5681, RFC 6582).</summary>
    FastRetransmit,
    /// <summary>A hole the SACK scoreboard marked lost (RFC 6675).</summary>
    SackRecovery,
    /// <summary>A segment RACK marked lost by time (RFC 8985 §6).</summary>
    RackLoss,
    /// <summary>A tail loss probe (RFC 8985 §7).</summary>
    TailLossProbe,

    // ── Dropped segments (hardening, issue 11) ──
    /// <summary>An ACK below SND.UNA − MAX.SND.WND: challenge ACK (RFC 5961 §5.2).</summary>
    AckTooOld,
    /// <summary>An ACK at a listener whose SYN cookie did not check out: RST.</summary>
    BadSynCookie,

    // ── State changes and warnings (hardening) ──
    /// <summary>The ACK that returned a valid SYN cookie: ESTABLISHED without a SYN-queue entry.</summary>
    SynCookieReturned,
    /// <summary>A listener's SYN queue overflowed and SYN cookies are being sent (Linux's "Possible SYN flooding").</summary>
    SynFlood,
    /// <summary>ICMP port or protocol unreachable for our SYN: connection refused (RFC 1122 §4.2.3.9).</summary>
    IcmpUnreachable,
    /// <summary>A retransmission of a segment the path MTU, lowered by ICMP, no longer carries (RFC 1191 §6.1).</summary>
    PathMtuReduced,

    // ── Limits (issue 11 §5) ──
    /// <summary>A SYN (or a SYN cookie's ACK) dropped: the stack holds <see cref="TcpConfig.MaxConnections"/> connections.</summary>
    ConnectionLimit,
    /// <summary>TIME-WAIT skipped: the stack holds <see cref="TcpConfig.MaxTimeWait"/> records (Linux's tcp_max_tw_buckets).</summary>
    TimeWaitOverflow,
    /// <summary>A RST to a listener: ignored (RFC 9293 §3.10.7.2).</summary>
    ResetInListen,
    /// <summary>An ACK to a listener that no SYN cookie explains: answered with a RST (RFC 9293 §3.10.7.2).</summary>
    AckInListen,
    /// <summary>TCP_DEFER_ACCEPT: a bare final ACK dropped; the connection waits for data (or the end of the defer period).</summary>
    DeferAccept,

    // ── Undo of a spurious retransmission timeout (TcpEventKind.CongestionUndo) ──
    /// <summary>F-RTO (RFC 5682): the ACK after new data acknowledged data never resent; cwnd and ssthresh restored.</summary>
    SpuriousTimeoutFrto,
    /// <summary>Eifel (RFC 3522): the ACK echoed a timestamp older than the retransmission; cwnd and ssthresh restored.</summary>
    SpuriousTimeoutTimestamps,
    /// <summary>D-SACK (RFC 2883) reported every retransmission needless; cwnd and ssthresh restored.</summary>
    SpuriousTimeoutDsack,

    // ── Undo of a spurious fast recovery (TcpEventKind.CongestionUndo) ──
    /// <summary>D-SACK (RFC 2883, RFC 3708) reported every retransmission of a fast recovery needless; cwnd and ssthresh restored.</summary>
    SpuriousFastRetransmitDsack,
    /// <summary>Eifel (RFC 3522): an ACK in or ending a fast recovery echoed a timestamp older than its first retransmission; cwnd and ssthresh restored.</summary>
    SpuriousFastRetransmitTimestamps,
    /// <summary>A new SYN in the window of a passive open's SYN-RECEIVED: RST, and the listener forgets the connection (RFC 9293 §3.10.7.4; Linux's tcp_check_req).</summary>
    SynInPassiveSynReceived,
    /// <summary>An ACK echoed a congestion mark (ECE, RFC 3168 §6.1.2): cwnd reduced once for the window, nothing resent (TcpEventKind.CongestionWindowReduced).</summary>
    EcnEcho,
    /// <summary>The local device's queue refused an outgoing segment (a full queue; Linux's qdisc answers NET_XMIT_DROP): it did not leave.</summary>
    TransmitRefused,
    /// <summary>The local queue refused a segment: cwnd reduced once, as for an ECN echo (Linux's tcp_enter_cwr in __tcp_transmit_skb).</summary>
    LocalCongestion,
    /// <summary>Data a Fast Open SYN carried that the SYN-ACK did not acknowledge, sent again at once (RFC 7413 §4.2.2; Linux's tcp_rcv_fastopen_synack).</summary>
    FastOpenDataNotAcknowledged,
    /// <summary>An ICMP error closed a passive open not yet accepted: a SYN-queue entry dropped (Linux's tcp_req_err), or a Fast Open connection closed with the error (tcp_v4_err).</summary>
    IcmpErrorBeforeAccept,
    /// <summary>A SYN with FIN reached a listener: dropped unanswered, Fast Open cookie and data or not (Linux's tcp_rcv_state_process in LISTEN).</summary>
    SynWithFinInListen,
    /// <summary>
    /// An orphan's zero-window probes, answered but the window still shut, backed off to the maximum RTO: given up
    /// silently (Linux's tcp_probe_timer for a SOCK_DEAD socket, tcp_orphan_retries).
    /// </summary>
    OrphanProbesBackedOff,
    /// <summary>A connect() from the record's own 4-tuple took TIME-WAIT over, the peer's timestamps seen (Linux's tcp_twsk_unique).</summary>
    TimeWaitRecycled,
}

/// <summary>What kind of thing caused a change: the application, an arriving segment or a timer.</summary>
public enum CauseOrigin : byte
{
    /// <summary>No cause.</summary>
    None,
    /// <summary>A call of the application's (connect, close, shutdown, abort).</summary>
    Application,
    /// <summary>A segment that arrived.</summary>
    Segment,
    /// <summary>A timer that fired.</summary>
    Timer,
}

/// <summary>Text and origin for a <see cref="TcpCause"/>.</summary>
public static class TcpCauseExtensions
{
    /// <summary>Who caused it; a state change caused by a segment belongs on that segment's line in a ladder.</summary>
    public static CauseOrigin Origin(this TcpCause cause) => cause switch
    {
        TcpCause.None => CauseOrigin.None,
        >= TcpCause.Connect and <= TcpCause.ListenerClosed => CauseOrigin.Application,
        >= TcpCause.SynInListen and <= TcpCause.DataAfterClose => CauseOrigin.Segment,
        >= TcpCause.TimeWaitExpired and <= TcpCause.UserTimeoutExpired => CauseOrigin.Timer,
        TcpCause.RetransmissionTimeout or TcpCause.TailLossProbe or TcpCause.OrphanProbesBackedOff => CauseOrigin.Timer,
        TcpCause.TimeWaitRecycled => CauseOrigin.Application,
        _ => CauseOrigin.Segment,
    };

    /// <summary>One line for logs and traces.</summary>
    public static string Describe(this TcpCause cause) => cause switch
    {
        TcpCause.None => "",
        TcpCause.Connect => "connect",
        TcpCause.Close => "close",
        TcpCause.ShutdownSend => "shutdown(send)",
        TcpCause.FinQueuedBeforeEstablished => "FIN queued before ESTABLISHED",
        TcpCause.CloseBeforeEstablished => "close before the connection was established",
        TcpCause.CloseWithUnreadData => "close with unread data (RFC 2525 §2.17)",
        TcpCause.Abort => "abort",
        TcpCause.ListenerClosed => "listener closed before the handshake completed",
        TcpCause.SynInListen => "SYN in LISTEN",
        TcpCause.SynReusedTimeWait => "SYN with a higher sequence number or timestamp reused TIME-WAIT (RFC 6191)",
        TcpCause.SynAckReceived => "SYN-ACK received",
        TcpCause.SimultaneousOpen => "SYN received in SYN-SENT (simultaneous open)",
        TcpCause.AckOfSyn => "ACK of our SYN",
        TcpCause.FinReceived => "FIN received",
        TcpCause.FinWithAckOfOurFin => "FIN with the ACK of our FIN",
        TcpCause.SimultaneousClose => "FIN received before the ACK of ours (simultaneous close)",
        TcpCause.FinInFinWait2 => "FIN received in FIN-WAIT-2",
        TcpCause.AckOfOurFin => "ACK of our FIN",
        TcpCause.ConnectionRefused => "RST acknowledging our SYN: connection refused",
        TcpCause.ResetReceived => "RST received",
        TcpCause.DataAfterClose => "data arrived after close; RST sent",
        TcpCause.TimeWaitExpired => "2MSL elapsed in TIME-WAIT",
        TcpCause.FinWait2Timeout => "orphaned FIN-WAIT-2 timed out",
        TcpCause.RetransmissionsExhausted => "gave up after the retransmission limit",
        TcpCause.ZeroWindowProbesUnanswered => "zero-window probes unanswered",
        TcpCause.CloseWaitIdle => "CLOSE-WAIT idle: closed for the application (CloseWaitTimeout)",
        TcpCause.KeepAliveTimeout => "keepalive probes unanswered",
        TcpCause.UserTimeoutExpired => "unacknowledged for longer than the user timeout (TCP_USER_TIMEOUT)",
        TcpCause.Malformed => "malformed packet",
        TcpCause.NoConnection => "no connection or listener; RST sent unless it was a RST",
        TcpCause.ListenNotSyn => "LISTEN: neither SYN, ACK nor RST",
        TcpCause.SynQueueFull => "SYN queue full",
        TcpCause.AcceptQueueFull => "accept queue full; SYN or final ACK dropped",
        TcpCause.RetransmittedSyn => "retransmitted SYN in SYN-RECEIVED; SYN-ACK sent again",
        TcpCause.OutsideWindow => "outside the receive window; answered with an ACK",
        TcpCause.ResetOutsideWindow => "RST outside the receive window",
        TcpCause.ResetNotExact => "RST not at RCV.NXT; challenge ACK (RFC 5961 §3.2)",
        TcpCause.ResetIgnoredInTimeWait => "RST in TIME-WAIT ignored (RFC 1337)",
        TcpCause.SynInSynchronizedState => "SYN in a synchronized state; challenge ACK (RFC 5961 §4)",
        TcpCause.NoAck => "no ACK bit",
        TcpCause.UnacceptableAck => "unacceptable ACK; RST sent",
        TcpCause.NotSynInSynSent => "SYN-SENT: neither SYN nor an acceptable RST",
        TcpCause.AckOfUnsentData => "ACK for data not yet sent; challenge ACK (RFC 5961 §5.2)",
        TcpCause.BadSynCookie => "ACK to a listener with an invalid or expired SYN cookie; RST sent",
        TcpCause.ResetInListen => "RST in LISTEN; ignored",
        TcpCause.AckInListen => "ACK in LISTEN; RST sent",
        TcpCause.ConnectionLimit => "the stack holds its maximum of connections (MaxConnections)",
        TcpCause.TimeWaitOverflow => "TIME-WAIT skipped: the stack holds its maximum of TIME-WAIT records (tcp_max_tw_buckets)",
        TcpCause.SynCookieReturned => "ACK returned a valid SYN cookie",
        TcpCause.IcmpUnreachable => "ICMP destination unreachable (port or protocol) for our SYN: connection refused",
        TcpCause.PathMtuReduced => "retransmitted smaller: ICMP lowered the path MTU (RFC 1191)",
        TcpCause.DeferAccept => "bare ACK in SYN-RECEIVED dropped: TCP_DEFER_ACCEPT waits for data",
        TcpCause.SynFlood => "possible SYN flooding: the SYN queue is full, sending SYN cookies",
        TcpCause.AckTooOld => "ACK older than SND.UNA - MAX.SND.WND; challenge ACK (RFC 5961 §5.2)",
        TcpCause.PawsRejected => "old timestamp (PAWS, RFC 7323 §5); answered with an ACK",
        TcpCause.RetransmissionTimeout => "retransmission timeout",
        TcpCause.FastRetransmit => "fast retransmit",
        TcpCause.SackRecovery => "SACK recovery (RFC 6675)",
        TcpCause.RackLoss => "RACK marked it lost (RFC 8985)",
        TcpCause.TailLossProbe => "tail loss probe (RFC 8985)",
        TcpCause.SpuriousTimeoutFrto => "spurious timeout, undone: data never resent was acknowledged (F-RTO, RFC 5682)",
        TcpCause.SpuriousTimeoutTimestamps => "spurious timeout, undone: the ACK echoes a timestamp older than the retransmission (Eifel, RFC 3522)",
        TcpCause.SpuriousTimeoutDsack => "spurious timeout, undone: D-SACK reported every retransmission needless (RFC 2883)",
        TcpCause.SpuriousFastRetransmitDsack => "spurious fast retransmit, undone: D-SACK reported every retransmission needless (RFC 3708)",
        TcpCause.EcnEcho => "ECN echo: cwnd reduced once for the window, nothing resent (RFC 3168 §6.1.2)",
        TcpCause.SynInPassiveSynReceived => "SYN in SYN-RECEIVED of a passive open; RST, back to LISTEN (RFC 9293 §3.10.7.4)",
        TcpCause.SpuriousFastRetransmitTimestamps => "spurious fast retransmit, undone: the ACK echoes a timestamp older than the retransmission (Eifel, RFC 3522)",
        TcpCause.TransmitRefused => "the local device's queue refused it (Linux's NET_XMIT_DROP); not sent",
        TcpCause.FastOpenDataNotAcknowledged => "resent: the SYN-ACK did not acknowledge the data of a Fast Open SYN (RFC 7413 §4.2.2)",
        TcpCause.IcmpErrorBeforeAccept => "ICMP error for a passive open not yet accepted: closed (Linux's tcp_req_err, tcp_v4_err)",
        TcpCause.SynWithFinInListen => "SYN with FIN in LISTEN; dropped (Linux's tcp_rcv_state_process)",
        TcpCause.OrphanProbesBackedOff => "orphaned: zero-window probes backed off to the maximum RTO; given up (Linux's tcp_probe_timer)",
        TcpCause.TimeWaitRecycled => "taken over by a connect() from the same 4-tuple, timestamps seen (Linux's tcp_twsk_unique)",
        TcpCause.LocalCongestion => "local congestion: the device's queue refused a segment, cwnd reduced once for the window (Linux's tcp_enter_cwr)",
        _ => cause.ToString(),
    };
}
