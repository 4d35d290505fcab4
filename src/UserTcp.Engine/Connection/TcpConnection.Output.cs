using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What the connection sends: SYN, data and retransmissions as the sender chooses them, ACKs, probes, RSTs.</summary>
public sealed partial class TcpConnection
{
    /// <summary>Sends everything the state calls for: SYN, data, FIN, retransmissions, ACKs, a RST.</summary>
    internal void Dispatch(TimeSpan now)
    {
        if (State == TcpState.Closed)
        {
            if (PendingReset)
            {
                PendingReset = false;
                // Linux's active reset: RST|ACK at the next new sequence number (RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>;
                // SND.MAX here because SND.NXT may be back at a hole being resent).
                SendControl(now, SndMax, TcpFlags.Rst | TcpFlags.Ack);
            }
            return;
        }
        if (State is TcpState.Listen) return;

        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            if (SynDue) SendSyn(now);
            if (!SendsBeforeHandshake) // a Fast Open connection's data goes before the handshake's ACK (TcpConnection.FastOpen.cs)
            {
                if (_receiver.AckNow && State == TcpState.SynReceived) SendAck(now);
                return;
            }
        }

        _sender.BeginBurst(now);
        int sent = 0;
        bool refused = false;
        bool writes = SendMtuProbe(now, ref sent, ref refused); // TcpConnection.MtuProbe.cs
        while (writes && _sender.TryNext(SackOptionBytes(now), out Transmission next))
        {
            // A refused segment ends the pass, as tcp_write_xmit and tcp_xmit_retransmit_queue stop at a failed send.
            if (!SendSegment(now, next))
            {
                refused = true;
                break;
            }
            sent++;
        }
        _sender.EndBurst();
        OnDispatched(now, sent);
        if (_receiver.AckNow) SendAck(now);
        _sender.ArmPersistIfNeeded(now);
        _sender.EndWakeup(now, refused);
    }

    private void SendSyn(TimeSpan now)
    {
        bool synAck = State == TcpState.SynReceived;
        bool retransmission = SndMax > Iss;
        // Our SYN offers what the configuration allows (TSecr 0); a SYN-ACK answers with what both offered.
        TcpTimestamp timestamp = new(_timestamps.Value(now), synAck && _timestamps.HasRecent ? _timestamps.Recent : 0);
        TcpOptions options = _options.Offer(synAck, timestamp);
        // RFC 7413 §4.2.2: a Fast Open SYN's cookie (or cookie request) and data; never in a retransmitted SYN.
        ReadOnlySpan<byte> synData = synAck ? default : FastOpenSyn(now, ref options, retransmission);
        if (synAck) AddFastOpenCookie(ref options);
        var repr = new TcpRepr
        {
            SequenceNumber = Iss,
            AcknowledgmentNumber = synAck ? RcvNxt : default,
            Flags = (synAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn) | SynEcnFlags(synAck, retransmission),
            Window = _receiver.SynWindow(synAck, SynWindowMss), // RFC 7323 §2.2: a SYN's window is never scaled
            Options = options,
            Payload = synData,
        };
        SynDue = false;
        if (retransmission)
        {
            // Counted when tried, as Linux's __tcp_retransmit_skb counts TCPSynRetrans and total_retrans before the queue answers.
            _engine.Counters.Count(MibCounter.TcpExtTCPSynRetrans);
            // In SYN-SENT before any timeout, only a path MTU ICMP resends the SYN (OnFragmentationNeededInSynSent).
            // A SYN-ACK that answers the peer's repeated SYN was caused by that SYN, not by our timer.
            TcpCause cause = SynAckForRepeatedSyn ? TcpCause.RetransmittedSyn
                : !synAck && _sender.Retries == 0 && PathMtu is not null ? TcpCause.PathMtuReduced : TcpCause.RetransmissionTimeout;
            CountRetransmission(now, repr, cause, _sender.Retries);
        }
        TransmitResult result = _engine.Transmit(this, repr);
        if (synAck) _receiver.OnAckSent();
        // A Fast Open SYN's data is new data sent (Linux's tcp_send_syn_data counts TCPOrigDataSent once it went).
        if (synData.Length > 0 && result != TransmitResult.Refused) _engine.Counters.Count(MibCounter.TcpExtTCPOrigDataSent);
        _sender.OnSynSent(now, retransmission, keepDeadline: SynAckForRepeatedSyn && IsFastOpenChild);
        if (synAck && IsFastOpenChild) _sender.SendBeforeHandshake();
        SynAckForRepeatedSyn = false;
        if (result == TransmitResult.Refused && retransmission)
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPRetransFail);
            // A refused first SYN is as good as lost (Linux's tcp_connect ignores the error), and so is a SYN-ACK (a request
            // sock's timer runs on); a refused SYN retransmission is tried again in 500 ms, unbacked-off (tcp_retransmit_timer).
            if (State == TcpState.SynSent) _sender.OnTimeoutResendRefused(now);
        }
    }

    /// <summary>
    /// The MSS our SYN's window is rounded to: the one we advertise, less the timestamps' 12 bytes in a passive open's
    /// SYN-ACK that carries them (Linux's tcp_openreq_init_rwin; tcp_connect_init takes the advertised MSS whole).
    /// </summary>
    private int SynWindowMss => Listener is not null ? ReceiveWindow.SynAckMss(_config.Mss, _options.Timestamps) : _config.Mss;

    /// <summary>
    /// Sends what the sender chose: data [seq, seq+length) from the send buffer, with FIN and PSH as chosen. False when the
    /// local queue refused it: then nothing of it counts as sent (Sender.LocalQueue.cs).
    /// </summary>
    private bool SendSegment(TimeSpan now, in Transmission next)
    {
        TcpOptions options = SegmentOptions(now);
        // Payload and options fit the peer's MSS (RFC 9293 §3.7.1): a full-sized retransmission leaves out SACK blocks.
        int room = _options.SendMss - next.Length - (_options.Timestamps ? TimestampOptionBytes : 0);
        if (options.SackBlocks.Length > 0 && room < SackOptionBytesFor(options.SackBlocks.Length)) options.TrimSackBlocks(Math.Max(0, (room - 4) / 8));
        var repr = new TcpRepr
        {
            SequenceNumber = next.Seq,
            AcknowledgmentNumber = RcvNxt,
            Flags = TcpFlags.Ack | (next.Fin ? TcpFlags.Fin : 0) | (next.WirePush && next.Length > 0 ? TcpFlags.Psh : 0) | EchoFlag,
            Window = _receiver.AdvertiseWindow(),
            Options = options,
            Payload = _sender.Buffer.Payload(next.Seq, next.Length, _engine.PayloadScratch),
        };
        // RFC 3168 §6.1.5, Linux's tcp_ecn_send: only new data is ECN-capable (never a retransmission, a bare FIN, an ACK or
        // a probe), and the first new data after a reduction carries CWR (§6.1.2).
        bool ect = EcnEnabled && next.Length > 0 && !next.IsRetransmission;
        if (ect && _sender.TakeCwr()) repr.Flags |= TcpFlags.Cwr;
        if (next.IsRetransmission)
        {
            // Counted when tried: Linux's __tcp_retransmit_skb adds to total_retrans and RetransSegs before the queue
            // answers (checked on Linux 6.18: tcpi_total_retrans 1 after a refused timeout resend), and a refused one
            // also to TCPRetransFail; only retrans_out (tcpi_retrans) waits for the send.
            CountRetransmission(now, repr, next.Cause, next.Cause == TcpCause.RetransmissionTimeout ? _sender.Retries : _sender.DuplicateAcks);
        }
        MibCounter? sendCounter = _sender.SendCounter(next); // asked before OnSent moves the state on
        TransmitResult result = _engine.Transmit(this, repr, ect);
        // Linux's __tcp_transmit_skb runs tcp_event_ack_sent and tcp_event_data_sent before the queue answers: a refused
        // segment still counts as the ACK and the data send it tried to be.
        _receiver.OnAckSent();
        if (next.Length > 0) _receiver.OnDataSent(now);
        if (result == TransmitResult.Refused)
        {
            if (next.IsRetransmission) _engine.Counters.Count(MibCounter.TcpExtTCPRetransFail);
            OnTransmitRefused(now);
            _sender.OnRefused(now, next);
            return false;
        }
        _sender.OnSent(now, next);
        // Counted once the device took it, as Linux's tcp_event_new_data_sent after tcp_transmit_skb succeeded.
        if (!next.IsRetransmission && (next.Length > 0 || next.Fin)) _engine.Counters.Count(MibCounter.TcpExtTCPOrigDataSent);
        // Once sent, as tcp_xmit_retransmit_queue counts TCPFastRetrans/TCPSlowStartRetrans and tcp_send_loss_probe TCPLossProbes.
        if (sendCounter is MibCounter counter) _engine.Counters.Count(counter);
        return true;
    }

    private void CountRetransmission(TimeSpan now, scoped in TcpRepr repr, TcpCause cause, int attempt)
    {
        _engine.Counters.Retransmissions++;
        _engine.Counters.BytesRetransmitted += repr.Payload.Length + (repr.Has(TcpFlags.Syn) ? 1 : 0) + (repr.Has(TcpFlags.Fin) ? 1 : 0);
        _engine.Emit(new TcpEvent(now, TcpEventKind.Retransmission, Id, State, State, cause, SegmentSummary.From(repr),
            Deadline: now + _sender.Rto.Rto, Attempt: attempt));
    }

    private void SendAck(TimeSpan now)
    {
        var repr = new TcpRepr
        {
            // SND.MAX, not SND.NXT: while going back after a timeout SND.NXT trails what the peer already holds, and
            // an ACK numbered below RCV.NXT would be unacceptable there, answered by an ACK, and so on (BSD does the same).
            SequenceNumber = SndMax,
            AcknowledgmentNumber = RcvNxt,
            Flags = TcpFlags.Ack | EchoFlag,
            Window = _receiver.AdvertiseWindow(),
            Options = SegmentOptions(now),
        };
        if (_engine.Transmit(this, repr) == TransmitResult.Refused) OnTransmitRefused(now);
        _receiver.OnAckSent(); // Linux's tcp_event_ack_sent runs before the queue answers
    }

    /// <summary>A control segment at an explicit sequence number (zero-window and keepalive probes, resets); whether the local queue took it.</summary>
    private TransmitResult SendControl(TimeSpan now, SeqNumber seq, TcpFlags flags)
    {
        bool reset = (flags & TcpFlags.Rst) != 0;
        TcpOptions options = SegmentOptions(now);
        if (reset) options.ClearSackBlocks();
        var repr = new TcpRepr
        {
            SequenceNumber = seq,
            AcknowledgmentNumber = RcvNxt,
            Flags = flags | EchoFlag, // Linux's tcp_ecn_send marks every segment of the connection, probes and its RST too
            // A RST too carries the window tcp_select_window chooses (Linux's tcp_send_active_reset goes through
            // tcp_transmit_skb); only a reply for no connection carries 0 (TcpEngine.QueueReset, tcp_v4_send_reset).
            Window = _receiver.AdvertiseWindow(),
            Options = options,
        };
        TransmitResult result = _engine.Transmit(this, repr);
        if (reset)
        {
            if (result == TransmitResult.Sent) _engine.Counters.ResetsSent++;
            return result;
        }
        // A probe acknowledges RCV.NXT as any ACK does: the delayed ACK it carried is sent (Linux's tcp_event_ack_sent).
        _receiver.OnAckSent();
        if (result == TransmitResult.Refused) OnTransmitRefused(now);
        return result;
    }

    /// <summary>
    /// The local queue refused a segment of this synchronized connection: Linux's __tcp_transmit_skb enters CWR for any
    /// such answer (tcp_enter_cwr), a reduction of cwnd once for the window, reported as ECN's is.
    /// </summary>
    private void OnTransmitRefused(TimeSpan now)
    {
        if (!State.IsSynchronized()) return;
        if (_sender.OnLocalCongestion(now)) _engine.Emit(new TcpEvent(now, TcpEventKind.CongestionWindowReduced, Id, State, State, TcpCause.LocalCongestion));
    }

    /// <summary>NOP NOP TS: the 12 bytes timestamps add to every segment (RFC 7323 Appendix A layout).</summary>
    internal const int TimestampOptionBytes = 12;

    /// <summary>NOP NOP SACK and its blocks.</summary>
    private static int SackOptionBytesFor(int blocks) => blocks == 0 ? 0 : 4 + 8 * blocks;

    /// <summary>What the SACK blocks our next segment would carry take out of its payload.</summary>
    /// Asked before every segment chosen: without a block to report (no D-SACK, nothing held out of order) the options are not built.
    private int SackOptionBytes(TimeSpan now) => SackEnabled && _receiver.MayHaveSackBlocks ? SackOptionBytesFor(SegmentOptions(now).SackBlocks.Length) : 0;

    /// <summary>The options of a synchronized segment: timestamps when negotiated (RFC 7323 §3.2), then SACK blocks.</summary>
    private TcpOptions SegmentOptions(TimeSpan now)
    {
        var options = new TcpOptions();
        if (_options.Timestamps) options.Timestamp = new TcpTimestamp(_timestamps.Value(now), _timestamps.Recent);
        _receiver.AddSackBlocks(ref options);
        return options;
    }
}
