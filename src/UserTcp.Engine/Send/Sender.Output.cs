using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// A segment the sender chose to send: new data (Cause None) or a retransmission and why. <paramref name="Push"/> is
/// the data's own PSH (the end of a write or record, kept by retransmissions); <paramref name="PacketEnd"/> says the
/// segment ends its TSO packet, and <paramref name="GsoPush"/> that it ends one of several segments, which Linux
/// marks with PSH (__tcp_transmit_skb) whatever the data. <paramref name="ProbePair"/>: the paired loss probe's second segment.
/// </summary>
internal readonly record struct Transmission(SeqNumber Seq, int Length, bool Fin, bool Push, TcpCause Cause, bool Probe,
    bool PacketEnd = true, bool GsoPush = false, bool ProbePair = false)
{
    /// <summary>The PSH flag on the wire.</summary>
    public bool WirePush => Push || GsoPush;
    public bool IsRetransmission => Cause != TcpCause.None;
    public SeqNumber End => Seq + Length + (Fin ? 1 : 0);
}

/// <summary>What to send next (RFC 6675 NextSeg, RFC 8985 §7.3, RFC 1122 §4.2.3.4) and the zero-window probe.</summary>
internal sealed partial class Sender
{
    // Zero-window probes: doublings of the probe interval, and probes sent since the last ACK (Linux gives up past the retry limit).
    private int _persistBackoff;
    private int _persistProbes;
    // The latest send time given to a segment, and whether the current dispatch began within 1 ms of it.
    private TimeSpan _lastSentAt;
    private bool SentWithinMs { get => Has(SenderFlags.SentWithinMs); set => Set(SenderFlags.SentWithinMs, value); }
    // New-data segments sent in the current dispatch (a burst).
    private bool BurstSent { get => Has(SenderFlags.BurstSent); set => Set(SenderFlags.BurstSent, value); }
    // Segments of the TSO packet being cut (Linux's one skb sent at once) returned so far.
    private byte _packetSegments;
    // Where the last new-data segment shorter than the MSS ended (Linux's snd_sml; ISS before any).
    private SeqNumber _sndSml;

    /// <summary>
    /// The MSS new segments are cut to (Linux's mss_cache): <see cref="Mss"/>, but no more than half the largest window
    /// the peer has offered once that is over 536 bytes, or that whole window below, and never under 68 bytes less the
    /// TCP header (Linux's tcp_bound_to_half_wnd, applied by tcp_sync_mss whenever max_window grows). Not an RFC rule:
    /// RFC 1122 §4.2.3.4 counts half the largest window as a segment worth sending, and Linux cuts every segment so.
    /// cwnd stays counted in <see cref="Mss"/>-sized segments (docs/design.md "The engine", its Flow control item).
    /// </summary>
    public int SegmentMss
    {
        get
        {
            uint cutoff = HalfWindowCutoff;
            if (cutoff == 0 || (uint)Mss <= cutoff) return Mss;
            return Math.Max((int)cutoff, MinBoundedSegment - (Timestamps is not null ? TcpConnection.TimestampOptionBytes : 0));
        }
    }

    /// <summary>What Linux's tcp_bound_to_half_wnd cuts to: half the peer's largest window, or all of one up to 536 bytes (0: none yet).</summary>
    private uint HalfWindowCutoff => MaxSndWnd > DefaultMss ? MaxSndWnd / 2 : MaxSndWnd;

    // RFC 9293 §3.7.1's default send MSS, Linux's TCP_MSS_DEFAULT: up to it the whole window is one segment.
    private const uint DefaultMss = 536;
    // Linux's floor for a segment cut to the window: 68 bytes (RFC 791's minimum MTU) less the TCP header.
    private const int MinBoundedSegment = 68 - 20;

    /// <summary>Minshall's test (Linux's tcp_minshall_check): a segment shorter than the MSS is still unacknowledged.</summary>
    private bool SmallSegmentUnacknowledged => _sndSml > SndUna && _sndSml <= SndMax;

    /// <summary>Room cwnd leaves for more data in flight.</summary>
    private int CwndRoom => Math.Max(0, CongestionWindow - InFlight);

