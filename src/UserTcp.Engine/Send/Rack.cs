using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// RACK (RFC 8985 §6): a segment is lost when one sent after it has been delivered and it has not been delivered
/// within an RTT plus a reordering window of that later send. Time-based, so one delivery after a hole is enough,
/// and retransmissions that are lost again are found without a timeout. Linux's default (tcp_recovery = 1).
/// </summary>
internal sealed class Rack
{
    /// <summary>RFC 8985 §6.2 DupThresh: with this many SACKed segments and no reordering seen, the window is zero.</summary>
    private const int DupThresh = 3;
    /// <summary>RFC 8985 §6.2: recoveries a widened reordering window lasts (reo_wnd_persist).</summary>
    private const int ReorderWindowPersist = 16;

    // RACK.xmit_ts and RACK.end_seq: the most recently sent segment that has been delivered.
    private TimeSpan _xmitTs;
    private SeqNumber _endSeq;
    private uint _sendOrder;
    private bool _hasDelivered;
    // RACK.rtt: the RTT of that delivery.
    private TimeSpan _rtt;
    // RACK.fack: the highest sequence number delivered.
    private SeqNumber _fack;
    // RACK.fack as the ACK being taken found it (Linux's prior_fack), if anything had been delivered by then.
    private SeqNumber _priorFack;
    private bool _hasPriorFack;
    private bool _reorderingSeen;
    // RACK.reo_wnd_mult, widened by D-SACKs (RFC 8985 §6.2 step 4).
    private int _reorderWindowMultiplier = 1;
    private int _reorderWindowPersist = ReorderWindowPersist;
    // RACK.dsack_round: SND.NXT when the last D-SACK widened the window; one widening per round trip.
    private SeqNumber? _dsackRound;
    // Linux's rules: a D-SACK waits for an ACK that delivers data (rack.dsack_seen), and a round trip is over once a
    // segment sent after the last widening is delivered (rack.last_delivered): the transmissions counted then.
    private bool _dsackSeen;
    private bool _widened;
    private uint _widenedAfterSend;
    // The newest transmission the ACK being taken delivered (Linux's rs->prior_delivered names it), if any.
    private bool _ackDelivered;
    private uint _ackNewestSend;
    public bool ReorderingSeen => _reorderingSeen;

    /// <summary>
    /// The largest reordering measured, in segments (Linux's tp->reordering, tcpi_reordering): how far below the highest
    /// delivered a never-resent segment was delivered; DupThresh until reordering is seen.
    /// </summary>
    public int Degree => _degree;
    private int _degree = DupThresh;
    /// <summary>Linux's tcp_max_reordering: the degree's ceiling.</summary>
    private const int MaxDegree = 300;

    /// <summary>
    /// Reordering events seen (Linux's tp->reord_seen, tcpi_reord_seen): one for an ACK's SACK blocks and one for its
    /// cumulative part when either delivers a never-resent segment below the highest delivered before that ACK, however many segments.
    /// </summary>
    public int Events => _events;
    private int _events;
    private bool _reorderedInPass;

    /// <summary>
    /// RFC 8985 §6.2 steps 2–3 for one newly delivered segment (acknowledged or SACKed). A retransmitted segment whose
    /// delivery may answer the original is skipped: one delivered sooner than the minimum RTT after it left (Linux's
    /// tcp_rack_advance), or one whose cumulative ACK echoes a timestamp older than the resend (RFC 8985 step 2).
    /// <paramref name="echoPredatesSend"/> is asked of cumulative ACKs only: a resend that fills the hole arrives in order
    /// and its ACK echoes it (RFC 7323 §4.3), whereas a SACKed resend (a tail loss probe above a lost segment) is out of
    /// order and its ACK always echoes the last in-order segment's older timestamp, so the test would never let it count.
    /// </summary>
    /// <returns>Whether it was reordered (below what earlier ACKs delivered), for Linux's measure at the pass's end.</returns>
    public bool OnDelivered(in SentSegment segment, TimeSpan now, TimeSpan minRtt, bool echoPredatesSend, int mss, bool linuxRules)
    {
        bool reordered = false;
        if (!_ackDelivered || (int)(segment.SendOrder - _ackNewestSend) > 0) _ackNewestSend = segment.SendOrder;
        _ackDelivered = true;
        if (segment.End > _fack || !_hasDelivered)
        {
            _fack = segment.End;
        }
        else if (segment.End < _fack && !segment.Is(SegmentMarks.EverRetransmitted))
        {
            _reorderingSeen = true; // delivered below the highest delivered without having been resent: reordered
            // Linux's measure (tp->reordering, tp->reord_seen) tests start_seq against the highest delivered before this
            // ACK (prior_fack in tcp_sacktag_one and tcp_clean_rtx_queue): not this ACK's own higher deliveries, which an
            // ACK lost before it leaves to it.
            if (_hasPriorFack && segment.Start < _priorFack)
            {
                reordered = _reorderedInPass = true;
                // RFC 8985 §6.2 step 4 leaves the measure to the sender; Linux's tcp_check_sack_reordering counts segments from its start.
                if (!linuxRules) Measure(segment.Start, mss);
            }
        }
        TimeSpan rtt = now - segment.SentAt;
        if (segment.Is(SegmentMarks.EverRetransmitted) && (echoPredatesSend || rtt < minRtt)) return reordered;
        // Linux's rules (tcp_rack_advance): RACK.rtt is the last delivery's taken, whenever it was sent.
        if (linuxRules) _rtt = rtt;
        if (_hasDelivered && !SentAfter(segment.SentAt, segment.SendOrder, segment.End, _xmitTs, _sendOrder, _endSeq)) return reordered;
        _xmitTs = segment.SentAt;
        _sendOrder = segment.SendOrder;
        _endSeq = segment.End;
        _rtt = rtt;
        _hasDelivered = true;
        return reordered;
    }

