using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The send side of a connection: the sequence variables (SND.UNA, SND.MAX, SND.WND), the send buffer, the
/// scoreboard of segments in flight, RTT and RTO (RFC 6298, RFC 7323 §4), loss detection and recovery (NewReno
/// RFC 6582 without SACK; RFC 6675 or RACK-TLP RFC 8985 with it) and the congestion-control algorithm it drives.
/// This file takes ACKs; Sender.Output.cs decides what goes out next; Sender.Recovery.cs detects and repairs loss;
/// Sender.Undo.cs runs F-RTO and undoes a timeout found spurious, Sender.RecoveryUndo.cs a fast recovery.
/// </summary>
internal sealed partial class Sender
{
    private readonly TcpConfig _config;
    private readonly ConnectionTimers _timers;
    private readonly RetransmissionQueue _queue;
    private readonly Rack _rack = new();
    // Delivery-rate estimation, kept by the congestion control that reads its samples (BBR); null otherwise, so a CUBIC
    // connection pays nothing for it (issue 10's 2 KB per idle connection).
    private DeliveryRateEstimator? RateEstimator => _congestion.DeliveryRate;
    private CongestionControl _congestion;
    // The SYN (or SYN-ACK) timed, never a retransmitted one (Karn's rule, RFC 6298 §3).
    private SeqNumber? _rttSeq;
    private TimeSpan _rttStart;
    // The last TryNext stopped because cwnd, not the peer's window or the application, was the limit.
    private bool CwndLimited { get => Has(SenderFlags.CwndLimited); set => Set(SenderFlags.CwndLimited, value); }
    // RFC 7661's cwnd validation as Linux's tcp_cwnd_validate keeps it: whether a dispatch of the current window was
    // cwnd-limited, and the most sent and not acknowledged (FlightSize) after one; both renew once SND.UNA passes
    // the SND.MAX of their last update (the window has been acknowledged).
    private bool WindowCwndLimited { get => Has(SenderFlags.WindowCwndLimited); set => Set(SenderFlags.WindowCwndLimited, value); }
    private int _maxFlightInWindow;
    // The engine's counters, for what the sender decides as Linux counts it (delivered, D-SACKs, loss probes).
    private readonly EngineCounters _counters;
    private SeqNumber _cwndUsageEnd;

    public Sender(TcpConfig config, SeqNumber iss, ConnectionTimers timers, BufferPool pool, EngineCounters counters)
    {
        _counters = counters;
        _queue = new RetransmissionQueue(pool);
        _config = config;
        _timers = timers;
        Iss = iss;
        SndUna = SndMax = _sndSml = iss;
        _recoveryPoint = iss;
        _cwndUsageEnd = iss;
        Buffer = new SendBuffer(pool, config.SendBufferSize, iss + 1, config.SendBufferAccounting == SendBufferAccounting.LinuxTruesize ? MaxSizeGoal : 0);
        Rto = new RtoEstimator(config);
        Mss = 536;
        _congestion = CongestionControl.Create(config.CongestionControl, config.InitialWindowSegments * Mss, seed: Seed, cubic: config.CubicArithmetic);
    }

    // BBR's random gain phase comes from the ISS: random per connection, the same in a replayed test.
    private uint Seed => Iss.Value;

    public SeqNumber Iss { get; }
    /// <summary>SND.UNA: oldest unacknowledged sequence number.</summary>
    public SeqNumber SndUna { get; private set; }
    /// <summary>Highest sequence number sent so far plus one (BSD's snd_max; RFC 6675 HighData).</summary>
    public SeqNumber SndMax { get; private set; }
    /// <summary>SND.NXT: the next sequence number to send: the oldest segment waiting to be resent, else SND.MAX.</summary>
    public SeqNumber SndNxt
    {
        get
        {
            int lost = _queue.FirstAwaitingRetransmission();
            return lost >= 0 ? _queue[lost].Start : SndMax;
        }
    }
    /// <summary>SND.WND: the peer's window, scaled.</summary>
    public uint SndWnd { get; private set; }
    /// <summary>SND.WL1: segment sequence number used for the last window update.</summary>
    public SeqNumber SndWl1 { get; private set; }
    /// <summary>SND.WL2: segment acknowledgment number used for the last window update.</summary>
    public SeqNumber SndWl2 { get; private set; }
    /// <summary>The largest window the peer has offered (RFC 1122 §4.2.3.4 Max(SND.WND)).</summary>
    public uint MaxSndWnd { get; private set; }
    /// <summary>Shift applied to the windows the peer sends.</summary>
    public int WindowShift { get; set; }
    /// <summary>Largest payload sent in one segment.</summary>
    public int Mss { get; private set; }

