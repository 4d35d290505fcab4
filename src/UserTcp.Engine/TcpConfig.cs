namespace UserTcp.Engine;

/// <summary>What to do with a RST that arrives in TIME-WAIT (RFC 1337 "TIME-WAIT assassination").</summary>
public enum TimeWaitRstPolicy : byte
{
    /// <summary>The RST ends TIME-WAIT at once, as Linux does (net.ipv4.tcp_rfc1337 = 0, its default).</summary>
    Accept,
    /// <summary>The RST is ignored and TIME-WAIT runs its full 2MSL, as RFC 1337 §3 recommends.</summary>
    Ignore,
}

/// <summary>
/// Every tunable of the engine. Defaults follow Linux where the RFCs leave a choice (docs/design.md "The engine").
/// </summary>
public sealed partial record TcpConfig
{
    /// <summary>RFC 6298 §2.1: 1 s before any RTT sample.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Linux's TCP_RTO_MIN (RFC 6298 §2.4 says 1 s; Linux, like most stacks, uses 200 ms).</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>RFC 6298 §2.5 allows a cap of at least 60 s; Linux's TCP_RTO_MAX is 120 s.</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>
    /// RFC 6298 §2 (the default: <see cref="MinRto"/> bounds the RTO) or Linux's estimator, where it bounds the variance
    /// term instead, so the RTO is about SRTT + <see cref="MinRto"/> on a LAN (docs/design.md "The engine", its Retransmission item).
    /// </summary>
    public RtoFormula RtoFormula { get; init; } = RtoFormula.Rfc6298;
    /// <summary>
    /// CUBIC's congestion avoidance: RFC 9438's equations in floating point (the default), or Linux's integer
    /// tcp_cubic.c, segment for segment (docs/design.md "Where the upstream packetdrill corpus still sees another behaviour").
    /// </summary>
    public CubicArithmetic CubicArithmetic { get; init; } = CubicArithmetic.Rfc9438;
    /// <summary>The whole TIME-WAIT (2MSL); Linux's TCP_TIMEWAIT_LEN is 60 s.</summary>
    public TimeSpan TimeWait { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How long an orphaned connection waits in FIN-WAIT-2 (Linux tcp_fin_timeout). Never applies after a mere Shutdown(Send).</summary>
    public TimeSpan FinWait2Timeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// Opt-in, in no RFC and no stack: when the peer has closed (CLOSE-WAIT) and the application has neither closed nor
    /// written for this long, close the connection for it — a FIN, or a RST if unread data waits, as its own close would —
    /// and report it (<see cref="TcpCause.CloseWaitIdle"/>, a warning in the log). Null, the default: CLOSE-WAIT lasts
    /// until the application closes, which is what every stack does and what a leaking application turns into a pile.
    /// </summary>
    public TimeSpan? CloseWaitTimeout
    {
        get;
        init
        {
            if (value is TimeSpan t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CloseWaitTimeout), t, "a CLOSE-WAIT timeout must be positive");
            field = value;
        }
    }
    /// <summary>
    /// The shortest delayed-ACK time, Linux's TCP_ATO_MIN: where a connection's delayed-ACK timeout (ato) starts and
    /// what it falls back to; ato then follows the peer's segment spacing, bounded by SRTT and <see cref="DelayedAckMax"/>,
    /// as Linux's does (RFC 1122 §4.2.3.2 allows up to 500 ms). Zero: every ACK goes at once. Equal to DelayedAckMax
    /// (and below <see cref="MinRto"/>): a fixed delay.
    /// </summary>
    public TimeSpan DelayedAck
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(DelayedAck), value, "a delayed-ACK time cannot be negative");
    } = TimeSpan.FromMilliseconds(40);
    /// <summary>
    /// The longest an ACK is delayed (Linux's TCP_DELACK_MAX; per socket TCP_DELACK_MAX_US), and never more than
    /// <see cref="MinRto"/> less 1 ms (Linux's tcp_delack_max: 199 ms by default); it wins over <see cref="DelayedAck"/>.
    /// </summary>
    public TimeSpan DelayedAckMax
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(DelayedAckMax), value, "a delayed-ACK time cannot be negative");
    } = TimeSpan.FromMilliseconds(200);
    /// <summary>SYN retransmissions before giving up (Linux tcp_syn_retries).</summary>
    public int SynRetries { get; init; } = 6;
    /// <summary>SYN-ACK retransmissions before giving up (Linux tcp_synack_retries).</summary>
    public int SynAckRetries { get; init; } = 5;
    /// <summary>Retransmissions of data or FIN before giving up (Linux tcp_retries2).</summary>
    public int DataRetries { get; init; } = 15;
    /// <summary>Retransmissions for a connection the application has closed (Linux tcp_orphan_retries; 0 there means 8).</summary>
    public int OrphanRetries { get; init; } = 8;
    /// <summary>
    /// TCP_USER_TIMEOUT (RFC 9293 §3.8.3's USER TIMEOUT, as Linux has it): how long sent data or zero-window probes may
    /// go unacknowledged before the connection is closed with <see cref="TcpError.TimedOut"/>, instead of the retry
    /// counts. Null (the default): the retry counts alone.
    /// </summary>
    public TimeSpan? UserTimeout
    {
        get;
        init
        {
            if (value is TimeSpan t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(UserTimeout), t, "a user timeout must be positive (null turns it off)");
            field = value;
        }
    }
    /// <summary>Keepalive probes on idle connections; off by default as in every socket API (SO_KEEPALIVE).</summary>
    public bool KeepAlive { get; init; }
    /// <summary>Idle time before the first keepalive probe (Linux tcp_keepalive_time).</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromHours(2);
    /// <summary>Time between unanswered probes (Linux tcp_keepalive_intvl).</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);
    /// <summary>Unanswered probes before the connection times out (Linux tcp_keepalive_probes).</summary>
    public int KeepAliveCount { get; init; } = 9;
    /// <summary>What a RST does to a connection in TIME-WAIT.</summary>
    public TimeWaitRstPolicy TimeWaitRst { get; init; } = TimeWaitRstPolicy.Accept;
    /// <summary>Largest segment payload this side accepts; sent as the MSS option (link MTU minus 40).</summary>
    public ushort Mss { get; init; } = 1460;
    /// <summary>Bytes the application may queue for sending.</summary>
    public int SendBufferSize { get; init; } = 256 * 1024;
    /// <summary>
    /// What <see cref="SendBufferSize"/> counts: data bytes (the default), or Linux's skb memory, with its overshoot and
    /// its wake-up at a third free (<see cref="Engine.SendBufferAccounting.LinuxTruesize"/>, for scripts written against Linux).
    /// </summary>
    public SendBufferAccounting SendBufferAccounting { get; init; } = SendBufferAccounting.DataBytes;
    /// <summary>
    /// TCP_NOTSENT_LOWAT's system default (Linux net.ipv4.tcp_notsent_lowat): a write stops taking data once this many
    /// bytes wait unsent, and the connection is writable only while fewer than half of it do. <see cref="uint.MaxValue"/>
    /// (Linux's default): no limit beyond the send buffer.
    /// </summary>
    public uint NotSentLowWatermark { get; init; } = uint.MaxValue;
    /// <summary>
    /// TCP_DEFER_ACCEPT, read from a listener's configuration: a bare ACK completing the handshake is dropped until the
    /// SYN-ACK has timed out as many times as this period takes (Linux's conversion: RTO doublings from
    /// <see cref="InitialRto"/>), so accept() wakes only once data arrives or the period is over. Zero: off.
    /// </summary>
    public TimeSpan DeferAccept
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(DeferAccept), value, "a defer period cannot be negative");
    }
    /// <summary>IP_TOS: the IPv4 TOS byte of the connection's packets (the two ECN bits are the stack's, RFC 3168 §5).</summary>
    public byte TypeOfService { get; init; }
    /// <summary>
    /// Explicit Congestion Notification (RFC 3168; Linux net.ipv4.tcp_ecn): with both sides agreed in the handshake, new
    /// data leaves ECT(0), a CE mark from a router is echoed (ECE) until the sender's CWR, and an echo reduces cwnd
    /// once per window, as a loss would, without a retransmission. <see cref="EcnMode.Accept"/> by default, as Linux's.
    /// </summary>
    public EcnMode Ecn { get; init; } = EcnMode.Accept;
    /// <summary>
    /// Linux net.ipv4.tcp_ecn_fallback (on by default): a retransmitted SYN no longer requests ECN, in case a middlebox
    /// dropped the first for its ECE and CWR bits (RFC 3168 §6.1.1.1).
    /// </summary>
    public bool EcnFallback { get; init; } = true;
    /// <summary>IP_MTU_DISCOVER: Don't Fragment and path MTU discovery (RFC 1191); Linux's default for TCP is <see cref="PathMtuDiscovery.Want"/>.</summary>
    public PathMtuDiscovery PathMtuDiscovery { get; init; } = PathMtuDiscovery.Want;
    /// <summary>
    /// Path MTU black-hole detection and probing (Linux's net.ipv4.tcp_mtu_probing, off by default as there). With either
    /// mode, once a stall of retransmission timeouts has lasted as long as tcp_retries1 (3) doublings from 200 ms take
    /// (3 s), each further timeout lowers the segment size — first to <see cref="BaseMss"/>, then by half, never under 48
    /// bytes — in case full-sized packets vanish on the path without the ICMP that path MTU discovery needs (RFC 2923
    /// §2.1). Once probing is on (<see cref="MtuProbing.Always"/> from the start, <see cref="MtuProbing.AfterBlackHole"/>
    /// from the first lowering) one larger segment at a time searches upward for the path MTU (RFC 4821, Linux's
    /// tcp_mtu_probe): its ACK raises the segment size, its loss narrows the search without cutting cwnd.
    /// </summary>
    public MtuProbing MtuProbing { get; init; }
    /// <summary>
    /// Black-hole detection is on (<see cref="MtuProbing"/> not <see cref="MtuProbing.Off"/>); setting it true selects
    /// <see cref="MtuProbing.AfterBlackHole"/> (Linux's tcp_mtu_probing = 1) unless probing is already always on.
    /// </summary>
    public bool MtuBlackHoleDetection
    {
        get => MtuProbing != MtuProbing.Off;
        init => MtuProbing = !value ? MtuProbing.Off : MtuProbing == MtuProbing.Off ? MtuProbing.AfterBlackHole : MtuProbing;
    }
    /// <summary>
    /// Linux's net.ipv4.tcp_probe_threshold (8 bytes): the path MTU search stops once its range is narrower than this,
    /// until <see cref="MtuProbeInterval"/> has passed.
    /// </summary>
    public int MtuProbeThreshold
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MtuProbeThreshold), value, "a probe threshold cannot be negative");
    } = 8;
    /// <summary>
    /// Linux's net.ipv4.tcp_probe_interval (600 s): once the search has stopped, it starts over (from the current segment
    /// size up to the peer's MSS) when this long has passed since probing began or last started over.
    /// </summary>
    public TimeSpan MtuProbeInterval
    {
        get;
        init => field = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(MtuProbeInterval), value, "a probe interval cannot be negative");
    } = TimeSpan.FromSeconds(600);
    /// <summary>Linux's net.ipv4.tcp_base_mss (1024): the payload black-hole detection lowers segments to first, and the bottom of the probing search.</summary>
    public int BaseMss
    {
        get;
        init => field = value >= NegotiatedOptions.MinSendMss ? value : throw new ArgumentOutOfRangeException(nameof(BaseMss), value, $"a base MSS of at least {NegotiatedOptions.MinSendMss} bytes");
    } = 1024;
    /// <summary>
    /// Bytes held for the application to read when the connection starts (Linux tcp_rmem[1], counted in data); the
    /// receive window is its free space. With <see cref="ReceiveBufferAutoTuning"/> it grows, as the application reads,
    /// up to <see cref="MaxReceiveBufferSize"/>.
    /// </summary>
    public int ReceiveBufferSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ReceiveBufferSize), value, "a receive buffer needs at least one byte");
    } = 64 * 1024;
    /// <summary>
    /// Receive-buffer auto-tuning (Linux net.ipv4.tcp_moderate_rcvbuf, on by default; docs/design.md "The engine",
    /// Receive-buffer auto-tuning): once per round trip the receiver measures what the application read, and grows the buffer (and so
    /// the window) to twice that and more, so a bulk sender is not held back by the window. A connection whose
    /// SO_RCVBUF was set explicitly keeps that size (Linux's SOCK_RCVBUF_LOCK).
    /// </summary>
    public bool ReceiveBufferAutoTuning { get; init; } = true;
    /// <summary>
    /// The largest receive buffer a connection may have (Linux net.ipv4.tcp_rmem's maximum, 6 MiB): auto-tuning grows a
    /// buffer up to it, and a larger SO_RCVBUF is cut to it. The window scale we offer covers it (7 for 6 MiB), as
    /// Linux's does. Memory is still taken only for bytes held.
    /// </summary>
    public int MaxReceiveBufferSize
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxReceiveBufferSize), value, "the largest receive buffer needs at least one byte");
    } = 6 * 1024 * 1024;
    /// <summary>The largest the receive buffer can become: what the window scale must cover.</summary>
    internal int LargestReceiveBuffer => ReceiveBufferAutoTuning ? Math.Max(ReceiveBufferSize, MaxReceiveBufferSize) : ReceiveBufferSize;
    /// <summary>
    /// How the receive window is sized: the buffer's free data bytes (the default), or Linux's memory-scaled window grown
    /// through rcv_ssthresh (<see cref="Engine.ReceiveWindowModel.Linux"/>, for scripts written against Linux;
    /// docs/design.md "Linux's receive window").
    /// </summary>
    public ReceiveWindowModel ReceiveWindowModel { get; init; } = ReceiveWindowModel.Bytes;
    /// <summary>
    /// Linux 6.17's tcp_sequence: a segment whose data ends past the window offered while data waits to be read is
    /// dropped whole, its ACK unprocessed (TcpExtBeyondWindow); with nothing to read, one that starts inside an open
    /// window is taken whole, its bytes past the edge too (as far as the buffer holds them). Off by default: RFC 9293 §3.10.7.4 processes the ACK
    /// of a segment that starts in the window (or at RCV.NXT of a zero window) and trims its text (docs/design.md "The engine", its Zero window item).
    /// </summary>
    public bool DropBeyondWindow { get; init; }
    /// <summary>Send small segments at once instead of waiting for an ACK (TCP_NODELAY; RFC 896 Nagle when false).</summary>
    public bool NoDelay { get; init; }
    /// <summary>RFC 6928 initial window, in segments.</summary>
    public int InitialWindowSegments { get; init; } = 10;
    /// <summary>
    /// RFC 6928 §2 and RFC 5681 §3.1: cwnd starts at one segment after a single SYN or SYN-ACK timeout. False (the
    /// default): only after more than one SYN (SYN-ACK) retransmission, as Linux's tcp_init_transfer; either way not
    /// when the handshake's answer echoes the first one's timestamp (docs/design.md "The engine", Retransmission).
    /// </summary>
    public bool LossWindowAfterOneSynRetransmission { get; init; }
    /// <summary>
    /// The fewest segments one TSO packet may carry, however slow the pacing rate (Linux net.ipv4.tcp_min_tso_segs):
    /// new data leaves in packets of about 1 ms at the pacing rate, at least this many segments and at most half of
    /// cwnd, each ending in PSH (docs/design.md "TSO packets and the pacing rate").
    /// </summary>
    public int MinTsoSegments
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MinTsoSegments), value, "a TSO packet carries at least one segment");
    } = 2;
    /// <summary>
    /// Linux net.ipv4.tcp_tso_win_divisor: within 1 ms of the last send, a TSO packet that cwnd or the peer's window would
    /// cut below a full one and below this fraction of the window waits for the ACK due (tcp_tso_should_defer) instead
    /// of leaving small. 0 never waits (Linux then defers by another rule; docs/design.md).
    /// </summary>
    public int TsoWindowDivisor
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(TsoWindowDivisor), value, "a divisor of 0 (no deferral) or more");
    }
    /// <summary>The pacing rate in slow start, in percent of cwnd per smoothed RTT (Linux net.ipv4.tcp_pacing_ss_ratio).</summary>
    public int PacingSlowStartRatio
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(PacingSlowStartRatio), value, "a pacing ratio is a percentage, 0 or more");
    } = 200;
    /// <summary>The pacing rate once cwnd reaches half of ssthresh, in percent of cwnd per smoothed RTT (Linux net.ipv4.tcp_pacing_ca_ratio).</summary>
    public int PacingCongestionAvoidanceRatio
    {
        get;
        init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(PacingCongestionAvoidanceRatio), value, "a pacing ratio is a percentage, 0 or more");
    } = 120;
    /// <summary>
    /// RFC 5681 §4.1's restart window (Linux net.ipv4.tcp_slow_start_after_idle, RFC 2861): when new data is queued, or
    /// the peer's window changes with data waiting, after more than an RTO in which nothing was in flight and nothing
    /// sent, cwnd is halved for each RTO idle, down to the initial window. Off by default: UserTcp keeps cwnd across
    /// idle periods (Linux's default is on).
    /// </summary>
    public bool SlowStartAfterIdle { get; init; }
    /// <summary>First port handed out for active opens (Linux ip_local_port_range).</summary>
    public ushort EphemeralPortFirst { get; init; } = 32768;
    /// <summary>Last port handed out for active opens.</summary>
    public ushort EphemeralPortLast { get; init; } = 60999;
    /// <summary>
    /// Chooses the initial sequence number of a connection. The default is RFC 6528's keyed hash of the 4-tuple plus a
    /// 4 µs clock; tests pin it, e.g. near 2^32 so every run crosses the wrap.
    /// </summary>
    public Func<FourTuple, uint>? InitialSequenceNumber { get; init; }
    /// <summary>
    /// Chooses the offset of a connection's TSval clock (RFC 7323 §5.4). The default is a keyed hash of the two
    /// addresses, as Linux's; tests pin it.
    /// </summary>
    public Func<FourTuple, uint>? TimestampOffset { get; init; }
    /// <summary>Offer window scaling (RFC 7323 §2; Linux net.ipv4.tcp_window_scaling).</summary>
    public bool WindowScaling { get; init; } = true;
    /// <summary>Offer SACK (RFC 2018; Linux net.ipv4.tcp_sack): SACK blocks, the scoreboard and RFC 6675 recovery.</summary>
    public bool Sack { get; init; } = true;
    /// <summary>Report duplicates with D-SACK (RFC 2883; Linux net.ipv4.tcp_dsack), when SACK is on.</summary>
    public bool DuplicateSack { get; init; } = true;
    /// <summary>Offer timestamps (RFC 7323 §3; Linux net.ipv4.tcp_timestamps): RTT on every ACK, PAWS.</summary>
    public bool Timestamps { get; init; } = true;
    /// <summary>
    /// RACK time-based loss detection (RFC 8985 §6), when SACK is on: Linux's default (net.ipv4.tcp_recovery bit 1).
    /// Off, SACK recovery is RFC 6675's DupThresh and IsLost alone.
    /// </summary>
    public bool Rack { get; init; } = true;
    /// <summary>
    /// RFC 8985's rules for RACK (the default) or Linux's, where reordering, RACK.rtt and an ACK below SND.UNA are
    /// taken as Linux takes them (docs/design.md "RACK's rules, RFC 8985's or Linux's").
    /// </summary>
    public RackRules RackRules { get; init; } = RackRules.Rfc8985;
    /// <summary>
    /// F-RTO (RFC 5682; Linux net.ipv4.tcp_frto, on by default): after a retransmission timeout, the first ACK that
    /// advances SND.UNA sends new data instead of the rest of the window, and when the next ACK acknowledges data never
    /// resent the timeout was spurious and cwnd and ssthresh are restored; so are they when an ACK echoes a timestamp older
    /// than the retransmission (Eifel, RFC 3522) or D-SACK shows every retransmission needless. SACK-enhanced with SACK,
    /// basic without. Off is plain go-back-N with no undo of a timeout at all (Linux's tcp_frto = 0 still undoes by
    /// timestamps); a fast recovery's undo is <see cref="RecoveryUndo"/>'s.
    /// </summary>
    public bool Frto { get; init; } = true;
    /// <summary>
    /// Undo of a spurious fast recovery (Linux's tcp_try_undo_recovery, _partial and _dsack; Linux has no switch for it):
    /// when D-SACK reports every retransmission of a fast recovery needless (RFC 3708), in it or after it, or an ACK
    /// echoes a timestamp older than its first retransmission (Eifel, RFC 3522), cwnd and ssthresh return to what they
    /// were before it. Off, a fast recovery's reduction stands, as before this was built.
    /// </summary>
    public bool RecoveryUndo { get; init; } = true;
    /// <summary>Tail loss probes (RFC 8985 §7), when SACK is on: Linux's default (net.ipv4.tcp_early_retrans = 3).</summary>
    public bool TailLossProbe { get; init; } = true;
    /// <summary>
    /// A loss probe also during recovery (fast recovery or a timeout's Loss phase), once every segment deemed lost has been resent (a deviation from RFC 8985
    /// §7.2 and Linux, docs/design.md "Loss probes in recovery"): when the one ACK that would end the recovery is lost,
    /// or a retransmission is lost with nothing sent after it, the probe draws an ACK in a probe timeout instead of an RTO.
    /// </summary>
    public bool RecoveryProbe { get; init; } = true;
    /// <summary>
    /// A probe of new data is two full segments when that much is ready and the peer's window takes it (a deviation from
    /// RFC 8985 §7.3 and Linux, which send one; docs/design.md "Paired loss probes"): a Linux receiver holds the ACK of
    /// a lone in-order segment for its delayed-ACK time (40 ms or more) but acknowledges two at once, so when the ACK
    /// of a whole flight was lost the probe's answer comes in a round trip.
    /// </summary>
    public bool PairedProbe { get; init; } = true;
    /// <summary>
    /// The shortest probe timeout. RFC 8985 §7.2's 2 SRTT is well under a millisecond on a local link, where Linux's
    /// jiffies make it at least about 12 ms; here the timer and the thread that reads the ACKs compete for CPUs, and a
    /// probe earlier than this fired while the ACKs that answer it waited to be read (at 12 ms, a lossless 100 MB
    /// download on the loaded machine resent segments).
    /// </summary>
    public TimeSpan MinProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(25);
    /// <summary>
    /// Loss probes in one stall (no ACK in between) before the retransmission timeout, which the first probe armed: RFC
    /// 8985 §7 and Linux send one (a deviation, docs/design.md "A second loss probe"). When the probe's only ACK is lost
    /// too, a second probe a probe timeout later draws an ACK long before the 200 ms minimum RTO; 1 is RFC 8985.
    /// </summary>
    public int LossProbes
    {
        get;
        init => field = value is >= 1 and <= 3 ? value : throw new ArgumentOutOfRangeException(nameof(LossProbes), value, "1 to 3 loss probes per stall");
    } = 2;
    /// <summary>The congestion-control algorithm of new connections (Linux net.ipv4.tcp_congestion_control).</summary>
    public CongestionControlAlgorithm CongestionControl { get; init; } = CongestionControlAlgorithm.Cubic;
    /// <summary>
    /// At most this many of a new connection's first data segments are acknowledged at once, as Linux's quick-ACK
    /// mode does (TCP_MAX_QUICKACKS = 16; fewer with a small window); 0 delays ACKs from the start.
    /// </summary>
    public int QuickAcks { get; init; } = Receiver.MaxQuickAcks;
    /// <summary>
    /// New connections start in pingpong mode, as after setsockopt(TCP_QUICKACK, 0) before the first data: ACKs wait to
    /// ride on the application's answers, and reading a lone short request does not send its ACK alone (Linux's
    /// tcp_cleanup_rbuf). For servers that answer every request at once (echo); the mode ends as Linux's does, when a
    /// delayed ACK has to go out alone.
    /// </summary>
    public bool StartInPingPongMode { get; init; }
    /// <summary>
    /// SYN cookies (RFC 4987 §3.6; Linux net.ipv4.tcp_syncookies, default 1): once a listener's SYN queue is full, SYNs
    /// are answered with a cookie and cost nothing until the peer's ACK comes back. Read from the listener's configuration.
    /// </summary>
    public SynCookieMode SynCookies { get; init; } = SynCookieMode.WhenSynQueueFull;
    /// <summary>
    /// At most one ACK per this interval answers unacceptable segments without data on one connection: challenge ACKs
    /// (RFC 5961 §7, per connection) and duplicate ACKs for out-of-window or PAWS-rejected segments (Linux
    /// net.ipv4.tcp_invalid_ratelimit, 500 ms). Zero: no limit.
    /// </summary>
    public TimeSpan InvalidAckInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>
    /// Challenge ACKs per second for the whole stack (RFC 5961 §7; Linux net.ipv4.tcp_challenge_ack_limit), on top of
    /// the per-connection limit. <see cref="int.MaxValue"/>, Linux's default since 6.0, turns it off. Read from the
    /// engine's configuration.
    /// </summary>
    public int ChallengeAckLimit { get; init; } = int.MaxValue;
    /// <summary>
    /// Connections the stack holds at most, before TIME-WAIT (half-open ones included; TIME-WAIT has its own cap,
    /// <see cref="MaxTimeWait"/>). Beyond it a SYN to a listener is dropped, as a full listen queue drops it (the peer
    /// retries), and a connect fails with <see cref="TcpError.NoBufferSpace"/>. Linux has no such cap but descriptors;
    /// the default is its per-process maximum, fs.nr_open = 1,048,576. Read from the engine's configuration.
    /// </summary>
    public int MaxConnections { get; init; } = 1 << 20;
    /// <summary>
    /// TIME-WAIT records the stack keeps at most (Linux net.ipv4.tcp_max_tw_buckets; 131,072 on a 24 GiB machine). Beyond
    /// it a connection that would enter TIME-WAIT is closed at once after its last ACK (TcpExtTCPTimeWaitOverflow), as
    /// Linux's "time wait bucket table overflow". Read from the engine's configuration.
    /// </summary>
    public int MaxTimeWait { get; init; } = 131_072;
    /// <summary>The largest send buffer a connection may have (Linux net.ipv4.tcp_wmem's maximum, 4 MiB); larger requests are cut to it.</summary>
    public int MaxSendBufferSize { get; init; } = 4 * 1024 * 1024;
    /// <summary>
    /// Out-of-order bytes a connection holds at most; a segment beyond it is dropped (TcpExtTCPOFODrop) and the sender
    /// resends it. The default, as Linux, is no cap but the receive window (the receive buffer's free space).
    /// </summary>
    public int MaxOutOfOrderBytes { get; init; } = int.MaxValue;
    /// <summary>
    /// Send and receive buffer memory the whole stack may hold (16 KiB chunks, lent as bytes arrive: docs/design.md
    /// "Memory on demand"). At the limit arriving data that needs more is dropped unacknowledged (TcpExtTCPRcvQDrop,
    /// TcpExtTCPOFODrop; the sender resends it) and writes take only what fits. The default is Linux's tcp_mem maximum:
    /// 3/32 of the memory the process may use. Read from the engine's configuration.
    /// </summary>
    public long MaxBufferMemory
    {
        get;
        init => field = value >= 16 * 1024 ? value : throw new ArgumentOutOfRangeException(nameof(MaxBufferMemory), value, "buffer memory comes in 16 KiB chunks: at least one");
    } = DefaultBufferMemory();
    /// <summary>
    /// TCP Fast Open (RFC 7413), Linux's net.ipv4.tcp_fastopen bits: <see cref="FastOpenFlags.Client"/> by default, as
    /// Linux's. A server also needs <see cref="FastOpenFlags.Server"/> and a listener with a Fast Open queue length.
    /// Read from the listener's configuration.
    /// </summary>
    public FastOpenFlags FastOpen { get; init; } = FastOpenFlags.Client;
    /// <summary>
    /// With <see cref="FastOpenFlags.Server"/> and <see cref="FastOpenFlags.ServerWithoutSocketOption"/>: the Fast Open
    /// queue length every new listener gets without TCP_FASTOPEN. Null (the default): its backlog, as Linux's inet_listen.
    /// </summary>
    public int? FastOpenQueueLength
    {
        get;
        init => field = value is null or >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(FastOpenQueueLength), value, "a queue length is not negative");
    }
    /// <summary>
    /// The key Fast Open cookies are made with (Linux net.ipv4.tcp_fastopen_key; a listener's TCP_FASTOPEN_KEY when
    /// set on its configuration). Null (the default): a random key drawn once per stack, as Linux draws one per
    /// namespace (from <see cref="RandomSeed"/> when that is set).
    /// </summary>
    public FastOpenKey? FastOpenKey { get; init; }
    /// <summary>
    /// Null (the default): the secrets behind ISNs, ephemeral ports, TSval offsets and SYN cookies come from the
    /// operating system's cryptographic generator, new for every engine (RFC 6528, RFC 6056). A number: they come from
    /// this seed, so the same inputs give the same ISNs and ports — only for simulations and scripts that must repeat.
    /// </summary>
    public int? RandomSeed { get; init; }

    // Linux's tcp_mem[2] (tcp_init_mem): 3/32 of the buffer pages, here of what the GC may use.
    private static long DefaultBufferMemory() => Math.Max(64L * 1024 * 1024, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 32 * 3);
}