    /// <summary>
    /// Room for new data: <see cref="CwndRoom"/>, and under RFC 3042 §2 limited transmit without SACK, each of the first
    /// two duplicate ACKs lets one more segment go beyond cwnd (cwnd itself unchanged), so a lone loss still draws three
    /// duplicates. With SACK, pipe does this. Not in a timeout's Loss phase, where duplicates lower InFlight only once data
    /// beyond the recovery point went (Linux's tcp_process_loss; RFC 3042 is about fast retransmit's duplicates).
    /// </summary>
    private int NewDataRoom => Sack || InRecovery || _dupAcks == 0 || InLoss
        ? CwndRoom
        : Math.Max(0, CongestionWindow + Math.Min(_dupAcks, LimitedTransmitSegments) * Mss - InFlight);

    /// <summary>RFC 3042 §2: new segments for the first two duplicate ACKs only.</summary>
    private const int LimitedTransmitSegments = 2;

    /// <summary>
    /// The next segment to send, if any: a due tail loss probe; else the oldest segment deemed lost (within cwnd, or
    /// at once after a fast-retransmit trigger); else new data within both windows, with Nagle (RFC 896, unless
    /// <see cref="NoDelay"/>) and sender SWS avoidance (RFC 1122 §4.2.3.4); else a FIN when there is window room. New
    /// segments leave <paramref name="sackOptionBytes"/> of room for the SACK blocks our ACK carries now (Linux tcp_current_mss).
    /// </summary>
    public bool TryNext(int sackOptionBytes, out Transmission next)
    {
        if (ProbeDue)
        {
            ProbeDue = false;
            if (TryProbe(sackOptionBytes, out next)) return true;
        }
        if (ProbePairDue)
        {
            ProbePairDue = false;
            if (TryProbePair(sackOptionBytes, out next)) return true;
        }

        // RFC 5682 step 2.b: new data goes instead of the segments the timeout deemed lost (Linux's REXMIT_NEW); an ACK
        // that held a partial undo resends nothing either (Sender.Recovery.cs).
        int lost = FrtoNewData || UndoHold ? -1 : _queue.FirstAwaitingRetransmission();
        if (lost >= 0)
        {
            lost = CutForResend(lost); // a path MTU probe goes again at the MSS (Sender.MtuProbe.cs)
            SentSegment segment = _queue[lost];
            bool inPeerWindow = (uint)(segment.Start - SndUna) < SndWnd;
            if (ForceRetransmission || inPeerWindow && CwndRoom >= segment.Length)
            {
                ForceRetransmission = false;
                next = Resend(segment, _lossCause, probe: false);
                // Linux resends an skb whole, up to cwnd and the TSO size (tcp_xmit_retransmit_queue): the lost segments of one
                // packet leave as one packet again, PSH on its last.
                bool ends = segment.Is(SegmentMarks.PacketEnd) || _packetSegments + 1 >= Math.Min(AutosizedSegments(Math.Max(1, SegmentMss - sackOptionBytes)), byte.MaxValue)
                    || !NextLostFollows(lost);
                next = next with { GsoPush = ends && _packetSegments > 0 };
                _packetSegments = (byte)(ends ? 0 : _packetSegments + 1);
                return true;
            }
            next = default;
            return false; // holes first: nothing new goes while one waits
        }
        ForceRetransmission = false;
        if (TryNewData(sackOptionBytes, out next)) return true;
        if (FrtoNewData && SndMax <= _recoveryPoint)
        {
            // No new data could go: F-RTO gives way to the conventional recovery (Linux's tcp_xmit_recovery).
            FrtoNewData = false;
            Frto = false;
            return TryNext(sackOptionBytes, out next);
        }
        return false;
    }