    public SendBuffer Buffer { get; }
    public RtoEstimator Rto { get; }
    /// <summary>Timestamps were negotiated: RTT comes from TSecr (RFC 7323 §4.1), and RACK tells copies apart by it.</summary>
    public TimestampState? Timestamps { get; set; }
    /// <summary>SACK was negotiated: the scoreboard, RFC 6675 and RACK-TLP apply.</summary>
    public bool Sack { get; set; }
    // RACK (RFC 8985 §6) and the tail loss probe (§7) need SACK; each can be turned off on its own.
    private bool Rack => Sack && _config.Rack;
    private bool TailLossProbe => Sack && _config.TailLossProbe;
    // TcpConfig.RackRules: Linux's reordering test, RACK.rtt, DupThresh and SACK block order instead of RFC 8985's (told
    // to Rack on each call rather than held there, which would grow every connection's Rack by a word).
    private bool LinuxRack => _config.RackRules == RackRules.Linux;

    public CongestionControlAlgorithm Algorithm
    {
        get => _congestion.Algorithm;
        set
        {
            if (value != _congestion.Algorithm) _congestion = CongestionControl.Create(value, _congestion.Window, _congestion.SlowStartThreshold, Seed, _config.CubicArithmetic);
        }
    }
    /// <summary>cwnd: PRR's during a recovery (unless undone) or an ECN reduction; BBR sets its own throughout.</summary>
    public int CongestionWindow => _congestion.IsRateBased ? _congestion.Window
        : InCwr ? _prr?.Window ?? _congestion.Window // an ECN reduction's PRR (Sender.Ecn.cs)
        : InRecovery && _prr is { Undone: false } prr ? prr.Window
        : _congestion.Window;
    public int SlowStartThreshold => _congestion.SlowStartThreshold;
    internal CongestionControl CongestionControl => _congestion;

    /// <summary>Consecutive retransmission timeouts without progress; a new ACK starts the count over.</summary>
    public int Retries
    {
        get;
        private set
        {
            field = value;
            if (value == 0) _refusedTimeouts = 0; // a new stall counts its refused resends anew
        }
    }
    /// <summary>Segments sent again, by any cause, over the connection's life (Linux tcpi_total_retrans).</summary>
    public int Retransmissions { get; private set; }
    /// <summary>Sequence space sent again (payload and FIN) over the connection's life.</summary>
    public long BytesRetransmitted { get; private set; }
    /// <summary>Sequence space acknowledged after the SYN (data and FIN) over the connection's life (Linux tcpi_bytes_acked).</summary>
    public long BytesAcked { get; private set; }
    /// <summary>Retransmission timeouts over the connection's life.</summary>
    public int Timeouts { get; private set; }

    /// <summary>Sequence space sent and not acknowledged (RFC 5681 FlightSize).</summary>
    public int FlightSize => SndMax - SndUna;
    /// <summary>
    /// What is still in the network (RFC 6675 "pipe", Linux tcp_packets_in_flight): sent, minus SACKed, minus deemed
    /// lost, plus retransmissions in flight (a path MTU probe counting as one segment, Sender.MtuProbe.cs).
    /// </summary>
    public int InFlight => FlightSize - _queue.SackedBytes - _queue.LostBytes + _queue.RetransmittedBytes - DuplicatesDeliveredInLoss - DuplicatesDeliveredInRecovery - MtuProbeExcess;
    // Without SACK in a fast recovery, the segments duplicate ACKs reported delivered are out of the network (Linux's
    // sacked_out in tcp_packets_in_flight), so PRR counts them as SACK would (RFC 6937 §3's DeliveredData without SACK).
    private int DuplicatesDeliveredInRecovery => !Sack && InRecovery ? _dupAckDelivered * Mss : 0;
    internal RetransmissionQueue Queue => _queue;

    /// <summary>The data and FIN sent so far are all acknowledged.</summary>
    public bool AllAcknowledged => SndUna == SndMax;
    /// <summary>Our FIN has been sent (SND.MAX is past it).</summary>
    public bool FinSent => Buffer.FinQueued && SndMax == Buffer.End + 1;
    /// <summary>Our FIN has been sent and everything up to and including it is acknowledged.</summary>
    public bool FinAcknowledged => FinSent && SndUna == SndMax;
    /// <summary>There are bytes, or a FIN, to send or resend.</summary>
    public bool HasDataOrFinToSend => _queue.AwaitingBytes > 0 || SndMax < Buffer.End || Buffer.FinQueued && SndMax == Buffer.End;

    /// <summary>
    /// The handshake settled the MSS. Options every segment carries (timestamps) come out of it, so payload and
    /// options fit what the peer can take (RFC 9293 §3.7.1 Eff.snd.MSS; Linux's mss_cache). The initial window follows
    /// (RFC 6928).
    /// </summary>
    public void SetMss(int peerMss, int fixedOptionBytes)
    {
        Mss = Math.Max(NegotiatedOptions.MinSendMss, peerMss - fixedOptionBytes);
        _congestion = CongestionControl.Create(_congestion.Algorithm, _config.InitialWindowSegments * Mss, seed: Seed, cubic: _config.CubicArithmetic);
    }

