using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Spurious retransmission timeouts, as Linux's tcp_enter_loss, tcp_process_loss and tcp_try_undo_loss handle them:
/// F-RTO (RFC 5682; the SACK-enhanced variant of §3 with SACK, the basic one of §2 without) sends new data after the
/// first ACK that advances SND.UNA instead of resending the rest of the window, and the timeout's reduction of cwnd and
/// ssthresh is undone when the ACK after it delivers data never resent (F-RTO), when an ACK that advances SND.UNA echoes
/// a timestamp older than the first retransmission (Eifel detection, RFC 3522; Linux's tcp_packet_delayed), or when
/// D-SACK showed every retransmission needless. The record an undo restores from (<see cref="UndoRecord"/>) and the
/// undo itself serve spurious fast recoveries too (Sender.RecoveryUndo.cs). docs/design.md "The engine" (its
/// Retransmission item) has the deviations.
/// </summary>
internal sealed partial class Sender
{
    // What an undo restores, made at the first timeout or fast recovery, so an idle connection pays only the reference (issue 10's 2 KB).
    private UndoRecord? _undo;

    /// <summary>The episode whose reduction a record may undo: Linux's Loss or Recovery state when the undo comes.</summary>
    private enum UndoEpisode : byte
    {
        Timeout,
        FastRecovery,
    }

    private sealed class UndoRecord
    {
        // Linux's undo_marker: the reduction recorded here may still be undone; SND.UNA when it was recorded.
        public bool Armed;
        public UndoEpisode Episode;
        public SeqNumber Marker;
        public int PriorCwnd;
        // tcp_current_ssthresh before the reduction; 0 when nothing was recorded (nothing to restore).
        public int PriorSsthresh;
        // undo_retrans: segments resent since, less those D-SACK reported needless; -1 while none was resent.
        public int Retransmissions;
        // retrans_stamp: when the first of them left (Eifel compares the echoed timestamp with it).
        public TimeSpan? FirstRetransmission;
        // A segment resent before the episode (a loss probe's) is still unacknowledged: its first copy's time is not
        // kept, so the echo cannot be judged older than it, and Eifel stays silent.
        public bool ResentBefore;
        // The undo this ACK made, for the connection's event (None when none), and the counter it adds to.
        public TcpCause Undone;
        public MibCounter Counter;
    }

    // F-RTO runs for this timeout (Linux's tp->frto).
    private bool Frto { get => Has(SenderFlags.Frto); set => Set(SenderFlags.Frto, value); }
    // RFC 5682 step 2.b (Linux's REXMIT_NEW): the dispatch after this ACK sends new data, not the next retransmission.
    private bool FrtoNewData { get => Has(SenderFlags.FrtoNewData); set => Set(SenderFlags.FrtoNewData, value); }

    /// <summary>Linux's TCP_CA_Loss: a timeout's recovery point is not yet acknowledged (without SACK, not yet passed: <see cref="LossHeld"/>).</summary>
    private bool InLoss => !InRecovery && SndUna < _recoveryPoint || LossHeld;

    /// <summary>The undo the last ACK made (its cause and Linux's counter for it), once; None when it made none.</summary>
    public (TcpCause Cause, MibCounter Counter) TakeUndo()
    {
        if (_undo is not { Undone: not TcpCause.None } undo) return (TcpCause.None, default);
        TcpCause cause = undo.Undone;
        undo.Undone = TcpCause.None;
        return (cause, undo.Counter);
    }