    /// <summary>New data within both windows, or a FIN; see <see cref="TryNext"/>.</summary>
    private bool TryNewData(int sackOptionBytes, out Transmission next)
    {
        SeqNumber dataEnd = Buffer.End;
        // MSG_EOR: new data stops at the end of its record, which goes at once like any segment followed by more data.
        SeqNumber? recordEnd = Buffer.NextRecordEnd(SndMax);
        bool endsRecord = recordEnd is SeqNumber r && r < dataEnd;
        int available = Math.Max(0, (endsRecord ? recordEnd!.Value : dataEnd) - SndMax);
        long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
        if (available > 0)
        {
            int cwndRoom = NewDataRoom;
            int segmentSize = Math.Max(1, SegmentMss - sackOptionBytes);
            int length = (int)Math.Min(Math.Min(available, segmentSize), Math.Min(peerRoom, cwndRoom));
            CwndLimited = cwndRoom < peerRoom && length < Math.Min(available, segmentSize);
            if (length > 0 && _packetSegments == 0 && DefersPacket(available, Math.Min(peerRoom, cwndRoom), segmentSize, endsRecord))
            {
                CwndLimited |= cwndRoom < peerRoom; // Linux's is_cwnd_limited from tcp_tso_should_defer
                next = default;
                return false;
            }
            // The peer's window cuts the first segment short of what could go (Linux's tcp_snd_wnd_test fails).
            bool windowCut = peerRoom < Math.Min(available, segmentSize);
            if (length > 0 && (MaySend(length, available, segmentSize, windowCut) || endsRecord && length == available))
            {
                next = NewData(length, recordEnd);
                if (length < segmentSize) _sndSml = next.End; // Linux's tcp_minshall_update
                if (WakeupDue)
                {
                    // Linux's tcp_write_wakeup sends the head of the queue alone, with PSH.
                    WakeupDue = false;
                    next = next with { Push = true };
                    _packetSegments = 0;
                    return true;
                }
                // New data leaves in TSO packets sized from the pacing rate and cwnd (Linux tcp_write_xmit); Linux forces PSH
                // on every packet of more than one segment (__tcp_transmit_skb), which reaches the wire on its last segment.
                // cwnd and the pacing rate do not change within a dispatch, so the packet's size is the same at every segment.
                // A lone segment (a small write) ends its packet whatever the size, so that is asked first: the size costs divisions.
                bool ends = !AnotherWouldFollow(length, available, peerRoom, cwndRoom, segmentSize) || _packetSegments + 1 >= Math.Min(TsoPacketSegments(segmentSize), byte.MaxValue);
                next = next with { PacketEnd = ends, GsoPush = ends && _packetSegments > 0 };
                _packetSegments = (byte)(ends ? 0 : _packetSegments + 1);
                return true;
            }
        }
        // A FIN takes a sequence number, so like Linux it waits for window room (and the persist timer probes).
        else if (Buffer.FinQueued && SndMax == dataEnd && peerRoom > 0)
        {
            next = new Transmission(SndMax, 0, Fin: true, Push: false, TcpCause.None, Probe: false);
            return true;
        }
        PushPending = false; // the push has sent what it could
        WakeupDue = false;
        next = default;
        return false;
    }

    /// <summary>
    /// RFC 1122 §4.2.3.4 with Nagle as Linux runs it (Minshall's variant): a full segment; or all the data when nothing
    /// is unacknowledged, or no segment shorter than the MSS is (or TCP_NODELAY, or the stream is ending); or at least
    /// half the largest window the peer ever offered; or the probe timer's wakeup (§4.2.3.4 (4), the override timeout).
    /// A segment the peer's window cuts short of that (<paramref name="windowCut"/>) waits: for the ACK in flight to
    /// open the window further, or with nothing in flight for the probe timer (Linux's tcp_snd_wnd_test, tcp_write_wakeup).
    /// </summary>
    private bool MaySend(int length, int available, int segmentSize, bool windowCut) =>
        !HoldsPartial(length, available, segmentSize) && (length == segmentSize
        || SndMax == SndUna && !windowCut
        || length == available && MayEndWithPartial
        || length >= MaxSndWnd / 2
        || WakeupDue);