    // ───────────── the SYN ─────────────

    /// <summary>Our SYN (or SYN-ACK) left: SND.MAX passes it, the RTO runs, and it is timed unless it is a retransmission.</summary>
    public void OnSynSent(TimeSpan now, bool retransmission, bool keepDeadline = false)
    {
        if (SndMax < Iss + 1) SndMax = Iss + 1;
        if (retransmission)
        {
            Retransmissions++;
            BytesRetransmitted++;
            _rttSeq = null; // Karn's rule: the ACK may answer either copy
        }
        else
        {
            _rttSeq = Iss + 1;
            _rttStart = now;
        }
        // Every SYN-ACK restarts the timer, one resent for a repeated SYN too (Linux's tcp_check_req); a Fast Open child's
        // for a repeated SYN keeps it, as Linux's socket timer is not the request's (keepDeadline).
        if (!keepDeadline || !_timers.IsArmed(TcpTimer.Retransmission)) _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
    }

    /// <summary>
    /// The peer repeated its SYN and our SYN-ACK goes again: that uses up a retry as a timeout does, so a peer that keeps
    /// repeating cannot hold a SYN-queue entry for ever (docs/design.md "Security"). False when the retries are spent.
    /// </summary>
    public bool TakeSynAckRetry(int retryLimit)
    {
        if (Retries >= retryLimit) return false;
        Retries++;
        return true;
    }

    /// <summary>When our first SYN (or SYN-ACK) left (Linux's retrans_stamp in SYN-SENT): retransmissions do not move it.</summary>
    public TimeSpan FirstSynSentAt => _rttStart;

    /// <summary>A SYN cookie's SYN-ACK left before this connection existed: SND.MAX passes it, with nothing to time.</summary>
    public void AssumeSynSent() => SndMax = Iss + 1;

    /// <summary>
    /// The peer acknowledged our SYN in <paramref name="seg"/> (SEG.ACK = ISS+1) and offered <paramref name="window"/>.
    /// <paramref name="passiveOpen"/>: the ACK that completes a passive open, whose window replaces the SYN's as the
    /// largest seen (Linux's tcp_create_openreq_child sets max_window from it). <paramref name="ack"/>: the SYN's part of
    /// the acknowledgment when it also covers data a Fast Open SYN carried (that part is taken as an ACK of data).
    /// </summary>
    public void OnSynAcknowledged(TimeSpan now, in TcpSegment seg, uint window, bool passiveOpen = false, SeqNumber? ack = null, bool simultaneousOpen = false)
    {
        if (passiveOpen) MaxSndWnd = 0;
        SndUna = ack ?? seg.AcknowledgmentNumber;
        // Our SYN (tcp_ack cleans it from the queue) or SYN-ACK (tcp_rcv_state_process's delivered++ in SYN_RECV) arrived;
        // after a simultaneous open both count, the SYN-ACK being our queued SYN (2 on Linux 6.18). Only what tcp_ack
        // cleaned from the queue is TCPDelivered: our SYN, never a listener's SYN-ACK (a Fast Open child's too, which
        // its request sock sends).
        CountDelivered(simultaneousOpen ? 1 : 0, ecnEcho: false, inAck: false);
        CountDelivered(1, ecnEcho: false, inAck: !passiveOpen);
        DecideHandshakeLossWindow(seg);
        // A Fast Open child's SYN-ACK is timed after its handshake's ACK has been through tcp_ack (OnFastOpenHandshakeDone).
        if (!SynAckOutstanding) TakeRttSample(now, SndUna, seg.Options.Timestamp?.EchoReply);
        Retries = 0;
        _timers.Cancel(TcpTimer.Retransmission);
        SndWnd = window;
        SndWl1 = seg.SequenceNumber;
        SndWl2 = seg.AcknowledgmentNumber;
        MaxSndWnd = Math.Max(MaxSndWnd, SndWnd);
    }

    /// <summary>The peer's SYN offered <paramref name="window"/> before it acknowledged anything (passive or simultaneous open).</summary>
    public void TakeSynWindow(SeqNumber seq, uint window)
    {
        SndWnd = window;
        SndWl1 = seq;
        MaxSndWnd = Math.Max(MaxSndWnd, window);
    }

    // ───────────── ACKs ─────────────

