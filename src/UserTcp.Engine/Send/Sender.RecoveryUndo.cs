using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Spurious fast recoveries (a fast retransmit that reordering, not loss, drew), undone as Linux's tcp_fastretrans_alert
/// does: tcp_try_undo_recovery as the recovery ends (every retransmission D-SACKed, or the ACK echoes a timestamp older
/// than the first of them: Eifel, RFC 3522), tcp_try_undo_partial on a partial ACK that echoes such a timestamp, and
/// tcp_try_undo_dsack once D-SACKs (RFC 2883, RFC 3708) have reported every retransmission needless, in the recovery or
/// after it (or after a timeout's Loss phase) until the next episode. The record and the undo are Sender.Undo.cs's.
/// </summary>
internal sealed partial class Sender
{
    /// <summary>
    /// Linux's tcp_enter_recovery, before the window falls: the reduction is recorded for an undo (with
    /// <see cref="TcpConfig.RecoveryUndo"/>); otherwise an older record must not undo across this recovery.
    /// </summary>
    private void RecordRecoveryUndo()
    {
        if (!_config.RecoveryUndo)
        {
            if (_undo is not null) _undo.Armed = false;
            return;
        }
        RecordUndo(UndoEpisode.FastRecovery, Segments(_queue.RetransmittedBytes));
    }

    /// <summary>
    /// Linux's tcp_try_undo_recovery in Recovery, on the ACK that reaches the recovery point: when tcp_may_undo allows,
    /// cwnd and ssthresh return to what they were before the recovery (TCPFullUndo); segments deemed lost stay so.
    /// </summary>
    private bool TryUndoRecovery(uint? echo)
    {
        if (_undo is not { Episode: UndoEpisode.FastRecovery } undo || !MayUndo(echo)) return false;
        TcpCause cause = undo.Retransmissions == 0 ? TcpCause.SpuriousFastRetransmitDsack : TcpCause.SpuriousFastRetransmitTimestamps;
        UndoReduction(undo, unmarkLoss: false, cause, MibCounter.TcpExtTCPFullUndo);
        return true;
    }

    /// <summary>
    /// Linux's tcp_try_undo_partial, on an ACK in recovery that advances SND.UNA short of the recovery point and echoes a
    /// timestamp older than the first retransmission: the delayed original filled the hole. With no retransmission in
    /// flight the recovery is undone (nothing deemed lost, TCPPartialUndo) and ends; with some, <paramref name="hold"/>:
    /// this ACK deems nothing more lost. Either way RACK learns of the reordering from <paramref name="priorSndUna"/> on.
    /// </summary>
    private bool TryUndoPartial(uint? echo, SeqNumber priorSndUna, out bool hold)
    {
        hold = false;
        if (_undo is not { Armed: true, Episode: UndoEpisode.FastRecovery } undo || !PacketDelayed(undo, echo)) return false;
        if (Rack) _rack.OnReorderedByTimestamps(priorSndUna, Mss);
        if (_queue.RetransmittedBytes > 0)
        {
            hold = true;
            return false;
        }
        UndoReduction(undo, unmarkLoss: true, TcpCause.SpuriousFastRetransmitTimestamps, MibCounter.TcpExtTCPPartialUndo);
        LeaveRecoveryUndone();
        return true;
    }

    /// <summary>
    /// Linux's tcp_try_undo_dsack, in recovery or in Open or Disorder after an episode: D-SACKs reported every
    /// retransmission since the record needless (undo_retrans 0), so its reduction is undone (TCPDSACKUndo); segments
    /// deemed lost stay so. A timeout's record undoes only with <see cref="TcpConfig.Frto"/>.
    /// </summary>
    private bool TryUndoDsack()
    {
        if (_undo is not { Armed: true, Retransmissions: 0 } undo) return false;
        bool recovery = undo.Episode == UndoEpisode.FastRecovery;
        if (!recovery && !_config.Frto) return false;
        UndoReduction(undo, unmarkLoss: false, recovery ? TcpCause.SpuriousFastRetransmitDsack : TcpCause.SpuriousTimeoutDsack, MibCounter.TcpExtTCPDSACKUndo);
        if (Rack) _rack.OnDsackUndo();
        return true;
    }

    /// <summary>
    /// Linux's tcp_try_keep_open after an undo inside the recovery: the recovery is over (PRR's and NewReno's windows give
    /// way to the restored cwnd), and, the reduction taken back, a new one may start at once if loss is evident.
    /// </summary>
    private void LeaveRecoveryUndone()
    {
        InRecovery = false;
        _recoveryPoint = SndUna - 1;
    }
}
