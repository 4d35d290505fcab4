using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>Loss detection and recovery: NewReno without SACK, RFC 6675 or RACK-TLP with it, and the timeout.</summary>
internal sealed partial class Sender
{
    /// <summary>RFC 5681 §3.2 / RFC 6675 DupThresh.</summary>
    private const int DupThresh = 3;
    /// <summary>RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK a lone segment's probe must wait out.</summary>
    private static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);
    /// <summary>Linux's TCP_TIMEOUT_MIN_US: what a probe waits beyond 2 SRTT when more than one segment is out.</summary>
    private static readonly TimeSpan ProbeTimeoutMargin = TimeSpan.FromMilliseconds(2);

    public bool InRecovery { get => Has(SenderFlags.InRecovery); private set => Set(SenderFlags.InRecovery, value); }
    // "recover" (RFC 6582) / RecoveryPoint (RFC 6675): SND.MAX when recovery (or the last timeout) began. Outside
    // recovery it follows SND.UNA, so it never falls 2^31 behind and turns fast retransmit off by wrapping.
    private SeqNumber _recoveryPoint;
    // A timeout or a lost path MTU probe set the recovery point (Linux's TCP_CA_Loss); a fast recovery clears it.
    private bool LossPhase { get => Has(SenderFlags.LossPhase); set => Set(SenderFlags.LossPhase, value); }

    /// <summary>
    /// Without SACK the Loss phase holds at its recovery point until data above it is acknowledged (Linux's
    /// tcp_is_non_sack_preventing_reopen, RFC 6582 §3.2's "recover": a Reno duplicate ACK there may be for the resent
    /// data, not new loss), ignoring duplicate ACKs meanwhile (tcp_process_loss returns before tcp_add_reno_sack).
    /// </summary>
    private bool LossHeld => HeldAtRecoveryPoint && !InRecovery;

    /// <summary>
    /// Without SACK a Loss phase or a fast recovery holds at its recovery point until data above it is acknowledged
    /// (Linux's tcp_is_non_sack_preventing_reopen, from tcp_process_loss and tcp_try_undo_recovery): duplicate ACKs
    /// there count nothing.
    /// </summary>
    private bool HeldAtRecoveryPoint => !Sack && SndUna == _recoveryPoint && (InRecovery || LossPhase);
    // Proportional rate reduction during a fast recovery, with SACK or without (RFC 6937, Linux tcp_cwnd_reduction;
    // without SACK in NewReno's place, docs/design.md): cwnd when recovery began (RecoverFS), segments delivered and
    // sent since (counted in segments, as Linux's packets), and the window it allows now.
    // Allocated at the first recovery, so an idle connection pays only the reference.
    private ProportionalRateReduction? _prr;

    private sealed class ProportionalRateReduction
    {
        public int PriorCwnd;
        public int Delivered;
        public int Out;
        public int Window;
        // The recovery was undone at its recovery point, where a recovery without SACK holds: cwnd stays as restored.
        public bool Undone;
    }
    private int _dupAcks;
    // Without SACK: segments that duplicate ACKs reported delivered and no cumulative ACK has covered yet (Linux's
    // sacked_out under Reno), so that a later ACK does not count them again.
    private int _dupAckDelivered;
    // The next retransmission goes whatever cwnd says (RFC 5681 §3.2 step 2's fast retransmit, RFC 6675 §5 step 4.3).
    private bool ForceRetransmission { get => Has(SenderFlags.ForceRetransmission); set => Set(SenderFlags.ForceRetransmission, value); }
    // Why segments now waiting to be resent were deemed lost (the cause their retransmission events carry).
    private TcpCause _lossCause = TcpCause.RetransmissionTimeout;
    // RFC 8985 §7: the probe in flight (TLP.end_seq) and whether it was a retransmission (TLP.is_retrans).
    private SeqNumber? _probeEnd;
    private bool ProbeWasRetransmission { get => Has(SenderFlags.ProbeWasRetransmission); set => Set(SenderFlags.ProbeWasRetransmission, value); }
    // That probe left during a recovery (or a timeout's Loss phase), whose window reduction already answers the losses it may reveal.
    private bool ProbeInRecovery { get => Has(SenderFlags.ProbeInRecovery); set => Set(SenderFlags.ProbeInRecovery, value); }
    // The probe timer fired: the next dispatch sends a probe.
    private bool ProbeDue { get => Has(SenderFlags.ProbeDue); set => Set(SenderFlags.ProbeDue, value); }
    // The probe's first segment was a full one of new data: the next segment goes with it (TcpConfig.PairedProbe).
    private bool ProbePairDue { get => Has(SenderFlags.ProbePairDue); set => Set(SenderFlags.ProbePairDue, value); }
    // Probes sent since the last ACK arrived (TcpConfig.LossProbes bounds them).
    private int _probesInStall;

    /// <summary>When the stall the retransmission timeouts are in began (valid while <see cref="Retries"/> &gt; 0).</summary>
    public TimeSpan StallStart { get; private set; }
    /// <summary>Duplicate ACKs since the last cumulative ACK (RFC 5681; with SACK, ACKs that SACK new data, RFC 6675).</summary>
    public int DuplicateAcks => _dupAcks;

    /// <summary>Retransmissions deemed lost again since the last call: RACK's, or a timeout's (Linux's TCPLostRetransmit).</summary>
    public int TakeLostRetransmissions() => _queue.TakeLostRetransmissions();

    /// <summary>HyStart ended slow start on this ACK: counted by test, with cwnd then, as Linux's hystart_update counts it.</summary>
    private void CountSlowStartEnd(SlowStartEnd ended)
    {
        // Asked on every ACK: nothing found is the common case, and Enum.HasFlag boxes in unoptimized code (0 B/op tests).
        if (ended.Finding == HyStartFinding.None) return;
        if ((ended.Finding & HyStartFinding.AckTrain) != 0)
        {
            _counters.Count(MibCounter.TcpExtTCPHystartTrainDetect);
            _counters.Count(MibCounter.TcpExtTCPHystartTrainCwnd, ended.CwndSegments);
        }
        if ((ended.Finding & HyStartFinding.Delay) != 0)
        {
            _counters.Count(MibCounter.TcpExtTCPHystartDelayDetect);
            _counters.Count(MibCounter.TcpExtTCPHystartDelayCwnd, ended.CwndSegments);
        }
    }

    /// <summary>
    /// The counter a segment about to leave adds to once the device took it: a loss probe's first segment TCPLossProbes
    /// (tcp_send_loss_probe counts a probe once, however many segments its skb held); a resend of what was deemed lost
    /// TCPFastRetrans, or TCPSlowStartRetrans in a timeout's Loss phase (tcp_xmit_retransmit_queue by ca_state), except
    /// the timeout's own resend of the oldest segment (tcp_retransmit_timer calls tcp_retransmit_skb, counting neither).
    /// </summary>
    public MibCounter? SendCounter(in Transmission next) =>
        next.Probe ? (next.ProbePair ? null : MibCounter.TcpExtTCPLossProbes)
        : !next.IsRetransmission || TimeoutResendDue ? null
        // A smaller path MTU's resends and a Fast Open SYN's unacknowledged data go in Loss too (tcp_non_congestion_loss_retransmit).
        : InLoss || next.Cause is TcpCause.PathMtuReduced or TcpCause.FastOpenDataNotAcknowledged ? MibCounter.TcpExtTCPSlowStartRetrans
        : MibCounter.TcpExtTCPFastRetrans;

    /// <summary>
    /// The last ACK held a partial undo (Linux's tcp_try_undo_partial with retransmissions out): until the next ACK,
    /// nothing deemed lost is resent, as tcp_fastretrans_alert returns before REXMIT_LOST; new data may still go.
    /// </summary>
    private bool UndoHold { get => Has(SenderFlags.UndoHold); set => Set(SenderFlags.UndoHold, value); }

    private void DetectAndRecover(TimeSpan now, bool newAck, int acked, bool duplicate, uint? echo)
    {
        if (newAck) _dupAcks = 0; // RFC 6675 §5 (C); NewReno counts again from the next duplicate
        if (duplicate) _dupAcks++;

        // Linux's tcp_try_undo_partial: with retransmissions in flight, an ACK that answers an original deems nothing more lost.
        bool hold = false;
        if (InRecovery && SndUna >= _recoveryPoint)
        {
            // Without SACK the ACK of exactly the recovery point holds Recovery, and PRR's reduction with it, until data
            // above it is acknowledged (Linux's tcp_try_undo_recovery returns before tcp_end_cwnd_reduction; RFC 6582
            // §3.2 step 2's "recover"): the ACKs of the hold end nothing again.
            if (SndUna - acked != _recoveryPoint || Sack) EndReduction(undone: TryUndoRecovery(echo));
            if (HeldAtRecoveryPoint)
            {
                _dupAcks = 0;
                _dupAckDelivered = 0; // Linux's tcp_reset_reno_sack on every ACK of the hold
                return;
            }
            ExitRecovery();
        }
        else if (InRecovery)
        {
            // Sender.RecoveryUndo.cs: a partial ACK that answers an original, or D-SACKs of every retransmission, undo it.
            bool undone = newAck && TryUndoPartial(echo, SndUna - acked, out hold);
            if (!undone && !hold && TryUndoDsack()) LeaveRecoveryUndone();
            if (InRecovery && !Sack)
            {
                // RFC 6582 §3.2 step 3: a partial ACK retransmits the next hole. cwnd is PRR's, not NewReno's inflation
                // and deflation (steps 2–4), as Linux's tcp_cwnd_reduction has it without SACK too (docs/design.md).
                if (newAck && !hold) MarkHeadLost(TcpCause.FastRetransmit);
                return;
            }
        }
        else if (!InLoss)
        {
            TryUndoDsack(); // Open or Disorder: a D-SACK after the episode ended may still undo it
        }
        UndoHold = hold;
        if (hold) return;

        int lostAgainBefore = _queue.LostRetransmissions;
        if (Sack) MarkLosses(now);
        if (InRecovery) return;
        // A new recovery only once everything sent before the last one (or the last timeout) is acknowledged: with SACK
        // from the ACK of the recovery point itself, which may end one recovery and start the next (RFC 6675 §5 (4.1) and
        // §5.1; Linux's tcp_fastretrans_alert), without it from an ACK above it (RFC 6582 §3.2 step 2).
        bool mayRecover = Sack ? SndUna >= _recoveryPoint : SndUna - 1 >= _recoveryPoint;
        if (!Sack)
        {
            if (_dupAcks == DupThresh && mayRecover) EnterRecovery(now, TcpCause.FastRetransmit);
        }
        else if (mayRecover && (_queue.LostBytes > 0 || !Rack && _dupAcks >= DupThresh))
        {
            EnterRecovery(now, Rack ? TcpCause.RackLoss : TcpCause.SackRecovery);
        }
        else if (InLoss && _queue.LostRetransmissions > lostAgainBefore)
        {
            // Linux's tcp_fastretrans_alert in TCP_CA_Loss: RACK found a timeout's resend lost again (FLAG_LOST_RETRANS), so
            // the Loss phase gives way to Recovery, with a second reduction from the cwnd slow start has reached since
            // (RFC 8985 §3.4; a deviation from RFC 6675 §5.1's wait for the recovery point, docs/design.md).
            EnterRecovery(now, TcpCause.RackLoss);
        }
        if (!InRecovery && SndUna - 1 > _recoveryPoint) _recoveryPoint = SndUna - 1;
    }

    /// <summary>
    /// RFC 6937 §3.1: PRR starts from the cwnd before the reduction (RecoverFS), with nothing yet delivered or sent; its
    /// window stays that cwnd until an ACK's share is known (ReduceWindow). Called before the congestion control lowers ssthresh.
    /// </summary>
    private void StartRateReduction()
    {
        _prr ??= new ProportionalRateReduction();
        _prr.PriorCwnd = Math.Max(Mss, _congestion.Window);
        _prr.Window = _congestion.Window;
        _prr.Delivered = _prr.Out = 0;
        _prr.Undone = false;
    }

    /// <summary>RFC 5681 §3.2 steps 2–3, RFC 6675 §5 step 4: ssthresh and cwnd fall, the first hole goes at once.</summary>
    private void EnterRecovery(TimeSpan now, TcpCause cause)
    {
        if (TakeMtuProbeLoss()) return; // a lost path MTU probe is no congestion (Sender.MtuProbe.cs)
        // Linux's tcp_enter_recovery in TCP_CA_CWR: an ECN echo already reduced this window, so the recovery keeps that
        // reduction (its ssthresh, PRR's counts and its end), with nothing to undo.
        bool afterEcnReduction = InCwr;
        InCwr = false;
        LossPhase = false;
        if (afterEcnReduction && _undo is not null) _undo.Armed = false;
        else if (!afterEcnReduction) RecordRecoveryUndo();
        InRecovery = true;
        _counters.Count(Sack ? MibCounter.TcpExtTCPSackRecovery : MibCounter.TcpExtTCPRenoRecovery); // as tcp_enter_recovery
        _recoveryPoint = afterEcnReduction ? _cwrPoint : SndMax;
        if (!afterEcnReduction)
        {
            StartRateReduction();
            // RFC 5681 §3.2 step 2: what limited transmit sent beyond cwnd does not count in FlightSize for ssthresh.
            int limitedTransmit = Sack ? 0 : Math.Clamp(FlightSize - _congestion.Window, 0, LimitedTransmitSegments * Mss);
            _congestion.OnCongestionEvent(now, FlightSize - limitedTransmit, Mss);
            QueueCwr(); // Linux's tcp_init_cwnd_reduction: the reduction is announced (RFC 3168 §6.1.2)
        }
        if (_queue.AwaitingBytes == 0 || !Sack) MarkHeadLost(cause);
        _lossCause = cause;
        ForceRetransmission = true;
        _probeEnd = null;
        ProbeDue = false; // a probe that fired but has not left yet gives way to the recovery (RFC 8985 §7.2: no TLP in recovery)
        ProbePairDue = false;
        _probesInStall = 0;
        _timers.Cancel(TcpTimer.LossProbe);
    }

    /// <summary>
    /// RFC 6937's PRR as Linux's tcp_cwnd_reduction has it, on each ACK in recovery that delivered data: while more
    /// than ssthresh is in flight, send ssthresh/RecoverFS of what was delivered; below it, catch up to ssthresh by what
    /// was delivered (plus a segment on an ACK that advanced SND.UNA and marked nothing lost); the first retransmission
    /// always goes.
    /// </summary>
    private void ReduceWindow(int delivered, bool unaAdvanced, bool newlyLost)
    {
        if (delivered <= 0 || _prr is not { Undone: false } prr) return;
        int deliveredSegments = Segments(delivered);
        prr.Delivered += deliveredSegments;
        int ssthresh = _congestion.SlowStartThreshold / Mss;
        int priorCwnd = Math.Max(1, prr.PriorCwnd / Mss);
        int inFlight = Segments(InFlight);
        long sendCount;
        if (inFlight > ssthresh)
        {
            sendCount = ((long)ssthresh * prr.Delivered + priorCwnd - 1) / priorCwnd - prr.Out;
        }
        else
        {
            sendCount = Math.Max(prr.Delivered - prr.Out, deliveredSegments) + (unaAdvanced && !newlyLost ? 1 : 0);
            sendCount = Math.Min(ssthresh - inFlight, sendCount);
        }
        sendCount = Math.Max(sendCount, prr.Out > 0 ? 0 : 1);
        prr.Window = (int)Math.Min(int.MaxValue, InFlight + sendCount * Mss);
    }

    /// <summary>Bytes as segments, a partial one counted whole (Linux's pcount).</summary>
    private int Segments(int bytes) => (bytes + Mss - 1) / Mss;

    /// <summary>The ACK reached the recovery point; <paramref name="undone"/>, the recovery proved spurious and cwnd is restored.</summary>
    private void EndReduction(bool undone)
    {
        if (undone)
        {
            // Linux: no tcp_end_cwnd_reduction, and RACK's widened window does not count it down. A recovery without SACK
            // holds on: its cwnd stays as the undo restored it (Linux's PRR would go on cutting it, docs/design.md).
            if (_prr is not null) _prr.Undone = true;
            return;
        }
        // PRR's window gives way to ssthresh (Linux tcp_end_cwnd_reduction): cwnd is the congestion control's again.
        if (Rack) _rack.OnRecoveryEnd();
    }

    /// <summary>The recovery is over: with SACK at its recovery point, without it above it (its reduction ended there).</summary>
    private void ExitRecovery()
    {
        InRecovery = false;
        _dupAcks = 0;
        _dupAckDelivered = 0; // Linux's tcp_reset_reno_sack as recovery ends
    }

    private void MarkHeadLost(TcpCause cause)
    {
        if (_queue.Count == 0) return;
        ref SentSegment head = ref _queue[0];
        if (head.Is(SegmentMarks.Sacked)) return;
        _queue.MarkLost(ref head);
        _lossCause = cause;
        ForceRetransmission = true;
    }

    /// <summary>With SACK: RACK (RFC 8985 §6.2 step 5) when enabled, else RFC 6675's IsLost for every hole.</summary>
    private void MarkLosses(TimeSpan now)
    {
        if (Rack)
        {
            DetectLossByRack(now);
            return;
        }
        if (_queue.SackedBytes == 0) return;
        // RFC 6675 §4 IsLost(seq): DupThresh SACKed segments, or more than (DupThresh − 1) × SMSS bytes, above it.
        // Walk down from the top counting what lies above; a segment already resent is not resent again (HighRxt).
        int sackedSegments = 0, sackedBytes = 0;
        bool marked = false;
        for (int i = _queue.Count - 1; i >= 0; i--)
        {
            ref SentSegment segment = ref _queue[i];
            if (segment.Is(SegmentMarks.Sacked))
            {
                sackedSegments++;
                sackedBytes += segment.Length;
                continue;
            }
            if (segment.Is(SegmentMarks.Lost) || segment.Is(SegmentMarks.EverRetransmitted)) continue;
            if (sackedSegments >= DupThresh || sackedBytes > (DupThresh - 1) * Mss)
            {
                _queue.MarkLost(ref segment);
                marked = true;
            }
        }
        if (marked) _lossCause = TcpCause.SackRecovery;
    }

    private void DetectLossByRack(TimeSpan now)
    {
        int awaitingBefore = _queue.AwaitingBytes;
        // A timeout's Loss phase counts as recovery, as in Linux: a resend lost again is found on the first later delivery.
        TimeSpan window = _rack.ReorderWindow(InLossRecovery, _queue.SackedSegments, Rto.MinRtt, Rto.SmoothedRtt, LinuxRack);
        TimeSpan wait = _rack.DetectLoss(_queue, now, window);
        if (_queue.AwaitingBytes > awaitingBefore) _lossCause = TcpCause.RackLoss;
        // RFC 8985 §6.3: a segment not yet overdue gets the reorder timer, so no further ACK is needed to find it lost.
        if (wait > TimeSpan.Zero) _timers.Arm(TcpTimer.ReorderTimeout, now + wait);
        else _timers.Cancel(TcpTimer.ReorderTimeout);
    }

    /// <summary>RFC 8985 §6.3: the reorder timer fired; true when it found losses (the connection then sends).</summary>
    public bool OnReorderTimeout(TimeSpan now)
    {
        if (!Rack) return false;
        int awaitingBefore = _queue.AwaitingBytes;
        DetectLossByRack(now);
        if (_queue.AwaitingBytes == awaitingBefore) return false;
        // Linux's tcp_rack_reo_timeout: any state but Recovery enters it, a timeout's Loss phase too, and Open right after
        // a recovery that ended at its recovery point (RFC 6675 §5: nothing holds the next one back).
        if (!InRecovery)
        {
            EnterRecovery(now, TcpCause.RackLoss);
            // Linux's tcp_rack_reo_timeout reduces cwnd as for an ACK that delivered one segment.
            ReduceWindow(Mss, unaAdvanced: false, newlyLost: false);
        }
        return true;
    }

    // ───────────── tail loss probe (RFC 8985 §7) ─────────────

    /// <summary>Fast recovery, or a timeout's Loss phase (RFC 8985 §7.2's "fast recovery or RTO recovery", where no probe is armed).</summary>
    private bool InLossRecovery => InRecovery || InLoss;

    /// <summary>
    /// RFC 8985 §7.2: with data in flight and no recovery under way, a probe timeout of 2 SRTT (longer for one segment).
    /// With <see cref="TcpConfig.RecoveryProbe"/> also in recovery, once nothing deemed lost waits to be resent.
    /// </summary>
    private void ArmLossProbe(TimeSpan now, bool restart = true)
    {
        // In recovery, segments deemed lost that cwnd holds back do not stop the probe: it resends the first of them.
        bool lostWaiting = _queue.AwaitingBytes > 0 && !(InRecovery && _config.RecoveryProbe);
        // SynAckOutstanding: no probe before a Fast Open handshake's ACK (Linux's tcp_schedule_loss_probe checks fastopen_rsk).
        if (!TailLossProbe || InLossRecovery && !_config.RecoveryProbe || SndUna == SndMax || _probeEnd is not null || lostWaiting || SynAckOutstanding)
        {
            _timers.Cancel(TcpTimer.LossProbe);
            return;
        }
        if (!restart && _timers.IsArmed(TcpTimer.LossProbe)) return;
        ArmProbeTimer(now);
    }

    /// <summary>A probe follows the last one if no ACK comes within a probe timeout (<see cref="TcpConfig.LossProbes"/>).</summary>
    private void ArmFollowUpProbe(TimeSpan now)
    {
        if (_probesInStall < _config.LossProbes) ArmProbeTimer(now);
    }

    private void ArmProbeTimer(TimeSpan now)
    {
        TimeSpan pto = Rto.HasSample ? TimeSpan.FromTicks(2 * Rto.SmoothedRtt.Ticks) : _config.InitialRto; // in ticks: TimeSpan * int goes through a double
        // One segment may wait for the peer's delayed ACK (RFC 8985 §7.2 WCDelAckT); more get Linux's TCP_TIMEOUT_MIN_US.
        pto += FlightSize <= Mss ? WorstCaseDelayedAck : ProbeTimeoutMargin;
        if (pto < _config.MinProbeTimeout) pto = _config.MinProbeTimeout;
        TimeSpan at = now + pto;
        if (_timers.Deadline(TcpTimer.Retransmission) is TimeSpan rto && rto <= at)
        {
            // A follow-up probe is only worth it before the retransmission timer, which the first probe armed.
            if (_probesInStall > 0)
            {
                _timers.Cancel(TcpTimer.LossProbe);
                return;
            }
            // RFC 8985 §7.2 (and Linux's tcp_schedule_loss_probe): PTO = min(PTO, the timeout's remaining time); the
            // probe goes in the timeout's place, and its sending re-arms the timeout (§7.3). Until then the timeout
            // stands one RTO further, in case the probe finds nothing to send.
            at = rto;
            _timers.Arm(TcpTimer.Retransmission, rto + Rto.Rto);
        }
        _timers.Arm(TcpTimer.LossProbe, at);
    }

    /// <summary>RFC 8985 §7.3: the probe timer fired; the next dispatch sends new data or the last segment again.</summary>
    public void OnLossProbeTimeout()
    {
        if (!TailLossProbe || InLossRecovery && !_config.RecoveryProbe || SndUna == SndMax) return;
        ProbeDue = true;
    }

    /// <summary>RFC 8985 §7.4.2 TLP_process_ack: did the probe repair a loss (then cwnd must react) or was it redundant?</summary>
    private void TakeAckOfProbe(TimeSpan now, SeqNumber ack, bool dsack, bool hasSack, bool newAck)
    {
        if (_probeEnd is not SeqNumber end) return;
        if (ack < end)
        {
            // A probe sent in recovery that the peer SACKed has drawn its ACK: the episode ends, so a retransmission
            // that follows may be watched by a probe of its own (TcpConfig.RecoveryProbe) instead of waiting for the RTO.
            if (ProbeInRecovery && hasSack && _queue.SackedBytes > 0 && _queue.HighestSacked >= end) _probeEnd = null;
            return;
        }
        if (!ProbeWasRetransmission || dsack || ProbeInRecovery)
        {
            _probeEnd = null; // new data delivered, the retransmission was a duplicate (no loss), or recovery answered it
        }
        else if (ack > end)
        {
            _probeEnd = null; // the probe repaired a single loss: a congestion event without a recovery
            _counters.Count(MibCounter.TcpExtTCPLossProbeRecovery); // tcp_process_tlp_ack
            _congestion.OnCongestionEvent(now, FlightSize, Mss);
            QueueCwr(); // Linux's tcp_process_tlp_ack goes through tcp_init_cwnd_reduction
        }
        else if (!newAck && !hasSack)
        {
            _probeEnd = null; // a pure duplicate ACK: original and probe both arrived (Linux tcp_process_tlp_ack)
        }
    }

    // ───────────── the retransmission timeout ─────────────

    /// <summary>
    /// TCP_DEFER_ACCEPT: a SYN-ACK timeout that resends nothing, because the peer's bare ACK already came and data is
    /// awaited (Linux's syn_ack_recalc): it counts and backs off as a timeout does, and the timer runs on. False when
    /// the retries are spent.
    /// </summary>
    public bool OnDeferredSynAckTimeout(TimeSpan now, int retryLimit)
    {
        if (Retries >= retryLimit) return false;
        if (Retries == 0) StallStart = now - Rto.Rto;
        Retries++;
        Rto.BackOff();
        _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
        return true;
    }

    /// <summary>
    /// RFC 6298 §5.4–5.7 and RFC 5681 §3.1: back off, cut the window to one segment, and deem everything not SACKed
    /// lost (with RACK, what was sent within the last round trip aside), to be resent in order (Linux tcp_enter_loss;
    /// BSD's go-back-N). False when the retries are used up.
    /// </summary>
    public bool OnRetransmissionTimeout(TimeSpan now, int retryLimit, bool synchronizing)
    {
        if ((synchronizing ? Retries : RetriesSpent) >= retryLimit) return false;
        // The stall starts with its first retransmission (Linux's retrans_stamp, which TCP_USER_TIMEOUT counts from:
        // tcp_retransmit_skb stamps the resend's time, a loss probe's __tcp_retransmit_skb does not): the recovery's
        // resend of the oldest segment (a fast retransmit), or this timeout's; a SYN's from when it was first sent.
        if (Retries == 0)
        {
            bool resent = InRecovery && _queue.Count > 0 && _queue[0].Is(SegmentMarks.EverRetransmitted);
            StallStart = synchronizing ? (_queue.Count > 0 ? _queue[0].SentAt : now - Rto.Rto)
                : resent ? _queue[0].SentAt
                : now;
        }
        int retriesBefore = Retries;
        Retries++;
        Timeouts++;
        UndoHold = false; // the hold was an ACK's; the timeout's go-back-N resends
        Rto.BackOff();
        _rttSeq = null; // Karn's rule
        TimeoutResendDue = !synchronizing; // a refused resend is tried again in 500 ms (Sender.LocalQueue.cs)
        if (synchronizing)
        {
            HandshakeTimedOut = true; // sets the RTO to 3 s at ESTABLISHED, and maybe the window to one segment (Sender.Handshake.cs)
            return true;
        }
        EnterTimeoutLoss(now, retriesBefore);
        return true;
    }

    /// <summary>
    /// What a timeout deems lost (Linux's tcp_timeout_mark_lost): everything not SACKed, or all of it when the receiver
    /// reneged (the ACK still points at a SACKed segment, RFC 2018 §8) and its SACK marks are dropped. With RACK, only
    /// the first segment and those RACK.rtt + reo_wnd says are overdue: what left within the last round trip stays in flight.
    /// </summary>
    private void MarkTimeoutLosses(TimeSpan now)
    {
        bool reneged = _queue.Count > 0 && _queue[0].Is(SegmentMarks.Sacked);
        if (reneged) _queue.ClearSacks();
        if (!Rack || reneged)
        {
            _queue.MarkAllLost();
            return;
        }
        // RFC 8985 §6.3 RACK_mark_losses_on_RTO; Linux's tcp_timeout_mark_lost passes no reordering window.
        TimeSpan window = LinuxRack ? TimeSpan.Zero
            : _rack.ReorderWindow(InLossRecovery, _queue.SackedSegments, Rto.MinRtt, Rto.SmoothedRtt, linuxRules: false);
        for (int i = 0; i < _queue.Count; i++)
        {
            ref SentSegment segment = ref _queue[i];
            if (i == 0 || !_rack.SentTooRecentlyForTimeout(segment, now, window)) _queue.MarkLost(ref segment);
        }
    }

    /// <summary>
    /// Linux's tcp_enter_loss: cwnd to what is still in flight plus one segment, ssthresh reduced once, what the timeout
    /// deems lost (<see cref="MarkTimeoutLosses"/>) resent in order. A retransmission timeout's, or a Fast Open
    /// connection's SYN-ACK timeouts' (Sender.FastOpenServer.cs).
    /// </summary>
    private void EnterTimeoutLoss(TimeSpan now, int retriesBefore)
    {
        // RFC 5681 §3.1: a timeout that recurs for the same loss (the Loss phase's first retransmission timed out again,
        // no ACK advanced SND.UNA since) holds ssthresh (Linux's tcp_enter_loss: !icsk_retransmits in TCP_CA_Loss). So
        // does one that ends a fast recovery, whose reduction stands (tcp_enter_loss skips ca_ops->ssthresh in Recovery
        // until high_seq is acknowledged); deviation from RFC 5681, which would compute it anew, as Linux.
        // So does one inside an ECN reduction's window (Linux's tcp_enter_loss in TCP_CA_CWR before high_seq is acknowledged).
        bool ecnReduced = InCwr && SndUna <= _cwrPoint;
        // A recovery held at its recovery point (no SACK) has been answered: Linux's tcp_enter_loss reduces anew there.
        bool recurring = retriesBefore > 0 && InLoss || InRecovery && SndUna < _recoveryPoint || ecnReduced;
        MarkTimeoutLosses(now); // before the undo record, as Linux's tcp_timeout_mark_lost precedes tcp_init_undo
        EnterLoss(retriesBefore);
        InCwr = false;
        if (ecnReduced && _undo is not null) _undo.Armed = false; // the echo's reduction stands, as Linux's undo_marker 0 keeps it
        QueueCwr(); // Linux's tcp_enter_loss: tcp_ecn_queue_cwr
        // Linux's tcp_enter_loss: cwnd = tcp_packets_in_flight + 1, one segment when everything was deemed lost.
        _congestion.OnRetransmissionTimeout(now, FlightSize, Mss, recurring, Segments(Math.Max(0, InFlight)) * Mss);
        _lossCause = TcpCause.RetransmissionTimeout;
        InRecovery = false;
        _recoveryPoint = SndMax;
        LossPhase = true;
        _dupAcks = 0;
        _dupAckDelivered = 0;
        _probeEnd = null;
        ProbeDue = false;
        ProbePairDue = false;
        _probesInStall = 0;
        _timers.Cancel(TcpTimer.LossProbe);
        _timers.Cancel(TcpTimer.ReorderTimeout);
    }
}