    /// <summary>
    /// The data's partial tail may go with data in flight: TCP_NODELAY, the stream ending, F-RTO's new data (Linux's
    /// TCP_NAGLE_OFF), or no partial segment unacknowledged (tcp_nagle_check's Minshall test; classic Nagle, RFC 896,
    /// waited for every ACK).
    /// </summary>
    private bool MayEndWithPartial => NoDelay || Buffer.FinQueued || FrtoNewData || !SmallSegmentUnacknowledged;

    /// <summary>
    /// TCP_CORK, or MSG_MORE on the write being dispatched (Linux's TCP_NAGLE_CORK): a segment smaller than the MSS
    /// waits, even with nothing in flight, until the cork is pulled, a push (TCP_NODELAY set), the FIN, or the
    /// probe timer's wakeup (<see cref="ArmPersistIfNeeded"/>). A full segment goes as usual. MSG_MORE holds only the
    /// write's own dispatch: a later one (an ACK, a timer) sends under the socket's Nagle setting, as Linux's
    /// tcp_data_snd_check pushes with tp->nonagle, not the cork tcp_sendmsg passed to tcp_push.
    /// </summary>
    private bool HoldsPartial(int length, int available, int segmentSize) =>
        (Corked || HoldForMore) && length < segmentSize && !PushPending && !WakeupDue && !(Buffer.FinQueued && length == available);

    /// <summary>Whether <see cref="TryNext"/> would send more new data right after a segment of <paramref name="length"/>.</summary>
    private bool AnotherWouldFollow(int length, int available, long peerRoom, int cwndRoom, int segmentSize)
    {
        int rest = available - length;
        int next = (int)Math.Min(Math.Min(rest, segmentSize), Math.Min(peerRoom - length, cwndRoom - length));
        return next > 0 && !HoldsPartial(next, rest, segmentSize) && (next == segmentSize || next == rest && MayEndWithPartial || next >= MaxSndWnd / 2);
    }

    /// <summary>Whether the lost segment after <paramref name="lost"/> continues its retransmission packet: next to it, waiting, and within both windows once it has gone.</summary>
    private bool NextLostFollows(int lost)
    {
        if (lost + 1 >= _queue.Count) return false;
        SentSegment segment = _queue[lost];
        SentSegment following = _queue[lost + 1];
        return following.AwaitsRetransmission && following.Start == segment.End
            && (uint)(following.End - SndUna) <= SndWnd && CwndRoom - segment.Length >= following.Length;
    }

    /// <summary>A dispatch begins at <paramref name="now"/>: the segments it sends leave at once, cut into TSO packets.</summary>
    public void BeginBurst(TimeSpan now)
    {
        SentWithinMs = now - _lastSentAt <= TimeSpan.FromMilliseconds(1);
        BurstSent = false;
        _packetSegments = 0;
        CwndLimited = false;
    }

    /// <summary>TCP_NODELAY: send small segments at once instead of after the previous ACK.</summary>
    public bool NoDelay { get; set; }

    /// <summary>TCP_CORK: hold partial segments (see <see cref="HoldsPartial"/>); pulling it pushes what is queued.</summary>
    public bool Corked
    {
        get;
        set
        {
            if (field && !value) PushPending = true;
            field = value;
        }
    }

    /// <summary>
    /// The last write came with MSG_MORE: its tail is not pushed (no PSH), and this write's dispatch holds a partial
    /// segment (<see cref="HoldsPartial"/>).
    /// </summary>
    public bool MoreComing
    {
        get;
        set
        {
            field = value;
            HoldForMore = value;
        }
    }

    // MSG_MORE's hold, for the dispatch that follows the write only (cleared by EndBurst).
    private bool HoldForMore { get => Has(SenderFlags.HoldForMore); set => Set(SenderFlags.HoldForMore, value); }

    // The probe timer fired on data held back with nothing in flight: one segment goes, pushed (Linux's tcp_write_wakeup).
    private bool WakeupDue { get => Has(SenderFlags.WakeupDue); set => Set(SenderFlags.WakeupDue, value); }

    // A push was asked for (TCP_NODELAY set, the cork pulled): what is queued goes once, partial segment included.
    private bool PushPending { get => Has(SenderFlags.PushPending); set => Set(SenderFlags.PushPending, value); }