    /// <summary>
    /// RFC 9293 §3.10.7.4 fifth, for SND.UNA ≤ SEG.ACK ≤ SND.MAX: takes SACK blocks and the cumulative ACK, measures
    /// RTT, detects loss and runs recovery. <paramref name="mayBeDuplicate"/>: the segment carries no data, SYN or FIN
    /// and does not change the window (RFC 5681 §2's duplicate ACK, when SEG.ACK = SND.UNA). <paramref name="ecnEcho"/>:
    /// it carries ECE on an ECN connection (RFC 3168 §6.1.2). True when that echo started a window reduction.
    /// </summary>
    public bool OnAck(TimeSpan now, SeqNumber ack, in TcpOptions options, bool mayBeDuplicate, bool ecnEcho = false)
    {
        int flightBefore = FlightSize;
        int sackedBefore = _queue.SackedBytes;
        int segmentsBefore = _queue.Count, sackedSegmentsBefore = _queue.SackedSegments, dupAckSegmentsBefore = _dupAckDelivered;
        DeliveryRateSample sample = DeliveryRateEstimator.BeginAck(InFlight, _queue.LostBytes);
        _probesInStall = 0; // the peer answered: the stall, if any, is over
        uint? echo = Timestamps is not null ? options.Timestamp?.EchoReply : null;
        bool newAck = ack > SndUna;
        int acked = newAck ? ack - SndUna : 0;
        bool dsack = false;
        TimeSpan? rttSample = null;
        bool probeAcknowledged = false; // a path MTU probe's ACK: the segment size grew (Sender.MtuProbe.cs)
        bool inLoss = InLoss; // the phase this ACK arrived in (Linux's ca_state before tcp_fastretrans_alert)
        // Data below the recovery point never resent, newly acknowledged or SACKed (Linux's FLAG_ORIG_SACK_ACKED).
        bool originalDelivered = false;
        // Without timestamps, when the oldest segment this ACK newly SACKs left, none ever resent (Linux's first_sackt).
        TimeSpan sackTimedAt = TimeSpan.MinValue;
        if (Rack) _rack.BeginAck();
        int newlySacked = Sack && options.SackBlocks.Length > 0 ? TakeSackBlocks(now, ack, options.SackBlocks, ref sample, ref sackTimedAt, ref originalDelivered, out dsack) : 0;
        int duplicatesDelivered = dsack ? TakeDuplicateReport(options.SackBlocks[0], ack) : 0;
        // The copy is in tp->delivered, and so in the rate sample's acked and delivered (tcp_dsack_seen, tcp_rate_gen).
        if (duplicatesDelivered > 0) RateEstimator?.OnDuplicateDelivered(ref sample, duplicatesDelivered * Mss);
        int sackedSegments = _queue.SackedSegments;
        if (newAck)
        {
            TimeSpan? ackTimedAt = Timestamps is null ? OldestNewlyAcknowledged(ack) : null;
            rttSample = TakeCumulativeAck(now, ack, echo, ref sample, ref originalDelivered);
            TakeRttSample(now, ack, echo, flightBefore, ackTimedAt ?? (sackTimedAt == TimeSpan.MinValue ? null : sackTimedAt));
            probeAcknowledged = TakeMtuProbeAck(); // Sender.MtuProbe.cs
            Retries = 0; // progress: the retry budget starts over (the backed-off RTO stays until an RTT sample, RFC 6298 §5.7)
        }
        if (Rack) _rack.OnAck(DsackWidensReorderWindow(duplicatesDelivered, options.SackBlocks), SndUna, SndMax, LinuxRack, _queue.Transmissions);
        if (TailLossProbe) TakeAckOfProbe(now, ack, dsack, options.SackBlocks.Length > 0, newAck);

        // Segments whole, newly SACKed or acknowledged and not SACKed before (tp->delivered, the SACK case of tcp_clean_rtx_queue),
        // counted before recovery may cut a lost path MTU probe into more (Sender.MtuProbe.cs).
        int ackedSegments = segmentsBefore - _queue.Count - (sackedSegments - _queue.SackedSegments);
        bool duplicate = !newAck && (Sack ? newlySacked > 0 : mayBeDuplicate && ack == SndUna && SndMax > SndUna && !HeldAtRecoveryPoint);
        bool wasInRecovery = InRecovery;
        int awaitingBefore = _queue.AwaitingBytes;
        // A valid D-SACK makes no duplicate for F-RTO (Linux's FLAG_DSACKING_ACK leaves num_dupack 0).
        if (inLoss && _config.Frto) ProcessLoss(newAck, originalDelivered, newlySacked > 0, duplicate: !newAck && mayBeDuplicate && SndMax > SndUna && duplicatesDelivered == 0, echo);
        // Without SACK each duplicate ACK was a segment delivered (RFC 5681 §3.2); the ACKs that follow count only what
        // the duplicates did not, at least the hole's segment, whether one ACK covers them or several (Linux's
        // tcp_remove_reno_sacks, in tcp_clean_rtx_queue, before tcp_fastretrans_alert may reset the count).
        int renoDelivered = Sack ? 0 : TakeDuplicateDeliveries(newAck, acked, duplicate);
        int renoSegments = Sack ? 0 : RenoDeliveredSegments(newAck, ackedSegments, dupAckSegmentsBefore);
        EndCwrIfDone(); // Linux checks the CWR state's end before it looks for loss (tcp_fastretrans_alert)
        DetectAndRecover(now, newAck, acked, duplicate, echo);
        // Linux's tcp_enter_recovery(ece_ack): a recovery the echoing ACK starts keeps no ssthresh to undo to.
        if (ecnEcho && InRecovery && !wasInRecovery && _undo is not null) _undo.Armed = false;
        // RFC 3168 §6.1.2: an echo outside any reduction starts one (Linux's tcp_try_to_open); with nothing in flight
        // before this ACK Linux's tcp_ack ignores it (no_queue).
        bool ecnReduction = ecnEcho && Ecn && flightBefore > 0 && OnEcnEcho(now);
        // What this ACK delivered: bytes SACKed earlier were delivered then, and count no more (Linux's tp->delivered;
        // RFC 5681 §3.1 counts bytes newly acknowledged).
        int delivered = Sack ? acked + _queue.SackedBytes - sackedBefore : renoDelivered;
        int deliveredSegments = Sack ? sackedSegments - sackedSegmentsBefore + ackedSegments + duplicatesDelivered : renoSegments;
        CountDelivered(deliveredSegments, ecnEcho);
        // cwnd grows from ACKs of new data outside a reduction. Once reordering beyond DupThresh has been seen, an ACK that
        // only SACKs data grows it too (Linux's tcp_may_raise_cwnd); a D-SACK alone never does.
        bool forward = newAck || delivered > 0 && Reordering > DupThresh;
        // A needless copy D-SACK reports left the network too: it counts as delivered, for growth and PRR alike (Linux's
        // tcp_dsack_seen; docs/design.md "RACK's rules, RFC 8985's or Linux's", its "The ACK that ends a recovery").
        delivered += duplicatesDelivered * Mss;
        // The probe's ACK delivered segments of the old size: each counts a segment of the new one (Linux's packets).
        if (probeAcknowledged) delivered = deliveredSegments * Mss;
        // The ACK that ends a recovery grows cwnd as well, from the ssthresh it has just set (or the window an undo
        // restored), by what it delivered (Linux's tcp_cong_control once tcp_fastretrans_alert left Recovery).
        bool grows = !InRecovery && !InCwr && forward;
        if (grows)
        {
            _congestion.OnAck(new AckSample(now, delivered, Mss, Rto.SmoothedRtt, Rto.MinRtt, IsCwndLimited, rttSample, SndUna, SndMax));
        }
        else if ((InRecovery || InCwr) && !_congestion.IsRateBased)
        {
            // Without SACK PRR counts a segment per duplicate ACK (Linux's tcp_add_reno_sack adds it to tp->delivered).
            int reduced = InRecovery && !Sack ? renoSegments * Mss : delivered;
            ReduceWindow(reduced, newAck, newlyLost: _queue.AwaitingBytes > awaitingBefore);
        }
        // Linux's pkts_acked runs on every ACK of data, in a reduction too: CUBIC's delay_min takes its sample.
        if (rttSample is not null && !grows && (InRecovery || wasInRecovery || InCwr))
        {
            _congestion.TakeRttSample(new AckSample(now, delivered, Mss, Rto.SmoothedRtt, Rto.MinRtt, IsCwndLimited, rttSample, SndUna, SndMax));
        }
        CountSlowStartEnd(_congestion.TakeSlowStartEnd()); // CUBIC's HyStart may have ended slow start on this ACK's sample
        // Every ACK, in recovery too, gives a delivery-rate sample to the algorithms that model the path (BBR).
        if (RateEstimator is DeliveryRateEstimator rate)
        {
            // Losses: what is deemed lost now, less what was before, plus what this ACK delivered of what was deemed lost.
            rate.EndAck(ref sample, now, Rto.MinRtt, _queue.LostBytes + sample.LostDelivered);
            var rateAck = new RateAck(now, Mss, InFlight, CongestionState, Rto.SmoothedRtt, Rto.MinRtt, rate.Delivered, rate.DeliveredTime);
            if (_congestion.OnRateSample(sample, rateAck)) rate.MarkAppLimited(InFlight);
        }

        // RFC 6298 §5.2–5.3: stop the timer when everything is acknowledged, otherwise restart it on new data acknowledged.
        if (SndUna == SndMax)
        {
            _timers.Cancel(TcpTimer.Retransmission);
            _timers.Cancel(TcpTimer.ReorderTimeout);
        }
        else if (newAck)
        {
            _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
        }
        // RFC 8985 §7.2: an ACK of new data restarts the probe timer; one that only SACKs or repeats leaves it (Linux's
        // FLAG_SET_XMIT_TIMER comes with FLAG_ACKED).
        ArmLossProbe(now, restart: newAck);
        return ecnReduction;
    }