    /// <summary>
    /// Linux's tcp_enter_loss, before the window falls: the reduction is recorded for an undo unless this timeout
    /// recurs in a Loss phase that already recorded one or ends a fast recovery (whose record stands: an undo restores the
    /// window before that recovery), and F-RTO runs unless the timeout ends a fast recovery (only a recurring timeout
    /// runs it then, RFC 5682 §3.2). <paramref name="retriesBefore"/>: timeouts before this one.
    /// </summary>
    private void EnterLoss(int retriesBefore)
    {
        TcpCongestionState state = CongestionState;
        bool newRecovery = state < TcpCongestionState.Recovery;
        // Linux: "Reduce ssthresh if it has not yet been made inside this window."
        if (state <= TcpCongestionState.Disorder || SndUna >= _recoveryPoint || state == TcpCongestionState.Loss && retriesBefore == 0)
        {
            // The timeout's marks are made: a resend it left in flight (RACK) may still be D-SACKed (tcp_init_undo's retrans_out).
            RecordUndo(UndoEpisode.Timeout, Segments(_queue.RetransmittedBytes));
        }
        else if (state == TcpCongestionState.Recovery && _undo is { Armed: true } undo)
        {
            // Linux's tcp_enter_loss keeps the fast recovery's record: an undo from now on is the timeout's (TCPLossUndo).
            undo.Episode = UndoEpisode.Timeout;
        }
        Frto = _config.Frto && (newRecovery || retriesBefore > 0) && !MtuProbeInFlight; // "Disable F-RTO on path MTU probing"
        FrtoNewData = false;
    }

    /// <summary>
    /// Linux's prior_cwnd, prior_ssthresh (tcp_current_ssthresh outside a reduction: at least three quarters of cwnd) and
    /// tcp_init_undo, before an episode's reduction: <paramref name="retransmissionsInFlight"/> segments already resent
    /// and in flight (a loss probe's) count against an undo until D-SACKed.
    /// </summary>
    private void RecordUndo(UndoEpisode episode, int retransmissionsInFlight)
    {
        UndoRecord undo = _undo ??= new UndoRecord();
        int cwnd = _congestion.Window;
        undo.Armed = true;
        undo.Episode = episode;
        undo.Marker = SndUna;
        undo.PriorCwnd = cwnd;
        undo.PriorSsthresh = Math.Max(_congestion.SlowStartThreshold, (cwnd >> 1) + (cwnd >> 2));
        undo.Retransmissions = retransmissionsInFlight > 0 ? retransmissionsInFlight : -1;
        undo.FirstRetransmission = null;
        undo.ResentBefore = AnyResent();
    }

    private bool AnyResent()
    {
        for (int i = 0; i < _queue.Count; i++)
        {
            if (_queue[i].Is(SegmentMarks.EverRetransmitted)) return true;
        }
        return false;
    }

    /// <summary>A retransmission left: it counts against an undo until D-SACK shows it needless (Linux's undo_retrans, retrans_stamp).</summary>
    private void CountRetransmissionForUndo(TimeSpan now, int length)
    {
        if (_undo is not { Armed: true } undo) return;
        if (undo.Retransmissions < 0) undo.Retransmissions = 0;
        undo.Retransmissions += Segments(length);
        undo.FirstRetransmission ??= now;
    }

    /// <summary>
    /// A D-SACK block of <paramref name="block"/>, taken before the ACK (at <paramref name="ack"/>) moves SND.UNA: a
    /// retransmission of this episode was needless. Below SND.UNA the segments are gone, so it counts blindly (Linux's
    /// tcp_check_dsack); above it, only segments that were resent count (tcp_sacktag_one), so a duplicate the link made
    /// of an original undoes nothing. Returns the segments the needless copy delivered
    /// (<see cref="DuplicateSegmentsDelivered"/>, tcp_dsack_seen); 0 for a dubious block, which Linux's tcp_check_dsack
    /// takes for no D-SACK at all: it counts nothing down for undo, widens no reordering window, and is not judged as one.
    /// </summary>
    private int TakeDuplicateReport(SackBlock block, SeqNumber ack)
    {
        int delivered = DuplicateSegmentsDelivered(block);
        if (delivered == 0 && !IsValidSackBlock(block, ack)) CountDiscardedSackBlock(block, ack); // judged as a plain SACK block
        if (delivered == 0) return 0;
        bool valid = IsValidDuplicateReport(block, ack);
        // With nothing in flight tcp_sacktag_write_queue stops before it judges the blocks.
        if (!valid && SndMax != SndUna) _counters.Count(_undo is { Armed: true } ? MibCounter.TcpExtTCPDSACKIgnoredOld : MibCounter.TcpExtTCPDSACKIgnoredNoUndo);
        if (_undo is { Armed: true, Retransmissions: > 0 } undo && block.Right > undo.Marker)
        {
            // Below SND.UNA as it was, tcp_check_dsack counts blindly; above it only a valid block's resent segments count
            // (tcp_sacktag_one): one straddling SND.UNA counts nothing.
            int needless = block.Right <= SndUna ? Segments(block.Right - block.Left) : valid ? ResentSegmentsWithin(block, undo.Marker) : 0;
            undo.Retransmissions = Math.Max(0, undo.Retransmissions - needless);
        }
        return delivered;
    }

