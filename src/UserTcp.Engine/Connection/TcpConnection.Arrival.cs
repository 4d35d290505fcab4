using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>Segment arrival, RFC 9293 §3.10.7 in order, with PAWS (RFC 7323 §5) before the sequence check.</summary>
public sealed partial class TcpConnection
{
    // ───────────────────────────── opening ─────────────────────────────

    /// <summary>Active open (RFC 9293 §3.10.1): the SYN goes out on the next poll.</summary>
    internal void OpenActive()
    {
        SetState(TcpState.SynSent, TcpCause.Connect);
        RequestEcn();
        SynDue = true;
        _engine.MarkPending(this);
    }

    /// <summary>Passive open from LISTEN on an acceptable SYN (RFC 9293 §3.10.7.2).</summary>
    internal void OpenPassive(TimeSpan now, in TcpSegment syn, TcpCause cause)
    {
        _receiver.Synchronize(syn.SequenceNumber);
        TakePeerSyn(now, syn);
        TakeSynEcn(syn);
        _sender.TakeSynWindow(syn.SequenceNumber, syn.Window); // RFC 7323 §2.2: the window in a SYN is never scaled
        SetState(TcpState.SynReceived, cause);
        InSynQueue = true;
        _lastActivity = now;
        SynDue = true;
        _engine.MarkPending(this);
    }

    /// <summary>The peer's SYN options settle what both sides use (RFC 7323, RFC 2018).</summary>
    private void TakePeerSyn(TimeSpan now, in TcpSegment syn) => TakePeerSyn(now, syn.Options);

    private void TakePeerSyn(TimeSpan now, in TcpOptions synOptions)
    {
        _options.TakePeerSyn(synOptions);
        _sender.SetMss(_options.SendMss, _options.Timestamps ? TimestampOptionBytes : 0);
        _sender.WindowShift = _options.SendWindowShift;
        _sender.Sack = _options.Sack;
        _sender.Timestamps = _options.Timestamps ? _timestamps : null;
        _receiver.WindowShift = _options.ReceiveWindowShift;
        _receiver.SackEnabled = _options.Sack;
        if (_options.Timestamps) _timestamps.TakeRecent(synOptions.Timestamp!.Value.Value, now);
        StartMtuSearch(now, _options.PeerMss, active: State == TcpState.SynSent);
    }

    // ───────────────────────────── segment arrival (RFC 9293 §3.10.7) ─────────────────────────────

    /// <summary>Processes one arriving segment for this connection, in the RFC's order.</summary>
    internal void OnSegment(TimeSpan now, in TcpSegment seg)
    {
        if (State == TcpState.SynSent)
        {
            _lastActivity = now;
            OnSegmentInSynSent(now, seg);
            return;
        }

        SeqNumber seq = seg.SequenceNumber;
        int segLen = seg.SegmentLength;

        // SYN-RECEIVED: the peer retransmitted its SYN, so our SYN-ACK was lost; send it again (as Linux does), as a retry.
        if (State == TcpState.SynReceived && seg.Has(TcpFlags.Syn) && (seg.Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Fin)) == 0 && seq == Irs)
        {
            Drop(now, seg, TcpCause.RetransmittedSyn);
            AnswerRepeatedSyn(now);
            return;
        }