    /// <summary>
    /// <see cref="RackRules.Linux"/>: an ACK below SND.UNA (within RFC 5961 §5.2's range) with SACK blocks, which
    /// RFC 9293 §3.10.7.4 ignores. As Linux's tcp_ack takes it (old_ack): the blocks are taken, losses detected and
    /// recovery run, so what they free of cwnd is sent; no RTT, no cwnd change, no timer, no loss probe. True when it
    /// SACKed data or found losses (the connection then sends).
    /// </summary>
    public bool OnOldAck(TimeSpan now, SeqNumber ack, in TcpOptions options)
    {
        if (!Sack || !LinuxRack || options.SackBlocks.Length == 0 || SndUna == SndMax) return false;
        DeliveryRateSample sample = DeliveryRateEstimator.BeginAck(InFlight, _queue.LostBytes); // tagged, never used: no tcp_rate_gen
        uint? echo = Timestamps is not null ? options.Timestamp?.EchoReply : null;
        bool inLoss = InLoss;
        bool originalDelivered = false;
        TimeSpan sackTimedAt = TimeSpan.MinValue;
        int awaitingBefore = _queue.AwaitingBytes;
        if (Rack) _rack.BeginAck();
        int newlySacked = TakeSackBlocks(now, ack, options.SackBlocks, ref sample, ref sackTimedAt, ref originalDelivered, out bool dsack);
        // What it SACKs is never counted delivered, now or when acknowledged (Linux 6.18 adds tcp_sacktag_one's
        // sack_delivered only past old_ack: tcpi_delivered and TCPDelivered 8, not 11, after
        // tests/scripts/sack/rack-linux-sacks-of-an-ack-below-snd-una.pkt); a D-SACK in it is taken (tcp_dsack_seen).
        int duplicates = dsack ? TakeDuplicateReport(options.SackBlocks[0], ack) : 0;
        if (Rack) _rack.OnOldAck(DsackWidensReorderWindow(duplicates, options.SackBlocks));
        // tcp_fastretrans_alert with no duplicate counted (num_dupack 0) and SND.UNA where it was.
        if (inLoss && _config.Frto) ProcessLoss(newAck: false, originalDelivered, newlySacked > 0, duplicate: false, echo);
        EndCwrIfDone();
        DetectAndRecover(now, newAck: false, acked: 0, duplicate: false, echo);
        return newlySacked > 0 || _queue.AwaitingBytes > awaitingBefore;
    }