    /// <summary>
    /// RFC 8985 §6.2 step 4: a D-SACK widens RACK's reordering window, unless it was dubious (<paramref name="duplicates"/>
    /// 0: Linux's tcp_dsack_seen sets rack.dsack_seen only past its tests). Under Linux's rules also only once reordering
    /// has been seen (tp->reord_seen) and not for the copy a tail loss probe made (FLAG_DSACK_TLP): Linux 6.18 widens the
    /// window only for a D-SACK that reordering may have caused, which a probe's, sent by a timer, never is.
    /// </summary>
    private bool DsackWidensReorderWindow(int duplicates, ReadOnlySpan<SackBlock> blocks) =>
        duplicates > 0 && (!LinuxRack || _rack.Events > 0 && !(_probeEnd == blocks[0].Right && blocks[0].Right - blocks[0].Left <= Mss));

    /// <summary>Linux's tcp_check_dsack: TCPDSACKRecv for a block starting below the ACK, TCPDSACKOfoRecv for one inside the second block.</summary>
    private void CountDuplicateReport(SackBlock block, SeqNumber ack) =>
        _counters.Count(block.Left < ack ? MibCounter.TcpExtTCPDSACKRecv : MibCounter.TcpExtTCPDSACKOfoRecv);

    /// <summary>
    /// Linux's tcp_is_sackblock_valid for a D-SACK not dubious: within SND.MAX, and above SND.UNA (which the ACK moves to
    /// <paramref name="ack"/> when it is above), or else wholly below it with a reduction recorded to undo and not older
    /// than the record. An invalid one is ignored: TCPDSACKIgnoredNoUndo with no record, else TCPDSACKIgnoredOld (older
    /// than the record, reaching above SND.UNA, as one straddling it does, or beyond SND.MAX).
    /// </summary>
    private bool IsValidDuplicateReport(SackBlock block, SeqNumber ack)
    {
        SeqNumber una = ack > SndUna ? ack : SndUna;
        return block.Right <= SndMax && (block.Left > una || _undo is { Armed: true } undo && block.Right <= una
            && (block.Left >= undo.Marker || block.Right > undo.Marker && block.Left >= block.Right - (int)MaxSndWnd));
    }

    private int ResentSegmentsWithin(SackBlock block, SeqNumber marker)
    {
        int resent = 0;
        for (int i = _queue.IndexEndingAfter(block.Left); i < _queue.Count; i++)
        {
            SentSegment segment = _queue[i];
            if (segment.Start >= block.Right) break;
            if (segment.Start >= block.Left && segment.End <= block.Right && segment.End > marker
                && segment.Is(SegmentMarks.EverRetransmitted)) resent += Segments(segment.Length);
        }
        return resent;
    }

    /// <summary>
    /// Linux's tcp_process_loss, on an ACK that arrived in the Loss phase (after the scoreboard took it):
    /// <paramref name="originalDelivered"/>, it acknowledged or SACKed a segment below the recovery point never resent
    /// (FLAG_ORIG_SACK_ACKED); <paramref name="dataSacked"/>, it SACKed data; <paramref name="duplicate"/>, it is a
    /// duplicate ACK.
    /// </summary>
    private void ProcessLoss(bool newAck, bool originalDelivered, bool dataSacked, bool duplicate, uint? echo)
    {
        bool recovered = SndUna >= _recoveryPoint;
        if (newAck && TryUndoLoss(echo, frto: false)) return;
        if (!Frto) return;
        // RFC 5682 §3.1 step 3.b: data sent once only and before the timeout arrived, so not all was lost: spurious.
        if (originalDelivered && TryUndoLoss(echo, frto: true)) return;
        if (SndMax > _recoveryPoint)
        {
            // Step 3.a: after the new data, a duplicate ACK or a SACK says the loss was real; go-back-N goes on.
            if (dataSacked || duplicate) Frto = false;
        }
        else if (newAck && !recovered)
        {
            _recoveryPoint = SndMax;
            // Step 2.b: new data, if any and the peer's window takes it, instead of the next retransmission.
            bool newData = Buffer.End > SndMax || Buffer.FinQueued && SndMax == Buffer.End;
            if (newData && SndWnd > SndMax - SndUna)
            {
                FrtoNewData = true;
                return;
            }
            Frto = false;
        }
    }

