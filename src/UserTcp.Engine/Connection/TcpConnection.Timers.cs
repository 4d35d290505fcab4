using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What each timer does when it fires (<see cref="ConnectionTimers.FireDue"/> calls in, in its order).</summary>
public sealed partial class TcpConnection
{
    internal void OnTimer(TcpTimer timer, TimeSpan now)
    {
        switch (timer)
        {
            case TcpTimer.TimeWait:
                EnterClosed(TcpError.None, TcpCause.TimeWaitExpired);
                break;
            case TcpTimer.FinWait2:
                // Linux lets an orphaned FIN-WAIT-2 expire silently (tcp_fin_timeout); a later FIN from the peer gets RST.
                EnterClosed(TcpError.None, TcpCause.FinWait2Timeout);
                break;
            case TcpTimer.Retransmission:
                OnRetransmissionTimeout(now);
                break;
            case TcpTimer.ReorderTimeout:
                if (_sender.OnReorderTimeout(now)) _engine.MarkPending(this);
                CountLossRecoveryEvents();
                break;
            case TcpTimer.LossProbe:
                _sender.OnLossProbeTimeout();
                _engine.MarkPending(this);
                break;
            case TcpTimer.Persist:
                OnPersistTimeout(now);
                break;
            case TcpTimer.DelayedAck:
                _receiver.OnDelayedAckTimeout();
                _engine.Counters.Count(MibCounter.TcpExtDelayedACKs); // armed only while an ACK is owed: this one goes now
                _engine.MarkPending(this);
                break;
            case TcpTimer.KeepAlive:
                OnKeepAliveTimeout(now);
                break;
            case TcpTimer.UserTimeout:
                if (UserTimeoutExpired(now)) EnterClosed(TimeoutError, TcpCause.UserTimeoutExpired);
                break;
            case TcpTimer.CloseWait:
                // Opt-in (TcpConfig.CloseWaitTimeout): the application has left CLOSE-WAIT idle; close as it would have.
                if (State == TcpState.CloseWait && !IsOrphaned) Close(TcpCause.CloseWaitIdle);
                break;
        }
    }

    /// <summary>Arms (or restarts) the opt-in CLOSE-WAIT idle timer: on entering CLOSE-WAIT, and on each write there.</summary>
    private void ArmCloseWaitIdle(TimeSpan now)
    {
        if (_config.CloseWaitTimeout is TimeSpan idle && State == TcpState.CloseWait) Timers.Arm(TcpTimer.CloseWait, now + idle);
    }

    private int RetryLimit => State switch
    {
        TcpState.SynSent => SynRetries,
        // Linux's syn_ack_recalc: a deferred connection whose bare ACK came lives to the end of the defer period.
        TcpState.SynReceived => DeferredAckSeen ? Math.Max(_config.SynAckRetries, DeferAcceptTimeouts)
            // tcp_fastopen_synack_timer: an accepted Fast Open connection gets one retry more, so it is not given up too easily.
            : IsFastOpenChild ? _config.SynAckRetries + 1 : _config.SynAckRetries,
        _ => IsOrphaned ? _config.OrphanRetries : _config.DataRetries,
    };

    /// <summary>
    /// TCP_USER_TIMEOUT: with it, retransmissions and zero-window probes give up once this long has passed since the
    /// stall's first retransmission (Linux's retrans_stamp: a fast retransmit or the first timeout's, not a loss probe)
    /// or the zero window's first probe, answered or not, not after a retry count (Linux retransmits_timed_out,
    /// tcp_probe_timer; an orphan keeps tcp_orphan_retries as well). Null: the retry limits alone.
    /// </summary>
    public TimeSpan? UserTimeout
    {
        get;
        set
        {
            field = value;
            ArmUserTimeout();
        }
    }

    /// <summary>The retry limit when TCP_USER_TIMEOUT decides instead: only an orphan's remains.</summary>
    private int RetryLimitUnderUserTimeout => UserTimeout is null || IsOrphaned ? RetryLimit : int.MaxValue;

