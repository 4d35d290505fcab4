namespace UserTcp.Engine;

/// <summary>
/// Where the sender stands in loss recovery, as Linux's tcpi_ca_state names it (include/net/tcp.h tcp_ca_state;
/// RFC 5681 and RFC 6675 describe the same phases).
/// </summary>
public enum TcpCongestionState : byte
{
    /// <summary>Nothing suspicious: every ACK advances SND.UNA in order.</summary>
    Open = 0,
    /// <summary>Duplicate ACKs or SACK blocks have arrived, or segments were deemed lost or resent, without a recovery yet.</summary>
    Disorder = 1,
    /// <summary>The window was reduced for an explicit congestion signal (ECN), without a loss.</summary>
    Cwr = 2,
    /// <summary>Fast recovery (RFC 5681 §3.2, RFC 6582, RFC 6675) until the recovery point is acknowledged.</summary>
    Recovery = 3,
    /// <summary>After a retransmission timeout, until everything sent before it is acknowledged.</summary>
    Loss = 4,
}

/// <summary>
/// A connection's state as Linux's TCP_INFO reports it (struct tcp_info), taken from the engine's own variables at one
/// moment: segment counts are segments of the scoreboard, times are spans, windows and cwnd are bytes.
/// </summary>
public readonly record struct TcpConnectionInfo
{
    /// <summary>tcpi_state: the RFC 9293 state.</summary>
    public TcpState State { get; init; }
    /// <summary>tcpi_ca_state.</summary>
    public TcpCongestionState CongestionState { get; init; }
    /// <summary>tcpi_retransmits: retransmission timeouts in a row without progress (reset by a new ACK).</summary>
    public int ConsecutiveTimeouts { get; init; }
    /// <summary>tcpi_probes: unanswered zero-window or keepalive probes.</summary>
    public int Probes { get; init; }
    /// <summary>tcpi_backoff: doublings of the retransmission timer since the last RTT sample.</summary>
    public int Backoff { get; init; }
    /// <summary>tcpi_rto: the retransmission timeout now (RFC 6298).</summary>
    public TimeSpan Rto { get; init; }
    /// <summary>tcpi_ato: the delayed-ACK time.</summary>
    public TimeSpan AckTimeout { get; init; }
    /// <summary>The largest payload the handshake (and path MTU) allow in a segment, Eff.snd.MSS; cwnd counts segments of it.</summary>
    public int SendMss { get; init; }
    /// <summary>
    /// tcpi_snd_mss: the largest payload a new segment carries now, <see cref="SendMss"/> cut to half the peer's largest
    /// window (Linux's mss_cache, tcp_bound_to_half_wnd).
    /// </summary>
    public int SegmentMss { get; init; }
    /// <summary>tcpi_rcv_mss: the largest payload received so far (our advertised MSS before any).</summary>
    public int ReceiveMss { get; init; }
    /// <summary>tcpi_advmss: the MSS option this side sent.</summary>
    public int AdvertisedMss { get; init; }
    /// <summary>tcpi_unacked: segments sent and not cumulatively acknowledged (SACKed ones included).</summary>
    public int UnackedSegments { get; init; }
    /// <summary>tcpi_sacked: segments the peer holds by SACK.</summary>
    public int SackedSegments { get; init; }
    /// <summary>tcpi_lost: segments deemed lost and not SACKed since.</summary>
    public int LostSegments { get; init; }
    /// <summary>tcpi_retrans: retransmissions in flight.</summary>
    public int RetransmittedSegments { get; init; }
    /// <summary>tcpi_last_data_recv: time since data last arrived (since the handshake before any).</summary>
    public TimeSpan SinceDataReceived { get; init; }
    /// <summary>tcpi_rtt: the smoothed round-trip time (SRTT).</summary>
    public TimeSpan SmoothedRtt { get; init; }
    /// <summary>tcpi_rttvar: the round-trip time variation (RTTVAR).</summary>
    public TimeSpan RttVariance { get; init; }
    /// <summary>tcpi_min_rtt: the smallest round-trip time measured.</summary>
    public TimeSpan MinRtt { get; init; }
    /// <summary>
    /// tcpi_pacing_rate, bytes per second: Linux's rate from cwnd and the smoothed RTT (200 % of cwnd per RTT in slow
    /// start, 120 % after), which sizes the TSO packets; <see cref="ulong.MaxValue"/> until the first ACK.
    /// </summary>
    public ulong PacingRate { get; init; }
    /// <summary>tcpi_snd_cwnd, in bytes.</summary>
    public int CongestionWindow { get; init; }
    /// <summary>tcpi_snd_ssthresh, in bytes; <see cref="int.MaxValue"/> until the first congestion event.</summary>
    public int SlowStartThreshold { get; init; }
    /// <summary>tcpi_reordering: the reordering RACK measured, in segments (Linux's tp->reordering); DupThresh (3) until then or without RACK.</summary>
    public int Reordering { get; init; }
    /// <summary>tcpi_reord_seen: reordering events RACK detected (Linux's tp->reord_seen); at most two an ACK, its SACK blocks and its cumulative part.</summary>
    public int ReorderingEvents { get; init; }
    /// <summary>tcpi_total_retrans: segments sent again over the connection's life.</summary>
    public int TotalRetransmissions { get; init; }
    /// <summary>tcpi_delivered: segments delivered (cumulatively acknowledged or SACKed), the SYN or SYN-ACK counted as one.</summary>
    public uint DeliveredSegments { get; init; }
    /// <summary>tcpi_delivered_ce: of them, those acknowledged by an ACK with ECE (RFC 3168).</summary>
    public uint DeliveredCeSegments { get; init; }
    /// <summary>tcpi_total_rto.</summary>
    public int TotalTimeouts { get; init; }
    /// <summary>tcpi_snd_wnd: the peer's window.</summary>
    public uint SendWindow { get; init; }
    /// <summary>tcpi_rcv_wnd: the window offered to the peer.</summary>
    public uint ReceiveWindow { get; init; }
    /// <summary>tcpi_rcv_space: bytes the application read in its best round trip, the rate receive-buffer auto-tuning sizes for (0 without it).</summary>
    public int ReceiveSpace { get; init; }
    /// <summary>tcpi_rcv_ssthresh: the window offered while it grows, with Linux's receive window (TcpConfig.ReceiveWindowModel); null otherwise.</summary>
    public int? ReceiveSlowStartThreshold { get; init; }
    /// <summary>tcpi_rcv_rtt: the receiver's RTT estimate, for auto-tuning (zero before a sample, or without auto-tuning).</summary>
    public TimeSpan ReceiveRtt { get; init; }
    /// <summary>The receive buffer's size now (SO_RCVBUF as auto-tuning has grown it; Linux reports twice this, see docs/scripts.md).</summary>
    public int ReceiveBufferSize { get; init; }
    /// <summary>tcpi_notsent_bytes: queued data never sent yet.</summary>
    public int NotSentBytes { get; init; }
    /// <summary>Time with data queued or in flight, whatever limited it (tcpi_busy_time).</summary>
    public TimeSpan BusyTime { get; init; }
    /// <summary>Of <see cref="BusyTime"/>, the time data waited that the peer's window did not admit (tcpi_rwnd_limited).</summary>
    public TimeSpan ReceiveWindowLimitedTime { get; init; }
    /// <summary>Of <see cref="BusyTime"/>, the time the application waited for send-buffer room with all it had written sent (tcpi_sndbuf_limited).</summary>
    public TimeSpan SendBufferLimitedTime { get; init; }
    /// <summary>TCPI_OPT_SACK: both sides agreed on SACK (RFC 2018).</summary>
    public bool Sack { get; init; }
    /// <summary>TCPI_OPT_TIMESTAMPS: both sides agreed on timestamps (RFC 7323).</summary>
    public bool Timestamps { get; init; }
    /// <summary>TCPI_OPT_ECN: both sides agreed on ECN (RFC 3168).</summary>
    public bool Ecn { get; init; }
    /// <summary>TCPI_OPT_ECN_SEEN: data arrived ECT or CE-marked on this ECN connection.</summary>
    public bool EcnSeen { get; init; }
    /// <summary>
    /// TCPI_OPT_SYN_DATA: data in a SYN was acknowledged in the handshake (Linux's syn_data_acked): our Fast Open SYN's
    /// all of it, or, on a passive Fast Open connection, the peer's taken with its SYN (RFC 7413).
    /// </summary>
    public bool FastOpenSynData { get; init; }
    /// <summary>tcpi_fastopen_client_fail: why a Fast Open connection's data did not ride in its SYN.</summary>
    public FastOpenClientFailure FastOpenClientFailure { get; init; }
    /// <summary>TCPI_OPT_TFO_CHILD: a passive Fast Open connection, accepted from a SYN with a valid cookie.</summary>
    public bool FastOpenChild { get; init; }
    /// <summary>tcpi_snd_wscale and tcpi_rcv_wscale; null when window scaling was not agreed (RFC 7323 §2).</summary>
    public (int Send, int Receive)? WindowScale { get; init; }
}