    /// <summary>
    /// Linux's tcp_try_undo_loss: by F-RTO, or when tcp_may_undo allows (every retransmission D-SACKed, or the echo
    /// older than the first of them), the segments deemed lost are not, and cwnd and ssthresh return to what they were
    /// before the timeout; the phase ends (Open) except without SACK when it was not F-RTO's undo.
    /// </summary>
    private bool TryUndoLoss(uint? echo, bool frto)
    {
        if (!frto && !MayUndo(echo)) return false;
        UndoRecord undo = _undo ??= new UndoRecord();
        TcpCause cause = frto ? TcpCause.SpuriousTimeoutFrto : undo.Retransmissions == 0 ? TcpCause.SpuriousTimeoutDsack : TcpCause.SpuriousTimeoutTimestamps;
        UndoReduction(undo, unmarkLoss: true, cause, MibCounter.TcpExtTCPLossUndo);
        Retries = 0;
        FrtoNewData = false;
        // F-RTO has decided: without SACK the Loss phase may hold, and its next ACK of data never resent must not
        // undo (and count) the same timeout again.
        Frto = false;
        // tcp_is_non_sack_preventing_reopen: without SACK the phase holds until data above the recovery point is acknowledged.
        if (!Sack && SndUna == _recoveryPoint) return true;
        if (frto || Sack) _recoveryPoint = SndUna - 1; // Open: a fast recovery may start at once
        return true;
    }

    /// <summary>
    /// Linux's tcp_undo_cwnd_reduction: cwnd and ssthresh back to what they were before the episode, never lower than
    /// now (the algorithm's undo_cwnd), and the record spent; with <paramref name="unmarkLoss"/> nothing is deemed lost any more.
    /// </summary>
    private void UndoReduction(UndoRecord undo, bool unmarkLoss, TcpCause cause, MibCounter counter)
    {
        if (unmarkLoss) _queue.UnmarkAllLost();
        // Linux's tcp_ecn_withdraw_cwr: a reduction taken back is not announced.
        if (undo.PriorSsthresh > _congestion.SlowStartThreshold) CwrQueued = false;
        if (undo.PriorSsthresh > 0) _congestion.UndoReduction(undo.PriorCwnd, undo.PriorSsthresh);
        undo.Armed = false;
        undo.PriorSsthresh = 0;
        undo.Undone = cause;
        undo.Counter = counter;
    }

    /// <summary>Linux's tcp_may_undo: a reduction recorded, and every retransmission D-SACKed or the ACK answers an original (tcp_packet_delayed).</summary>
    private bool MayUndo(uint? echo)
    {
        if (_undo is not { Armed: true } undo) return false;
        if (undo.Retransmissions == 0) return true;
        if (undo.FirstRetransmission is null) return !undo.ResentBefore; // nothing was resent in the episode
        return PacketDelayed(undo, echo);
    }

    /// <summary>Linux's tcp_packet_delayed: the ACK echoes a timestamp older than the episode's first retransmission.</summary>
    private bool PacketDelayed(UndoRecord undo, uint? echo) =>
        // RFC 3522: the echo is older than the retransmission, so it answers the original (TSecr 0 is none, as Linux).
        !undo.ResentBefore && undo.FirstRetransmission is TimeSpan first && echo is uint e && e != 0 && EchoPredates(e, first);

    /// <summary>
    /// Without SACK, in the Loss phase after F-RTO's new data: each duplicate ACK reports a segment delivered (Linux's
    /// tcp_add_reno_sack in tcp_process_loss), so the retransmissions that follow a real loss are clocked out by them.
    /// </summary>
    private int DuplicatesDeliveredInLoss =>
        !Sack && _dupAcks > 0 && _config.Frto && InLoss && SndMax > _recoveryPoint
            ? Math.Min(_dupAcks, Math.Max(0, Segments(FlightSize) - 1)) * Mss
            : 0;
}