    private bool UserTimeoutExpired(TimeSpan now) => UserTimeout is TimeSpan limit
        && (_sender.Retries > 0 && now - _sender.StallStart >= limit || _sender.ProbeStart is TimeSpan probing && now - probing >= limit);

    /// <summary>While a stall lasts, the user timeout fires at its end (Linux clamps the RTO and probe timer to it).</summary>
    private void ArmUserTimeout()
    {
        if (UserTimeout is not TimeSpan limit) return;
        if (_sender.Retries > 0) Timers.Arm(TcpTimer.UserTimeout, _sender.StallStart + limit);
        else if (_sender.ProbeStart is TimeSpan probing) Timers.Arm(TcpTimer.UserTimeout, probing + limit);
    }

    private void OnRetransmissionTimeout(TimeSpan now)
    {
        bool synchronizing = State is TcpState.SynSent or TcpState.SynReceived;
        if (UserTimeoutExpired(now))
        {
            EnterClosed(TimeoutError, TcpCause.UserTimeoutExpired);
            return;
        }
        // TCP_DEFER_ACCEPT: once the bare ACK came, the SYN-ACK is resent only at the end of the defer period, a last
        // chance for the data or an ACK to make the connection (Linux's syn_ack_recalc).
        if (State == TcpState.SynReceived && DeferredAckSeen && _sender.Retries < DeferAcceptTimeouts - 1)
        {
            if (!_sender.OnDeferredSynAckTimeout(now, RetryLimitUnderUserTimeout)) EnterClosed(TimeoutError, TcpCause.RetransmissionsExhausted);
            return;
        }
        // Before the timeout takes cwnd to one segment, so that segment is of the lowered size (Linux counts cwnd in packets).
        if (!synchronizing) SuspectMtuBlackHole(now);
        if (!_sender.OnRetransmissionTimeout(now, RetryLimitUnderUserTimeout, synchronizing))
        {
            EnterClosed(TimeoutError, TcpCause.RetransmissionsExhausted);
            return;
        }
        _engine.Counters.RetransmissionTimeouts++;
        CountLossRecoveryEvents(); // resends still in flight are lost again (Linux's tcp_timeout_mark_lost)
        ArmUserTimeout();
        if (synchronizing) SynDue = true; // the SYN (or SYN-ACK) goes again
        _engine.MarkPending(this);
    }

    /// <summary>
    /// Retransmissions the sender deemed lost again (an ACK's RACK pass, the reorder timer, a timeout), counted as Linux's
    /// TCPLostRetransmit, and path MTU probes it found acknowledged or lost.
    /// </summary>
    private void CountLossRecoveryEvents()
    {
        int lost = _sender.TakeLostRetransmissions();
        if (lost > 0) _engine.Counters.Count(MibCounter.TcpExtTCPLostRetransmit, lost);
        CountMtuProbes(); // path MTU probes found acknowledged or lost (TcpConnection.MtuProbe.cs)
    }

    private void OnPersistTimeout(TimeSpan now)
    {
        if (UserTimeoutExpired(now))
        {
            EnterClosed(TimeoutError, TcpCause.UserTimeoutExpired);
            return;
        }
        if (_sender.TakeWakeup(now, RetryLimitUnderUserTimeout, out bool refusedTooOften))
        {
            ArmUserTimeout();
            _engine.MarkPending(this);
            return;
        }
        if (refusedTooOften)
        {
            // Linux's tcp_probe_timer: probes the local queue refused count against tcp_retries2 as unanswered ones do.
            EnterClosed(TimeoutError, TcpCause.RetransmissionsExhausted);
            return;
        }
        if (_sender.TakePersistProbe(now, RetryLimitUnderUserTimeout, IsOrphaned, out TcpCause gaveUp))
        {
            ArmUserTimeout();
            // A zero-window probe as Linux sends it: an old sequence number (SND.UNA - 1) and no data, so the peer
            // must answer with an ACK that carries its current window (RFC 9293 §3.8.6.1). Counted when tried, as
            // Linux's tcp_xmit_probe_skb counts TCPWinProbe before the queue answers.
            _engine.Counters.Count(MibCounter.TcpExtTCPWinProbe);
            if (SendControl(now, SndUna - 1, TcpFlags.Ack) == TransmitResult.Refused) _sender.OnPersistProbeRefused(now);
        }
        else if (gaveUp != TcpCause.None)
        {
            EnterClosed(TimeoutError, gaveUp); // Linux's tcp_write_err: no RST
        }
    }