        // PAWS (RFC 7323 §5.3 R1): an old TSval marks a duplicate from long ago; drop it and ACK (a RST is exempt, as Linux).
        TcpTimestamp? timestamp = _options.Timestamps ? seg.Options.Timestamp : null;
        if (timestamp is TcpTimestamp old && !seg.Has(TcpFlags.Rst) && _timestamps.IsOld(old.Value, now))
        {
            // Linux 6.18's tcp_validate_incoming: a SYN goes to its challenge uncounted; a pure ACK below RCV.NXT is an old
            // ACK, common with reordering, dropped without an answer (PAWSOldAck, tcp_disordered_ack_check); anything
            // else is PAWSEstab.
            if (segLen == 0 && seg.Has(TcpFlags.Ack) && !seg.Has(TcpFlags.Syn) && seq < _receiver.RcvNxt)
            {
                _engine.Counters.Count(MibCounter.TcpExtPAWSOldAck);
                Drop(now, seg, TcpCause.PawsRejected);
                return;
            }
            if (!seg.Has(TcpFlags.Syn)) _engine.Counters.Count(MibCounter.TcpExtPAWSEstab);
            // A late original of data already taken (reordering) is a duplicate: the ACK carries a D-SACK for it, as
            // Linux's tcp_send_dupack does, so the sender can tell its retransmission was needless (RFC 2883); a SYN
            // draws a challenge ACK there instead (syn_challenge).
            if (!seg.Has(TcpFlags.Syn)) _receiver.NoteUnacceptable(seq, segLen);
            AnswerUnacceptable(now, seg, MibCounter.TcpExtTCPACKSkippedPAWS);
            Drop(now, seg, TcpCause.PawsRejected);
            return;
        }

        // SYN-RECEIVED after a simultaneous open: the peer's SYN-ACK repeats its SYN at IRS, an old octet; only the
        // rest of the segment (its ACK) is new, so judge acceptability without it (RFC 9293 Figure 7, line 6).
        bool oldSyn = State == TcpState.SynReceived && seg.Has(TcpFlags.Syn) && seq == Irs;
        // First: sequence number acceptability, the four cases of RFC 9293 §3.10.7.4.
        if (!_receiver.IsAcceptable(oldSyn ? seq + 1 : seq, oldSyn ? segLen - 1 : segLen))
        {
            if (!seg.Has(TcpFlags.Rst))
            {
                // Linux 6.17's TcpExtBeyondWindow, its tcp_sequence's INVALID_SEQUENCE: a segment starting past the window's edge.
                if (!seg.Has(TcpFlags.Syn) && _receiver.StartsBeyondWindow(seq)) _engine.Counters.Count(MibCounter.TcpExtBeyondWindow);
                // Linux judges the left edge by Last.ACK.sent (tcp_sequence uses rcv_wup), so a duplicate that reaches
                // it still sets TS.Recent, and our ACK echoes the retransmission's TSval: the peer gets its RTT sample.
                if (timestamp is TcpTimestamp duplicate && seq <= _receiver.LastAckSent && seq + segLen >= _receiver.LastAckSent
                    && seg.Has(TcpFlags.Ack) && seg.AcknowledgmentNumber <= SndMax)
                    _timestamps.TakeRecent(duplicate.Value, now);
                DropOutsideWindow(now, seg, seq, segLen);
            }
            else
            {
                Drop(now, seg, TcpCause.ResetOutsideWindow);
            }
            return;
        }

        // Linux 6.17's tcp_sequence (TcpConfig.DropBeyondWindow, off by default): data ending past the window's edge while
        // in-order data waits to be read drops the whole segment, its ACK unprocessed, and draws an ACK at once
        // (tcp_send_dupack; a FIN may pass the edge, Linux 6.18's leniency). RFC 9293 §3.10.7.4 takes that ACK.
        if (_config.DropBeyondWindow && !seg.Has(TcpFlags.Rst) && !oldSyn && _receiver.EndsBeyondWindowWithDataQueued(seq, segLen - (seg.Has(TcpFlags.Fin) ? 1 : 0)))
        {
            _engine.Counters.Count(MibCounter.TcpExtBeyondWindow);
            DropOutsideWindow(now, seg, seq, segLen);
            return;
        }

        // Second: the RST bit. RFC 5961 §3.2 (adopted by RFC 9293): only an exact RCV.NXT match resets; any other
        // in-window RST draws a challenge ACK.
        if (seg.Has(TcpFlags.Rst))
        {
            OnReset(now, seg);
            return;
        }