    /// <summary>
    /// Without SACK: what a cumulative ACK delivered, less the segments duplicate ACKs already reported (at least the
    /// hole's segment), and the duplicates' count updated (Linux's tcp_add_reno_sack, tcp_remove_reno_sacks).
    /// </summary>
    private int TakeDuplicateDeliveries(bool newAck, int acked, bool duplicate)
    {
        if (duplicate) _dupAckDelivered = Math.Min(_dupAckDelivered + 1, Math.Max(0, Segments(FlightSize) - 1));
        if (!newAck || _dupAckDelivered == 0) return acked;
        int counted = _dupAckDelivered;
        int ackedSegments = Segments(acked);
        _dupAckDelivered = ackedSegments - 1 >= counted ? 0 : counted - (ackedSegments - 1);
        return Math.Max(acked - counted * Mss, Math.Min(acked, Mss));
    }

    /// <summary>
    /// cwnd is the limit, so it may grow (RFC 7661 §4.1, Linux tcp_is_cwnd_limited): a dispatch of this window was
    /// cwnd-limited, or in slow start cwnd is under twice the most that was in flight in it (slow start may double what
    /// was sent, not more).
    /// </summary>
    private bool IsCwndLimited =>
        WindowCwndLimited || _congestion.Window < _congestion.SlowStartThreshold && _congestion.Window < 2 * (long)_maxFlightInWindow;

    /// <summary>
    /// A dispatch ended (Linux tcp_cwnd_validate after tcp_write_xmit): records whether cwnd was its limit and the most
    /// in flight, for the window that is in flight now.
    /// </summary>
    public void EndBurst()
    {
        HoldForMore = false; // MSG_MORE held this dispatch only (see HoldsPartial)
        FrtoNewData = false; // F-RTO's new data goes in the dispatch after its ACK only
        UndoHold = false; // so does a partial undo's hold
        bool limited = CwndLimited || InFlight >= CongestionWindow;
        // Linux tcp_rate_check_app_limited: the application, not cwnd or loss, left the pipe unfilled.
        if (!limited && NotSentBytes < Mss && _queue.AwaitingBytes == 0 && SndMax > Iss) RateEstimator?.MarkAppLimited(InFlight);
        // Linux validates cwnd in tcp_write_xmit only, which runs while new data or a FIN waits: a dispatch that only
        // resent (the retransmission timer's, a recovery's) leaves the mark as the last new data set it.
        if (!BurstSent && !(limited && (SndMax < Buffer.End || Buffer.FinQueued && SndMax == Buffer.End))) return;
        if (SndUna >= _cwndUsageEnd || limited || !WindowCwndLimited && FlightSize > _maxFlightInWindow)
        {
            WindowCwndLimited = limited;
            _maxFlightInWindow = FlightSize;
            _cwndUsageEnd = SndMax;
        }
    }