    private void OnKeepAliveTimeout(TimeSpan now)
    {
        if (!KeepAliveApplies) return;
        if (_keepAliveProbes == 0 && _lastActivity + KeepAliveIdle > now)
        {
            // Segments arrived since the timer was set: idle time counts from the last of them.
            Timers.Arm(TcpTimer.KeepAlive, _lastActivity + KeepAliveIdle);
            return;
        }
        if (!_sender.AllAcknowledged || _sender.HasDataOrFinToSend)
        {
            // Data is outstanding or waits (a shut window): the retransmission or persist timer watches the peer; check
            // again after an idle period (Linux's tcp_keepalive_timer: packets_out || !tcp_write_queue_empty).
            ArmKeepAlive(now);
            return;
        }
        // With TCP_USER_TIMEOUT, keepalive gives up once probes are out and nothing arrived for that long (Linux tcp_keepalive_timer).
        if (UserTimeout is TimeSpan limit ? _keepAliveProbes > 0 && now - _lastActivity >= limit : _keepAliveProbes >= KeepAliveCount)
        {
            // Linux resets the connection when keepalive gives up (tcp_keepalive_timer sends an active reset).
            ResetAndClose(TimeoutError, TcpCause.KeepAliveTimeout);
            return;
        }
        // RFC 1122 §4.2.3.6: a probe carries SEG.SEQ = SND.NXT - 1 and no data, which the peer must acknowledge.
        // Counted when tried, as Linux's tcp_xmit_probe_skb counts TCPKeepAlive before the queue answers.
        _engine.Counters.Count(MibCounter.TcpExtTCPKeepAlive);
        if (SendControl(now, SndUna - 1, TcpFlags.Ack) == TransmitResult.Refused)
        {
            // Linux's tcp_keepalive_timer: a probe the local queue refused does not count, and is tried again in 500 ms.
            Timers.Arm(TcpTimer.KeepAlive, now + Sender.ResourceProbeInterval);
            return;
        }
        _keepAliveProbes++;
        Timers.Arm(TcpTimer.KeepAlive, now + KeepAliveInterval);
    }

    /// <summary>
    /// Keepalive watches every synchronized state before TIME-WAIT, as Linux's tcp_keepalive_timer (which stops only in
    /// CLOSE and SYN-SENT): a half-closed FIN-WAIT-2 waits for the peer with no other timer. An orphaned FIN-WAIT-2 is
    /// its own timer's; where data or a FIN is unacknowledged the retransmission timer watches and keepalive waits.
    /// </summary>
    private bool KeepAliveApplies => KeepAlive && (State is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1
        or TcpState.Closing or TcpState.LastAck || State == TcpState.FinWait2 && !IsOrphaned);

    private void ArmKeepAlive(TimeSpan now)
    {
        if (KeepAliveApplies)
        {
            Timers.Arm(TcpTimer.KeepAlive, now + KeepAliveIdle);
        }
        else
        {
            Timers.Cancel(TcpTimer.KeepAlive);
        }
    }

    private void ArmFinWait2(TimeSpan now) => Timers.Arm(TcpTimer.FinWait2, now + FinWait2Timeout);

    private void ArmTimeWait(TimeSpan now)
    {
        Timers.Arm(TcpTimer.TimeWait, now + _config.TimeWait);
        _engine.MarkPending(this);
    }
}