    /// <summary>Linux's TCP_NAGLE_PUSH: the next dispatch sends what is queued, ignoring the cork and MSG_MORE once.</summary>
    public void Push() => PushPending = true;

    private Transmission NewData(int length, SeqNumber? recordEnd = null)
    {
        SeqNumber dataEnd = Buffer.End;
        bool reachesEnd = SndMax + length == dataEnd;
        // The last segment of a record is pushed, as Linux's tcp_push marks the tail of every sendmsg.
        bool push = reachesEnd && !MoreComing || SndMax + length == recordEnd;
        return new Transmission(SndMax, length, Fin: Buffer.FinQueued && reachesEnd, Push: push, TcpCause.None, Probe: false);
    }

    private static Transmission Resend(in SentSegment segment, TcpCause cause, bool probe)
    {
        bool fin = segment.Is(SegmentMarks.Fin);
        return new Transmission(segment.Start, segment.Length - (fin ? 1 : 0), fin, segment.Is(SegmentMarks.Push), cause, probe);
    }

    /// <summary>
    /// RFC 8985 §7.3 TLP_send_probe: new data if the peer's window takes it, else the last segment again. A full segment
    /// of new data is followed by a second when another full one is ready (<see cref="TcpConfig.PairedProbe"/>).
    /// </summary>
    private bool TryProbe(int sackOptionBytes, out Transmission next)
    {
        _probesInStall++;
        // In recovery (TcpConfig.RecoveryProbe) a segment deemed lost that cwnd held back goes first: it is the hole.
        int lost = InRecovery ? _queue.FirstAwaitingRetransmission() : -1;
        if (lost >= 0)
        {
            next = Resend(_queue[CutForResend(lost)], TcpCause.TailLossProbe, probe: true);
            return true;
        }
        int available = Math.Max(0, Buffer.End - SndMax);
        long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
        if (available > 0 && peerRoom > 0)
        {
            int segmentSize = Math.Max(1, SegmentMss - sackOptionBytes);
            next = NewData((int)Math.Min(Math.Min(available, segmentSize), peerRoom)) with { Probe = true };
            ProbePairDue = _config.PairedProbe && available >= 2 * segmentSize && peerRoom >= 2 * segmentSize;
            return true;
        }
        for (int i = _queue.Count - 1; i >= 0; i--)
        {
            if (_queue[i].Is(SegmentMarks.Sacked)) continue;
            next = Resend(_queue[CutForResend(i)], TcpCause.TailLossProbe, probe: true);
            return true;
        }
        next = default;
        return false;
    }

    /// <summary>The paired probe's second full segment of new data, if the first left and the data and window still allow it.</summary>
    private bool TryProbePair(int sackOptionBytes, out Transmission next)
    {
        int segmentSize = Math.Max(1, SegmentMss - sackOptionBytes);
        long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
        if (_probeEnd == SndMax && Buffer.End - SndMax >= segmentSize && peerRoom >= segmentSize)
        {
            next = NewData(segmentSize) with { Probe = true, ProbePair = true };
            return true;
        }
        next = default;
        return false;
    }