    /// <summary>An ACK is about to be taken: Linux's measure counts deliveries below what was delivered before it (prior_fack).</summary>
    public void BeginAck()
    {
        _ackDelivered = false;
        _priorFack = _fack;
        _hasPriorFack = _hasDelivered;
    }

    /// <summary>
    /// An ACK's SACK blocks, or its cumulative part, have been taken: counts one event if they showed reordering, as
    /// Linux's tcp_check_sack_reordering runs once after tcp_sacktag_write_queue and once in tcp_clean_rtx_queue.
    /// </summary>
    /// <param name="mss">The segment size the degree is counted in.</param>
    /// <param name="linuxRules">Linux's rules measure the degree now, from <paramref name="lowestReordered"/>.</param>
    /// <param name="lowestReordered">The lowest start OnDelivered found reordered in the pass (tcp_sacktag_state.reord).</param>
    public void EndDeliveries(int mss, bool linuxRules, SeqNumber lowestReordered)
    {
        if (!_reorderedInPass) return;
        _reorderedInPass = false;
        // Linux's rules: against the highest delivered once the pass is done, as tcp_check_sack_reordering reads it.
        if (linuxRules) Measure(lowestReordered, mss);
        _events++;
    }

    /// <summary>tp->reordering: segments from <paramref name="low"/> to the highest delivered, if more than measured so far.</summary>
    private void Measure(SeqNumber low, int mss)
    {
        int degree = (int)Math.Min(MaxDegree, ((long)(_fack - low) + mss - 1) / Math.Max(1, mss));
        if (degree > _degree) _degree = degree;
    }

    /// <summary>
    /// RFC 8985 §6.2 step 4: a D-SACK (a spurious retransmission) widens the window, once per round trip, on the ACK
    /// that carries it. Linux's rules (tcp_rack_update_reo_wnd) widen on the first ACK that delivers data, this one or
    /// a later one, unless that data left before the last widening (less than a round trip since): a transmission
    /// counted above <paramref name="transmissions"/>, the sender's so far, is after this one.
    /// </summary>
    public void OnAck(bool dsack, SeqNumber sndUna, SeqNumber sndNxt, bool linuxRules, uint transmissions)
    {
        if (linuxRules)
        {
            _dsackSeen |= dsack;
            if (!_ackDelivered) return; // !rs->prior_delivered: kept for an ACK that delivers
            if (_widened && (int)(_ackNewestSend - _widenedAfterSend) <= 0) _dsackSeen = false;
            if (!_dsackSeen) return;
            _dsackSeen = false;
            _widened = true;
            _widenedAfterSend = transmissions;
            Widen();
            return;
        }
        if (_dsackRound is SeqNumber round && sndUna >= round) _dsackRound = null;
        if (dsack && _dsackRound is null)
        {
            _dsackRound = sndNxt;
            Widen();
        }
    }

    /// <summary>
    /// Linux's rules, an ACK below SND.UNA (tcp_ack's old_ack): its D-SACK is recorded for a later ACK, which it returns
    /// before it would update the window.
    /// </summary>
    public void OnOldAck(bool dsack) => _dsackSeen |= dsack;

    private void Widen()
    {
        _reorderWindowMultiplier = Math.Min(_reorderWindowMultiplier + 1, 0xFF);
        _reorderWindowPersist = ReorderWindowPersist;
    }

    /// <summary>Loss recovery ended; after 16 recoveries without a D-SACK the window narrows again.</summary>
    public void OnRecoveryEnd()
    {
        if (--_reorderWindowPersist <= 0)
        {
            _reorderWindowMultiplier = 1;
            _reorderWindowPersist = ReorderWindowPersist;
        }
    }