    /// <summary>
    /// RFC 2018 §4 / RFC 6675 Update(): marks the segments each block covers whole as SACKed. The first block is a
    /// D-SACK (RFC 2883 §4) when it starts below the cumulative ACK or lies inside the second block; it reports a
    /// duplicate and marks nothing. Returns the sequence space newly SACKed.
    /// </summary>
    private int TakeSackBlocks(TimeSpan now, SeqNumber ack, ReadOnlySpan<SackBlock> blocks, ref DeliveryRateSample sample, ref TimeSpan sackTimedAt,
        ref bool originalDelivered, out bool dsack)
    {
        dsack = false;
        int newlySacked = 0;
        SeqNumber? lowestReordered = null; // Linux's tcp_sacktag_state.reord, kept here rather than in every Rack
        // Linux's rules take the blocks in sequence order (tcp_sacktag_write_queue sorts them), so RACK.rtt ends with the highest.
        Span<int> order = stackalloc int[TcpOptions.MaxSackBlocks];
        order = order[..blocks.Length];
        for (int k = 0; k < order.Length; k++)
        {
            int at = k;
            while (LinuxRack && at > 0 && blocks[order[at - 1]].Left > blocks[k].Left)
            {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = k;
        }
        foreach (int b in order)
        {
            SackBlock block = blocks[b];
            // RFC 2883 §4 / Linux's tcp_check_dsack: the first block starts below the ACK (however far it reaches, even empty:
            // tcp_dsack_seen then finds it dubious) or lies inside the second.
            if (b == 0 && (block.Left < ack || blocks.Length > 1 && block.Left >= blocks[1].Left && block.Right <= blocks[1].Right))
            {
                dsack = true;
                CountDuplicateReport(block, ack);
                continue;
            }
            if (!IsValidSackBlock(block, ack))
            {
                CountDiscardedSackBlock(block, ack); // a block about data never sent, empty, or stale: ignored
                continue;
            }
            for (int i = _queue.IndexEndingAfter(block.Left); i < _queue.Count; i++)
            {
                ref SentSegment segment = ref _queue[i];
                if (segment.Start >= block.Right) break;
                // Only whole segments count; a block cutting one (another MSS, a trimmed window) leaves it to the ACK.
                if (segment.Start < block.Left || segment.End > block.Right || segment.Is(SegmentMarks.Sacked)) continue;
                if (Rack && _rack.OnDelivered(segment, now, Rto.MinRtt, echoPredatesSend: false, Mss, LinuxRack) && !(lowestReordered <= segment.Start)) lowestReordered = segment.Start;
                RateEstimator?.OnDelivered(ref sample, segment, now);
                if (!segment.Is(SegmentMarks.EverRetransmitted) && (sackTimedAt == TimeSpan.MinValue || segment.SentAt < sackTimedAt)) sackTimedAt = segment.SentAt;
                originalDelivered |= !segment.Is(SegmentMarks.EverRetransmitted) && segment.End <= _recoveryPoint;
                _queue.MarkSacked(ref segment);
                newlySacked += segment.Length;
            }
        }
        if (Rack) _rack.EndDeliveries(Mss, LinuxRack, lowestReordered ?? default);
        return newlySacked;
    }

    /// <summary>
    /// Linux's tcp_is_sackblock_valid for a block not taken as a D-SACK: not empty, within what was sent, and starting
    /// above SND.UNA (which the ACK moves to <paramref name="ack"/> when it is above).
    /// </summary>
    private bool IsValidSackBlock(SackBlock block, SeqNumber ack) =>
        block.Left < block.Right && block.Right <= SndMax && block.Left > (ack > SndUna ? ack : SndUna);

    /// <summary>
    /// An invalid SACK block (a dubious D-SACK among them, judged as a plain one) counts as Linux's tcp_sacktag_write_queue
    /// counts it, TCPSACKDiscard: not with nothing in flight (it stops before the blocks), nor a block below SND.UNA on an
    /// ACK below it (ACK reordering).
    /// </summary>
    private void CountDiscardedSackBlock(SackBlock block, SeqNumber ack)
    {
        if (SndMax == SndUna || ack < SndUna && block.Right <= SndUna) return;
        _counters.Count(MibCounter.TcpExtTCPSACKDiscard);
    }

    /// <summary>
    /// Removes what <paramref name="ack"/> acknowledges. Returns the RTT of the newest newly acknowledged segment, none if a
    /// retransmission was among them (Linux's ca_rtt_us from last_ackt, dropped with FLAG_RETRANS_DATA_ACKED): what
    /// CUBIC's HyStart watches.
    /// </summary>
    private TimeSpan? TakeCumulativeAck(TimeSpan now, SeqNumber ack, uint? echo, ref DeliveryRateSample sample, ref bool originalDelivered)
    {
        TimeSpan? newestSent = null;
        bool retransmitted = false;
        SeqNumber? lowestReordered = null;
        for (int i = 0; i < _queue.Count; i++)
        {
            ref SentSegment segment = ref _queue[i];
            if (segment.Is(SegmentMarks.Sacked)) continue; // delivered when it was SACKed
            if (segment.End > ack)
            {
                if (segment.Start < ack) RateEstimator?.OnPartlyDelivered(ref sample, segment, ack - segment.Start);
                break;
            }
            if (Rack && _rack.OnDelivered(segment, now, Rto.MinRtt, EchoPredates(echo, segment.SentAt), Mss, LinuxRack) && lowestReordered is null) lowestReordered = segment.Start;
            RateEstimator?.OnDelivered(ref sample, segment, now);
            retransmitted |= segment.Is(SegmentMarks.EverRetransmitted);
            originalDelivered |= !segment.Is(SegmentMarks.EverRetransmitted) && segment.End <= _recoveryPoint;
            if (newestSent is null || segment.SentAt > newestSent) newestSent = segment.SentAt;
        }
        if (Rack) _rack.EndDeliveries(Mss, LinuxRack, lowestReordered ?? default);
        _queue.RemoveAcknowledged(ack);
        Buffer.AcknowledgeUpTo(ack);
        BytesAcked += ack - SndUna;
        SndUna = ack;
        return retransmitted || newestSent is null ? null : now - newestSent.Value;
    }

    /// <summary>The echoed TSval is older than our TSval when the segment was last sent: the ACK answers an earlier copy.</summary>
    private bool EchoPredates(uint? echo, TimeSpan sentAt) =>
        echo is uint e && Timestamps is not null && unchecked((int)(e - Timestamps.Value(sentAt))) < 0;

    /// <summary>
    /// Without timestamps, when the oldest segment <paramref name="ack"/> newly acknowledges left (not counting those SACKed
    /// before); none when any of them was ever resent (Karn's rule, RFC 6298 §3), as Linux's tcp_clean_rtx_queue times them.
    /// </summary>
    private TimeSpan? OldestNewlyAcknowledged(SeqNumber ack)
    {
        TimeSpan? oldest = null;
        for (int i = 0; i < _queue.Count && _queue[i].Start < ack; i++)
        {
            SentSegment segment = _queue[i];
            if (segment.Is(SegmentMarks.EverRetransmitted)) return null;
            if (!segment.Is(SegmentMarks.Sacked)) oldest ??= segment.SentAt;
        }
        return oldest;
    }

    /// <summary>
    /// RTT: with timestamps from TSecr on every ACK of new data, retransmissions included (RFC 7323 §4.1), with the
    /// gains spread over the samples expected per RTT (Appendix G); without, on every ACK from the oldest segment it
    /// newly acknowledges or else newly SACKs, none ever resent (RFC 6298 §3 allows more than one sample per RTT; Linux
    /// tcp_ack_update_rtt). The SYN is timed on its own.
    /// </summary>
    private void TakeRttSample(TimeSpan now, SeqNumber ack, uint? echo, int flightSize = 0, TimeSpan? dataSentAt = null)
    {
        if (Timestamps is not null && echo is uint e && Timestamps.Elapsed(now, e) is TimeSpan sample)
        {
            _rttSeq = null;
            Rto.AddSample(sample, (flightSize + 2 * Mss - 1) / (2 * Mss), SndUna, SndMax);
            return;
        }
        if (_rttSeq is SeqNumber timed && ack >= timed)
        {
            Rto.AddSample(now - _rttStart, 1, SndUna, SndMax);
            _rttSeq = null;
            return;
        }
        if (Timestamps is null && dataSentAt is TimeSpan sentAt) Rto.AddSample(now - sentAt, 1, SndUna, SndMax);
    }

    /// <summary>RFC 9293 §3.10.7.4: takes the window from segments newer than the last update. True when it changed.</summary>
    public bool UpdateWindow(TimeSpan now, SeqNumber seq, SeqNumber ack, uint window)
    {
        if (!(SndWl1 < seq || SndWl1 == seq && SndWl2 <= ack)) return false;
        bool changed = window != SndWnd;
        // Linux's tcp_ack_update_window: a new window with data waiting may follow an idle period (RFC 5681 §4.1).
        if (changed && SndMax < Buffer.End) RestartAfterIdle(now);
        bool opened = SndWnd == 0 && window > 0;
        SndWnd = window;
        SndWl1 = seq;
        SndWl2 = ack;
        MaxSndWnd = Math.Max(MaxSndWnd, window);
        if (opened)
        {
            _timers.Cancel(TcpTimer.Persist);
            _persistBackoff = 0;
            ProbeStart = null;
        }
        return changed;
    }

    /// <summary>The connection closed: nothing more will be sent or timed.</summary>
    public void Stop()
    {
        ProbeDue = false;
        ProbePairDue = false;
        _probesInStall = 0;
        ForceRetransmission = false;
        ReleaseMemory();
    }

    /// <summary>Nothing will be (re)sent: the send buffer's chunks and the queue's ring go back to the pool.</summary>
    public void ReleaseMemory()
    {
        Buffer.Release();
        _queue.Release();
    }
}