    /// <summary>The segment <paramref name="sent"/> left at <paramref name="now"/>: the scoreboard, RTT timing and timers follow.</summary>
    public void OnSent(TimeSpan now, in Transmission sent)
    {
        if ((InRecovery || InCwr) && _prr is not null) _prr.Out += Segments(sent.End - sent.Seq); // RFC 6937 prr_out: everything sent in the reduction
        // Send times order the segments for RACK (RFC 8985 §6.2 "sent after"): they never go backwards, even when the
        // caller's clock reads a hair earlier for a later call.
        if (now < _lastSentAt) now = _lastSentAt;
        TimeSpan sinceLastSend = now - _lastSentAt;
        _lastSentAt = now;
        SentWithinMs = true; // the rest of this dispatch follows at once
        bool idle = SndMax == SndUna;
        if (idle) _congestion.OnRestartFromIdle(now, sinceLastSend, RateEstimator is { AppLimited: true });
        bool appLimited = false;
        DeliverySnapshot delivery = RateEstimator?.OnSent(now, idle, out appLimited) ?? default;
        if (sent.IsRetransmission)
        {
            int index = _queue.IndexEndingAfter(sent.Seq);
            ref SentSegment resent = ref _queue[index];
            _queue.MarkRetransmitted(ref resent, now);
            resent.Delivery = delivery;
            resent.Marks = appLimited ? resent.Marks | SegmentMarks.AppLimited : resent.Marks & ~SegmentMarks.AppLimited;
            // Resending the oldest segment restarts the timer (Linux tcp_xmit_retransmit_queue), so a timeout due a
            // moment later does not send it a second time (RFC 6298 §5.1 counts retransmissions as sends).
            if (index == 0 && !sent.Probe) _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
            TimeoutResendDue = false;
            Retransmissions++;
            BytesRetransmitted += sent.End - sent.Seq;
            CountRetransmissionForUndo(now, sent.End - sent.Seq);
            ForgetMtuProbe(); // Sender.MtuProbe.cs
            _rttSeq = null; // Karn's rule: never time a retransmitted segment
        }
        else
        {
            BurstSent = true;
            SegmentMarks marks = (sent.Fin ? SegmentMarks.Fin : 0) | (sent.Push ? SegmentMarks.Push : 0) | (appLimited ? SegmentMarks.AppLimited : 0)
                | (sent.PacketEnd ? SegmentMarks.PacketEnd : 0);
            _queue.Append(sent.Seq, sent.End, now, marks, delivery);
            SndMax = sent.End;
            // Data in flight draws ACKs: a wakeup armed for held data is moot (Linux's RTO takes the probe timer's slot),
            // and so is a probing episode for data the local queue refused (a zero window's ends only when it opens).
            if (idle)
            {
                _timers.Cancel(TcpTimer.Persist);
                if (SndWnd > 0) ProbeStart = null;
            }
        }
        if (sent.Probe)
        {
            // RFC 8985 §7.3: remember the probe, and re-arm the retransmission timer (not the probe timer).
            _probeEnd = SndMax;
            ProbeWasRetransmission = sent.IsRetransmission;
            ProbeInRecovery = InLossRecovery; // a timeout's Loss phase too: it already reduced the window
            // The first probe of a stall re-arms the retransmission timer; a follow-up leaves it where the first put it.
            if (_probesInStall <= 1) _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
            ArmFollowUpProbe(now);
            return;
        }
        // RFC 6298 §5.1: start the timer when a segment with data leaves and it is not running.
        _timers.ArmIfIdle(TcpTimer.Retransmission, now + Rto.Rto);
        // In recovery a retransmission may be the last segment that can draw an ACK: the probe then watches it.
        if (!sent.IsRetransmission || InRecovery) ArmLossProbe(now);
    }

    // ───────────── zero window (RFC 9293 §3.8.6.1) ─────────────

    /// <summary>
    /// With data waiting and a zero window, probe it on a timer — also when a timeout sent nothing (the peer shrank its
    /// window to zero under data in flight), which leaves no retransmission timer.
    /// </summary>
    public void ArmPersistIfNeeded(TimeSpan now)
    {
        if (SndWnd == 0 && HasDataOrFinToSend && !_timers.IsArmed(TcpTimer.Persist)
            && (SndMax == SndUna || !_timers.IsArmed(TcpTimer.Retransmission)))
        {
            _timers.Arm(TcpTimer.Persist, now + PersistInterval);
        }
        else if (UnsentWithNothingInFlight && !_timers.IsArmed(TcpTimer.Persist))
        {
            // Linux's tcp_check_probe_timer: data a cork, MSG_MORE or a small window holds back (or a FIN or data the local
            // queue refused), with nothing in flight to draw an ACK, goes when the probe timer fires, one RTO on
            // (tcp_probe0_base; tcp(7)'s "200 millisecond ceiling" on TCP_CORK).
            _timers.Arm(TcpTimer.Persist, now + Rto.Rto);
        }
    }