        // Fourth: a SYN in a synchronized state draws a challenge ACK (RFC 5961 §4, RFC 9293 §3.10.7.4).
        if (seg.Has(TcpFlags.Syn) && (State != TcpState.SynReceived || seq != Irs))
        {
            if (State == TcpState.SynReceived && Listener is not null)
            {
                // RFC 9293 §3.10.7.4: a passive open returns to LISTEN; Linux's tcp_check_req resets the sender too.
                _engine.QueueResetFor(Id, seg);
                EnterClosed(TcpError.None, TcpCause.SynInPassiveSynReceived);
                return;
            }
            ChallengeSyn(now);
            Drop(now, seg, TcpCause.SynInSynchronizedState);
            return;
        }

        // Fifth: the ACK field.
        if (!seg.Has(TcpFlags.Ack))
        {
            Drop(now, seg, TcpCause.NoAck);
            return;
        }
        if (!OnAck(now, seg)) return;
        if (oldSyn && Listener is null) _receiver.NoteRepeatedSyn(Irs); // the repeated SYN is old: a D-SACK of it, ACKed at once (Linux)

        // Sixth: URG is not supported; the urgent pointer is ignored and the data delivered inline (RFC 6093 §5 advice).
        // Seventh and eighth: segment text and FIN. Text or a FIN inside the window shows the peer alive whatever its ACK
        // (Linux's keepalive counts from the later of the last acceptable ACK and the last data, icsk_ack.lrcvtime).
        if (!seg.Payload.IsEmpty || seg.Has(TcpFlags.Fin)) _lastActivity = now;
        OnText(now, seg);
        // A FIN+ACK whose FIN could not be taken yet (out of order) still acknowledged our FIN.
        if (State == TcpState.FinWait1 && _sender.FinAcknowledged) EnterFinWait2(now);
    }

    /// <summary>Linux's TCP_TIMEOUT_MIN: two jiffies, at the HZ 1000 the engine's Linux timings assume (as for the ACK of a FIN).</summary>
    private static readonly TimeSpan SynResendAfterUnacceptableAck = TimeSpan.FromMilliseconds(2);

    private void OnSegmentInSynSent(TimeSpan now, in TcpSegment seg)
    {
        // RFC 9293 §3.10.7.3.
        bool hasAck = seg.Has(TcpFlags.Ack);
        if (hasAck && (seg.AcknowledgmentNumber <= Iss || seg.AcknowledgmentNumber > SynSentAckLimit))
        {
            if (!seg.Has(TcpFlags.Rst)) _engine.QueueReset(Id, seg.AcknowledgmentNumber, default, TcpFlags.Rst);
            // Linux's tcp_rcv_synsent_state_process: the ACK may be a previous connection's whose FIN/ACK or RST/ACK
            // was lost, so before any retransmission the SYN goes again after TCP_TIMEOUT_MIN.
            if (_sender.Retries == 0) Timers.Arm(TcpTimer.Retransmission, now + SynResendAfterUnacceptableAck);
            Drop(now, seg, TcpCause.UnacceptableAck);
            return;
        }
        // Linux's tcp_rcv_synsent_state_process (PAWSActiveRejected): a TSecr that echoes no TSval sent since our first
        // SYN means a SYN-ACK not for this SYN (a stale or forged one, as synack-data.pkt sends): RST, and drop it.
        if (hasAck && _config.Timestamps && seg.Options.Timestamp is TcpTimestamp echoed && echoed.EchoReply != 0
            && unchecked(echoed.EchoReply - _timestamps.Value(_sender.FirstSynSentAt)) > unchecked(_timestamps.Value(now) - _timestamps.Value(_sender.FirstSynSentAt)))
        {
            _engine.Counters.Count(MibCounter.TcpExtPAWSActiveRejected);
            if (!seg.Has(TcpFlags.Rst)) _engine.QueueReset(Id, seg.AcknowledgmentNumber, default, TcpFlags.Rst);
            Drop(now, seg, TcpCause.PawsRejected);
            return;
        }
        if (seg.Has(TcpFlags.Rst))
        {
            if (hasAck) EnterClosed(TcpError.ConnectionRefused, TcpCause.ConnectionRefused);
            else Drop(now, seg, TcpCause.NotSynInSynSent);
            return;
        }
        if (!seg.Has(TcpFlags.Syn))
        {
            Drop(now, seg, TcpCause.NotSynInSynSent);
            return;
        }

        _receiver.Synchronize(seg.SequenceNumber);
        TakePeerSyn(now, seg);
        TakePeerEcnAnswer(seg);
        if (hasAck)
        {
            // Our SYN is acknowledged: ESTABLISHED, answer with an ACK (the window in a SYN-ACK is not scaled).
            TakeSynDataAsSent();
            _sender.OnSynAcknowledged(now, seg, seg.Window, ack: Iss + 1);
            _receiver.AdvertisedInSyn();
            SynDue = false;
            SetState(TcpState.Established, TcpCause.SynAckReceived);
            // Data a Fast Open SYN carried is acknowledged as any data is (Linux's tcp_ack on the SYN-ACK).
            if (seg.AcknowledgmentNumber > Iss + 1) _sender.OnAck(now, seg.AcknowledgmentNumber, seg.Options, mayBeDuplicate: false);
            // Data resent for a Fast Open SYN-ACK carries the ACK (tcp_rcv_fastopen_synack returns before tcp_send_ack).
            _receiver.AckNow = !OnFastOpenSynAck(now, seg);
            // Data queued in SYN-SENT (a Fast Open write) waits to go: Linux's sk_write_pending case, ACK timeout at its minimum.
            if (_sender.Buffer.End > _sender.SndMax) _receiver.OnSynAckWithWriterWaiting(now);
            EnterEstablished(now);
            OnText(now, seg);
        }
        else
        {
            // Simultaneous open (RFC 9293 Figure 7): SYN-RECEIVED, and our SYN goes out again with an ACK. Data our SYN
            // carried stays sent (SND.NXT past it, as Linux keeps the SYN-data skb queued); the peer's SYN data is not taken.
            TakeSynDataAsSent();
            _sender.TakeSynWindow(seg.SequenceNumber, seg.Window);
            SynDue = true;
            Timers.Cancel(TcpTimer.Retransmission);
            SetState(TcpState.SynReceived, TcpCause.SimultaneousOpen);
        }
        _engine.MarkPending(this);
    }

    private void OnReset(TimeSpan now, in TcpSegment seg)
    {
        if (seg.SequenceNumber != RcvNxt)
        {
            SendChallengeAck(now);
            Drop(now, seg, TcpCause.ResetNotExact);
            return;
        }
        switch (State)
        {
            case TcpState.SynReceived when IsFastOpenChild:
                // A Fast Open connection is the application's already (accepted at its SYN): it sees the reset, as Linux's tcp_reset.
                EnterClosed(TcpError.ConnectionReset, TcpCause.ResetReceived);
                break;
            case TcpState.SynReceived when Listener is not null:
                // RFC 9293 §3.10.7.4: a passive open goes back to LISTEN; the listener never saw this connection.
                EnterClosed(TcpError.None, TcpCause.ResetReceived);
                break;
            case TcpState.SynReceived:
                EnterClosed(TcpError.ConnectionRefused, TcpCause.ConnectionRefused);
                break;
            case TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait:
                EnterClosed(TcpError.ConnectionReset, TcpCause.ResetReceived);
                break;
            case TcpState.TimeWait when _config.TimeWaitRst == TimeWaitRstPolicy.Ignore:
                Drop(now, seg, TcpCause.ResetIgnoredInTimeWait);
                break;
            default:
                // CLOSING, LAST-ACK, TIME-WAIT (Linux's default policy): the connection just ends.
                EnterClosed(TcpError.None, TcpCause.ResetReceived);
                break;
        }
    }

    /// <summary>Fifth step, the ACK field. Returns false when the segment is finished with.</summary>
    private bool OnAck(TimeSpan now, in TcpSegment seg)
    {
        SeqNumber ack = seg.AcknowledgmentNumber;
        if (State == TcpState.SynReceived)
        {
            if (!(Iss < ack && ack <= SndMax)) // (a Fast Open connection's SND.UNA is past its SYN-ACK already)
            {
                _engine.QueueReset(Id, ack, default, TcpFlags.Rst); // <SEQ=SEG.ACK><CTL=RST>
                Drop(now, seg, TcpCause.UnacceptableAck);
                return false;
            }
            if (Listener is { IsClosed: true } && !IsFastOpenChild)
            {
                // Linux's tcp_v4_rcv drops a request whose listener stopped listening and finds no socket for the ACK:
                // tcp_v4_send_reset answers from no connection, <SEQ=SEG.ACK><CTL=RST> with window 0 (RFC 9293 §3.10.7.1).
                _engine.QueueResetFor(Id, seg);
                EnterClosed(TcpError.ConnectionAborted, TcpCause.ListenerClosed);
                return false;
            }
            // TCP_DEFER_ACCEPT: a bare ACK (no data, no FIN) does not complete the handshake until the SYN-ACK has timed
            // out as often as the defer period allows (Linux's tcp_check_req); the data, or that last ACK, will. Not a
            // cookie's ACK: Linux makes that connection at once, and ours has no SYN-ACK timer to wait on.
            if (Listener is not null && !FromCookie && !IsFastOpenChild && seg.Payload.IsEmpty && !seg.Has(TcpFlags.Fin) && _sender.Retries < DeferAcceptTimeouts)
            {
                DeferredAckSeen = true;
                _engine.Counters.Count(MibCounter.TcpExtTCPDeferAcceptDrop);
                Drop(now, seg, TcpCause.DeferAccept);
                return false;
            }
            if (Listener is not null && !IsFastOpenChild && !Listener.HasRoomToAccept)
            {
                // Linux (tcp_abort_on_overflow = 0): drop the ACK and let the SYN-ACK retransmit until the queue has room.
                Drop(now, seg, TcpCause.AcceptQueueFull);
                return false;
            }
            // RFC 7323 §2.2: the window in a SYN is never scaled, and after a simultaneous open the peer's SYN-ACK is one.
            PeerAlive(now);
            uint synWindow = seg.Has(TcpFlags.Syn) ? seg.Window : (uint)seg.Window << _options.SendWindowShift;
            _sender.OnSynAcknowledged(now, seg, synWindow, passiveOpen: Listener is not null && !seg.Has(TcpFlags.Syn), ack: Iss + 1,
                simultaneousOpen: Listener is null);
            if (!_sender.SynAckOutstanding) // (a passive Fast Open connection's data is taken below, once ESTABLISHED)
            {
                // After a simultaneous open of Fast Open SYNs, the ACK may cover the data our SYN carried (Linux's tcp_ack).
                if (ack > Iss + 1) _sender.OnAck(now, ack, seg.Options, mayBeDuplicate: false);
                else _sender.AwaitSynData(now);
            }
            SynDue = false;
            SetState(TcpState.Established, TcpCause.AckOfSyn);
            EnterEstablished(now);
            OnFastOpenHandshakeAck(now, seg); // data sent before this ACK is acknowledged (or SACKed) as any data
            // Data or a FIN queued during the handshake goes now, or waits on the persist timer when the window is shut.
            _engine.MarkPending(this);
            if (Listener is not null && !IsFastOpenChild) // a Fast Open connection went to the accept queue with its SYN
            {
                InSynQueue = false;
                Listener.Enqueue(this);
            }
            TakeRecent(now, seg);
            return true;
        }

        if (!AckIsAcceptable(now, seg)) return false;
        // Before the state changes below: the ACK that ends CLOSING sets the TS.Recent that TIME-WAIT judges by.
        TakeRecent(now, seg);

        uint window = (uint)seg.Window << _options.SendWindowShift;
        // RFC 9293 §3.10.7.4 fifth: an ACK below SND.UNA is ignored, its window too (older than the one held: Linux's
        // old_ack); SND.UNA ≤ SEG.ACK ≤ SND.NXT may update the window, by the SND.WL1/WL2 rule.
        if (ack >= SndUna)
        {
            PeerAlive(now);
            bool mayBeDuplicate = seg.Payload.IsEmpty && (seg.Flags & (TcpFlags.Syn | TcpFlags.Fin)) == 0 && window == SndWnd;
            // Linux's prior_packets == 0; a segment with data at SND.UNA takes its fast path, which does not run tcp_ack.
            bool nothingInFlight = _sender.SndMax == SndUna && seg.Payload.IsEmpty;
            // RFC 3168 §6.1.2: ECE on an ECN connection (never on a SYN: a SYN-ACK's ECE is the handshake's, Linux's tcp_ecn_rcv_ecn_echo).
            bool ecnEcho = EcnEnabled && seg.Has(TcpFlags.Ece) && !seg.Has(TcpFlags.Syn);
            if (_sender.OnAck(now, ack, seg.Options, mayBeDuplicate, ecnEcho)) OnEcnReduction(now);
            if (_sender.TakeUndo() is (not TcpCause.None and var undo, var counter))
            {
                // A spurious timeout or fast recovery undone (Send/Sender.Undo.cs, Sender.RecoveryUndo.cs), counted as Linux
                // counts it (TCPLossUndo, TCPFullUndo, TCPPartialUndo or TCPDSACKUndo; F-RTO's also TCPSpuriousRTOs).
                _engine.Counters.Count(counter);
                if (undo == TcpCause.SpuriousTimeoutFrto) _engine.Counters.Count(MibCounter.TcpExtTCPSpuriousRTOs);
                _engine.Emit(new TcpEvent(now, TcpEventKind.CongestionUndo, Id, State, State, undo));
            }
            CountLossRecoveryEvents();
            OnAcknowledged(now);
            _engine.MarkPending(this);
            if (_sender.UpdateWindow(now, seg.SequenceNumber, ack, window)) _engine.MarkPending(this);
            if (nothingInFlight) _sender.OnAckWithNothingInFlight(now);
        }
        // TcpConfig.RackRules = Linux: an older ACK's SACK blocks still count, and what they free is sent (tcp_ack's old_ack).
        else if (_sender.OnOldAck(now, ack, seg.Options))
        {
            CountLossRecoveryEvents();
            _engine.MarkPending(this);
        }

        bool finAcked = _sender.FinAcknowledged;
        switch (State)
        {
            case TcpState.FinWait1 when finAcked && !seg.Has(TcpFlags.Fin):
                EnterFinWait2(now);
                break;
            // FIN-WAIT-1 with a FIN that also acknowledges ours: the FIN step takes it straight to TIME-WAIT
            // (RFC 9293 §3.10.7.4 eighth, "if our FIN has been ACKed (perhaps in this segment)"; Figure 5's arc).
            case TcpState.Closing when finAcked:
                EnterTimeWait(now, TcpCause.AckOfOurFin);
                return false;
            case TcpState.LastAck when finAcked:
                EnterClosed(TcpError.None, TcpCause.AckOfOurFin);
                return false;
        }
        return true;
    }

    /// <summary>
    /// An acceptable ACK, not older than SND.UNA, shows the peer alive: keepalive's idle clock and its count of
    /// unanswered probes start over, and the persist probes' count too (Linux's tcp_ack: rcv_tstamp, icsk_probes_out).
    /// A segment refused before it (outside the window, PAWS, an ACK of unsent data) proves nothing.
    /// </summary>
    private void PeerAlive(TimeSpan now)
    {
        _lastActivity = now;
        _keepAliveProbes = 0;
        _sender.OnPeerAlive();
    }

    /// <summary>
    /// RFC 7323 §4.3 R3: TS.Recent follows segments that start at or before Last.ACK.sent — once their ACK has been found
    /// acceptable, as Linux does (tcp_replace_ts_recent in tcp_ack), so an ACK beyond SND.MAX cannot move it.
    /// </summary>
    private void TakeRecent(TimeSpan now, in TcpSegment seg)
    {
        if (_options.Timestamps && seg.Options.Timestamp is TcpTimestamp recent && seg.SequenceNumber <= _receiver.LastAckSent)
            _timestamps.TakeRecent(recent.Value, now);
    }

    /// <summary>Seventh and eighth steps: segment text and FIN.</summary>
    private void OnText(TimeSpan now, in TcpSegment seg)
    {
        if (State is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived))
        {
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN, so text is a duplicate.
            if (seg.Payload.Length > 0 || seg.Has(TcpFlags.Fin)) _receiver.AckNow = true;
            if (_receiver.AckNow) _engine.MarkPending(this);
            return;
        }

        SeqNumber seq = seg.SequenceNumber;
        ReadOnlySpan<byte> payload = seg.Payload;
        bool fin = seg.Has(TcpFlags.Fin);
        if (seg.Has(TcpFlags.Syn)) seq += 1;
        _receiver.Trim(ref seq, ref payload, ref fin);
        OnEcnText(seg, newData: !payload.IsEmpty); // TcpConnection.Ecn.cs

        if (!payload.IsEmpty)
        {
            // RFC 2525 §2.17 / Linux: data for a receive side that is closed (close(), or SHUT_RD after our FIN) is answered with RST.
            if (_receiver.IsShutdown && State is TcpState.FinWait1 or TcpState.FinWait2)
            {
                // The RST answers the segment (<SEQ=SEG.ACK><CTL=RST>, Linux tcp_v4_send_reset); an application still
                // holding the socket reads ECONNRESET, as Linux's tcp_reset gives it.
                _engine.QueueReset(Id, seg.AcknowledgmentNumber, default, TcpFlags.Rst);
                EnterClosed(IsOrphaned ? TcpError.ConnectionAborted : TcpError.ConnectionReset, TcpCause.DataAfterClose);
                return;
            }
            uint? echo = _options.Timestamps ? seg.Options.Timestamp?.EchoReply : null;
            _receiver.Take(now, seq, payload, seg.Payload.Length, SendMss, echo, echo is uint e ? _timestamps.Elapsed(now, e) : null, seg.HeaderLength);
        }

        if (fin ? _receiver.TakeFin(seq + payload.Length) : _receiver.TakeHeldFin()) OnFin(now);
        if (_receiver.AckNow || Timers.IsArmed(TcpTimer.DelayedAck)) _engine.MarkPending(this);
    }

    private void OnFin(TimeSpan now)
    {
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait, TcpCause.FinReceived);
                ArmCloseWaitIdle(now);
                // Linux delays this ACK (pingpong mode), so a FIN the application sends at once rides on it:
                // the FIN+ACK that takes the peer from FIN-WAIT-1 straight to TIME-WAIT.
                _receiver.EnterPingPong(now);
                // Delayed by ato as tcp_send_delayed_ack draws it; before any data ato is still 0: only to the next jiffy.
                if (!_receiver.AckNow) _receiver.ScheduleDelayedAck(now);
                break;
            case TcpState.FinWait1 when _sender.FinAcknowledged:
                _receiver.AckNow = true;
                EnterTimeWait(now, TcpCause.FinWithAckOfOurFin);
                break;
            case TcpState.FinWait1:
                _receiver.AckNow = true;
                SetState(TcpState.Closing, TcpCause.SimultaneousClose);
                break;
            case TcpState.FinWait2:
                _receiver.AckNow = true;
                EnterTimeWait(now, TcpCause.FinInFinWait2);
                break;
        }
        _engine.MarkPending(this);
    }

    private void Drop(TimeSpan now, in TcpSegment seg, TcpCause cause)
    {
        _engine.Emit(new TcpEvent(now, TcpEventKind.Dropped, Id, State, State, cause, SegmentSummary.From(seg)));
        _engine.Counters.SegmentsDroppedByState++;
        if (_receiver.AckNow) _engine.MarkPending(this);
    }
}
