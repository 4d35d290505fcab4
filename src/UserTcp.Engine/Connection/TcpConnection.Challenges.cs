using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What answers an unacceptable segment (RFC 5961, RFC 9293 §3.10.7.4): challenge ACKs and duplicate ACKs, within the
/// per-connection limit (Linux's tcp_invalid_ratelimit) and the stack-wide challenge-ACK budget (RFC 5961 §7).
/// </summary>
public sealed partial class TcpConnection
{
    // One budget for every limited answer on this connection (Linux's last_oow_ack_time).
    private InvalidAckLimit _invalidAcks;
    // The SYN-ACK about to go answers a repeated SYN (a Fast Open child's keeps the retransmission deadline).
    private bool SynAckForRepeatedSyn { get => Has(ConnectionFlags.SynAckForRepeatedSyn); set => Set(ConnectionFlags.SynAckForRepeatedSyn, value); }

    /// <summary>
    /// A challenge ACK <c>&lt;SEQ=SND.NXT&gt;&lt;ACK=RCV.NXT&gt;&lt;CTL=ACK&gt;</c> (RFC 5961 §3.2, §4.2, §5.2): the peer, if it
    /// is really there, learns where we are; a blind attacker learns nothing. Rate-limited per connection, then per stack.
    /// </summary>
    private void SendChallengeAck(TimeSpan now)
    {
        if (!_invalidAcks.TryTake(now, _config.InvalidAckInterval) || !_engine.ChallengeAcks.TryTake(now))
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPACKSkippedChallenge);
            return;
        }
        _engine.Counters.Count(MibCounter.TcpExtTCPChallengeACK);
        _receiver.AckNow = true;
    }

    /// <summary>
    /// A segment outside the window (not a RST) is dropped with an answer: &lt;SEQ=SND.NXT&gt;&lt;ACK=RCV.NXT&gt;&lt;CTL=ACK&gt;
    /// (RFC 9293 §3.10.7.4), with a D-SACK for a duplicate (RFC 2883); a SYN gets a challenge ACK (RFC 5961 §4), as
    /// Linux's syn_challenge.
    /// </summary>
    private void DropOutsideWindow(TimeSpan now, in TcpSegment seg, SeqNumber seq, int segLen)
    {
        if (seg.Has(TcpFlags.Syn))
        {
            ChallengeSyn(now);
        }
        else
        {
            _receiver.NoteUnacceptable(seq, segLen);
            AnswerUnacceptable(now, seg, MibCounter.TcpExtTCPACKSkippedSeq);
        }
        Drop(now, seg, TcpCause.OutsideWindow);
    }

    /// <summary>
    /// The duplicate ACK for a segment outside the window or rejected by PAWS: always for one that carries data or a FIN
    /// (it cannot be part of an ACK loop), otherwise within the per-connection limit, as Linux's tcp_oow_rate_limited.
    /// </summary>
    private void AnswerUnacceptable(TimeSpan now, in TcpSegment seg, MibCounter skipped)
    {
        if (seg.SegmentLength > 0 && !seg.Has(TcpFlags.Syn) || _invalidAcks.TryTake(now, _config.InvalidAckInterval))
        {
            _receiver.AckNow = true;
            return;
        }
        _engine.Counters.Count(skipped);
    }

    /// <summary>
    /// SYN-RECEIVED and the peer's SYN again: our SYN-ACK goes again, at most once per invalid-ACK interval (Linux's
    /// TCPACKSkippedSynRecv), using up a SYN-ACK retry. Its timer restarts from then with the current RTO, as Linux's
    /// tcp_check_req restarts the request's (mod_timer_pending, tcp_reqsk_timeout: backed off by timeouts alone); a Fast
    /// Open child's timer is its socket's, which tcp_check_req leaves alone, so it keeps its deadline.
    /// </summary>
    private void AnswerRepeatedSyn(TimeSpan now)
    {
        if (!_invalidAcks.TryTake(now, _config.InvalidAckInterval))
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPACKSkippedSynRecv);
            return;
        }
        if (!_sender.TakeSynAckRetry(RetryLimit))
        {
            EnterClosed(TimeoutError, TcpCause.RetransmissionsExhausted);
            return;
        }
        SynDue = true;
        SynAckForRepeatedSyn = true;
        _engine.MarkPending(this);
    }

    /// <summary>RFC 5961 §4: a SYN on a synchronized connection is answered only by a challenge ACK.</summary>
    private void ChallengeSyn(TimeSpan now)
    {
        _engine.Counters.Count(MibCounter.TcpExtTCPSYNChallenge);
        SendChallengeAck(now);
    }

    /// <summary>
    /// RFC 5961 §5.2: an ACK is acceptable only in SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT (SND.MAX here: BSD's, see
    /// docs/design.md "The engine"); anything else is dropped with a challenge ACK, so a blind attacker who hits the
    /// receive window still needs to guess an ACK within the peer's largest window. That window is cut to what has been
    /// acknowledged, so no ACK of bytes we never sent passes (Linux's tcp_ack since "tcp: do not accept ACK of bytes we
    /// never sent": min(max_window, bytes_acked)).
    /// </summary>
    private bool AckIsAcceptable(TimeSpan now, in TcpSegment seg)
    {
        SeqNumber ack = seg.AcknowledgmentNumber;
        long oldest = Math.Min(_sender.MaxSndWnd, _sender.BytesAcked);
        TcpCause? refused = ack > SndMax ? TcpCause.AckOfUnsentData
            : ack < SndUna - (int)Math.Min(oldest, int.MaxValue) ? TcpCause.AckTooOld
            : null;
        if (refused is not TcpCause cause) return true;
        SendChallengeAck(now);
        Drop(now, seg, cause);
        return false;
    }
}