    /// <summary>
    /// An acceptable ACK without data came while nothing was in flight (Linux's tcp_ack_probe, from tcp_ack's no_queue
    /// path): with the window still shut and data or a FIN waiting, the persist timer restarts from this answer with its
    /// current backoff (tcp_probe0_when), so a late answer puts the next probe later too. Data acknowledging nothing new
    /// takes Linux's fast path (tcp_rcv_established), which does not run tcp_ack, and leaves the timer.
    /// </summary>
    public void OnAckWithNothingInFlight(TimeSpan now)
    {
        if (SndWnd != 0 || !HasDataOrFinToSend || SndMax != SndUna) return;
        _timers.Arm(TcpTimer.Persist, now + PersistInterval);
    }

    /// <summary>Data waits in an open window with nothing in flight: a cork, MSG_MORE, or a window too small for it (sender SWS avoidance) holds it so.</summary>
    private bool HeldWithNothingInFlight => SndWnd > 0 && SndMax == SndUna && Buffer.End > SndMax;

    /// <summary>Data or a FIN waits in an open window with nothing in flight: held back, or refused by the local queue.</summary>
    private bool UnsentWithNothingInFlight => SndWnd > 0 && SndMax == SndUna && HasDataOrFinToSend;

    /// <summary>
    /// The persist timer fired: true when a probe is due; false when none is (window open, or nothing to send), or when
    /// the connection gives up (<paramref name="gaveUp"/> says why).
    /// </summary>
    public bool TakePersistProbe(TimeSpan now, int retryLimit, bool orphaned, out TcpCause gaveUp)
    {
        gaveUp = TcpCause.None;
        if (SndWnd != 0 || !HasDataOrFinToSend)
        {
            _persistBackoff = 0;
            ProbeStart = null;
            return false;
        }
        // RFC 1122 §4.2.2.17 keeps probing while the peer answers; unanswered, Linux gives up like a retransmission. An
        // orphan (Linux's tcp_probe_timer, SOCK_DEAD) also gives up, answered or not, once its backed-off interval has
        // reached the maximum RTO and its backoff the orphan retry limit.
        if (_persistProbes >= retryLimit || orphaned && !ProbeIntervalBelowMax && _persistBackoff >= retryLimit)
        {
            gaveUp = _persistProbes >= retryLimit ? TcpCause.ZeroWindowProbesUnanswered : TcpCause.OrphanProbesBackedOff;
            return false;
        }
        ProbeStart ??= now; // the window's first probe: answers do not move it, an open window does
        _persistProbes++;
        // Linux's tcp_send_probe0 raises icsk_backoff only up to tcp_retries2: past that the probes keep one interval.
        PersistBackoffRaised = _persistBackoff < _config.DataRetries;
        if (PersistBackoffRaised) _persistBackoff++;
        _timers.Arm(TcpTimer.Persist, now + PersistInterval);
        return true;
    }

    private bool PersistBackoffRaised { get => Has(SenderFlags.PersistBackoffRaised); set => Set(SenderFlags.PersistBackoffRaised, value); }

    /// <summary>
    /// Linux's inet_csk_rto_backoff(icsk, TCP_RTO_MAX) &lt; TCP_RTO_MAX: the backed-off probe interval is still below the
    /// maximum RTO (<see cref="PersistInterval"/> is capped there, so it reaches it exactly when the doublings do).
    /// </summary>
    private bool ProbeIntervalBelowMax => PersistInterval < _config.MaxRto;

    /// <summary>Probes sent since the peer last answered: zero-window probes, and probes the local queue refused (tcpi_probes).</summary>
    public int PersistProbes => _persistProbes;

    /// <summary>Any acceptable ACK shows the peer is alive: unanswered probes count from zero again.</summary>
    public void OnPeerAlive() => _persistProbes = 0;

    private TimeSpan PersistInterval
    {
        get
        {
            TimeSpan interval = Rto.Rto;
            for (int i = 0; i < _persistBackoff && interval < _config.MaxRto; i++) interval *= 2;
            return interval > _config.MaxRto ? _config.MaxRto : interval;
        }
    }
}
