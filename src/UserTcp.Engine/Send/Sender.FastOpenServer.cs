namespace UserTcp.Engine;

/// <summary>
/// A passive Fast Open connection sends before the handshake's ACK (RFC 7413 §4.2.2; Linux's tcp_passive_fastopen in
/// tcp_sendmsg_locked): its data goes while the SYN-ACK is still unacknowledged, under the SYN-ACK's timer.
/// </summary>
internal sealed partial class Sender
{
    /// <summary>
    /// Our SYN-ACK is out and unacknowledged while data may go: the retransmission timer is the SYN-ACK's (data sent does
    /// not move it, a timeout resends only the SYN-ACK) and no loss probe is armed (Linux's fastopen_rsk in tcp_rearm_rto,
    /// tcp_retransmit_timer and tcp_schedule_loss_probe).
    /// </summary>
    public bool SynAckOutstanding
    {
        get => Has(SenderFlags.SynAckOutstanding);
        private set => Set(SenderFlags.SynAckOutstanding, value);
    }

    /// <summary>
    /// The first SYN-ACK of a passive Fast Open connection left: SND.UNA moves past it, as Linux's child starts at
    /// snd_una = ISS+1 (tcp_create_openreq_child), so data sent now counts in flight and against the peer's window as it
    /// will after the handshake.
    /// </summary>
    public void SendBeforeHandshake()
    {
        if (SndUna != Iss) return;
        SndUna = Iss + 1;
        SynAckOutstanding = true;
    }

    /// <summary>
    /// The handshake's ACK was taken (Linux's tcp_rcv_synrecv_state_fastopen): the retransmission timer, the SYN-ACK's
    /// until now, restarts from now for data still in flight (tcp_rearm_rto), and loss probes may follow. After two SYN-ACK
    /// timeouts or more, the data still in flight is deemed lost, cwnd one segment, and it goes again at once: Linux's
    /// tcp_fastopen_synack_timer enters the Loss state at the second (tcp_enter_loss), and this ACK is the first that
    /// lets anything but the SYN-ACK be resent.
    /// </summary>
    public void OnFastOpenHandshakeDone(TimeSpan now, uint? echo)
    {
        // tcp_rcv_state_process times the SYN-ACK (tcp_synack_rtt_meas, without an RTT yet) after tcp_ack ran on this
        // ACK, so BBR met it without an SRTT and kept the rate from its SYN (bbr_set_pacing_rate takes the SRTT next ACK).
        if (!Rto.HasSample) TakeRttSample(now, SndUna, echo);
        SynAckOutstanding = false;
        if (SndMax == SndUna) return;
        if (Timeouts >= 2) EnterTimeoutLoss(now, retriesBefore: 0);
        _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
    }
}