    /// <summary>
    /// Timestamps showed that a late original, not the retransmission, filled the hole at <paramref name="low"/> (Linux's
    /// tcp_check_sack_reordering from tcp_try_undo_partial): reordering is seen, measured from there to the highest delivered.
    /// </summary>
    public void OnReorderedByTimestamps(SeqNumber low, int mss)
    {
        if (!_hasDelivered || low >= _fack) return;
        _reorderingSeen = true;
        Measure(low, mss);
        _events++;
    }

    /// <summary>A recovery undone by D-SACK: the widened window lasts one recovery longer (Linux's tcp_try_undo_dsack).</summary>
    public void OnDsackUndo() => _reorderWindowPersist = Math.Min(ReorderWindowPersist, _reorderWindowPersist + 1);

    /// <summary>
    /// RFC 8985 §6.2 step 4 (RACK_update_reo_wnd): how long a later delivery may precede an earlier one.
    /// <paramref name="inLossRecovery"/>: fast recovery or a timeout's Loss phase (Linux's icsk_ca_state &gt;= TCP_CA_Recovery).
    /// </summary>
    public TimeSpan ReorderWindow(bool inLossRecovery, int sackedSegments, TimeSpan minRtt, TimeSpan smoothedRtt, bool linuxRules)
    {
        // No reordering seen: be as quick as DupThresh once recovering or once DupThresh segments are SACKed (tcp_rack_reo_wnd).
        // Linux's rules: seen is tp->reord_seen (counted against prior_fack), and DupThresh is tp->reordering.
        bool seen = linuxRules ? _events > 0 : _reorderingSeen;
        int dupThresh = linuxRules ? _degree : DupThresh;
        if (!seen && (inLossRecovery || sackedSegments >= dupThresh)) return TimeSpan.Zero;
        // In integer ticks (TimeSpan / and * go through a double), rounding as they do: the same tick.
        TimeSpan window = TimeSpan.FromTicks(RtoEstimator.Divide(minRtt, 4).Ticks * _reorderWindowMultiplier);
        return window < smoothedRtt ? window : smoothedRtt;
    }

    /// <summary>
    /// RFC 8985 §6.2 step 5 (RACK_detect_loss): marks every segment sent before the last delivered one and overdue by
    /// RACK.rtt + reordering window as lost. Returns how long until the next such segment is overdue (zero: none).
    /// </summary>
    public TimeSpan DetectLoss(RetransmissionQueue queue, TimeSpan now, TimeSpan reorderWindow)
    {
        if (!_hasDelivered) return TimeSpan.Zero;
        TimeSpan wait = TimeSpan.Zero;
        for (int i = 0; i < queue.Count; i++)
        {
            ref SentSegment segment = ref queue[i];
            if (!SentAfter(_xmitTs, _sendOrder, _endSeq, segment.SentAt, segment.SendOrder, segment.End))
            {
                // Segments never resent went out in sequence order, and a resent one after its first send: past the first
                // never-resent segment not sent before RACK.xmit_ts, none is (Linux's walk of its time-sorted list stops
                // there too), so an ACK of in-order data costs one look, not one per segment in flight.
                if (!segment.Is(SegmentMarks.EverRetransmitted)) break;
                continue;
            }
            if (segment.Is(SegmentMarks.Sacked) || segment.AwaitsRetransmission) continue;
            TimeSpan remaining = segment.SentAt + _rtt + reorderWindow - now;
            if (remaining <= TimeSpan.Zero)
            {
                queue.MarkLost(ref segment);
            }
            else if (remaining > wait)
            {
                wait = remaining;
            }
        }
        return wait;
    }

    /// <summary>
    /// RFC 8985 §6.3 (RACK_mark_losses_on_RTO), Linux's tcp_rack_skb_timeout &gt; 0: the segment left less than RACK.rtt +
    /// <paramref name="reorderWindow"/> ago, so a timeout leaves it in flight. RACK.rtt is zero until a delivery.
    /// </summary>
    public bool SentTooRecentlyForTimeout(in SentSegment segment, TimeSpan now, TimeSpan reorderWindow) =>
        segment.SentAt + _rtt + reorderWindow - now > TimeSpan.Zero;

    /// <summary>
    /// RFC 8985 §6.2 RACK_sent_after: the transmission at t1 (order1, ending at seq1) left after the one at t2.
    /// Deviation: a tie in time is broken by the order of transmission, the sequence number only within one (the pieces
    /// of a split packet). One engine pass gives every segment it sends the same instant, and new data sent early in a
    /// pass, then a retransmission of a lower sequence number, would otherwise pass for sent after it: its SACK would
    /// deem the retransmission lost at once (Linux stamps each skb as it leaves). The delivery-rate estimator picks its
    /// newest delivered segment by the same rule (Linux's tcp_skb_sent_after serves both).
    /// </summary>
    internal static bool SentAfter(TimeSpan t1, uint order1, SeqNumber seq1, TimeSpan t2, uint order2, SeqNumber seq2) =>
        t1 > t2 || t1 == t2 && (order1 != order2 ? (int)(order1 - order2) > 0 : seq1 > seq2);
}
