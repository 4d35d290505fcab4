using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What the handshake leaves for the data that follows: a 3 s RTO when it gave no RTT sample (RFC 6298 §5.7 after a SYN
/// timeout; Linux's tcp_init_metrics whenever srtt is 0), and after a lost SYN or SYN-ACK the loss window, cwnd of one
/// segment, which Linux's tcp_init_transfer gives only after more than one retransmission (docs/design.md "The engine",
/// Retransmission).
/// </summary>
internal sealed partial class Sender
{
    /// <summary>A SYN or SYN-ACK timed out (what sets Linux's undo_marker before ESTABLISHED).</summary>
    public bool HandshakeTimedOut { get; set; }

    /// <summary>cwnd starts at one segment at ESTABLISHED: decided when our SYN or SYN-ACK is acknowledged.</summary>
    private bool HandshakeLossWindow
    {
        get => Has(SenderFlags.HandshakeLossWindow);
        set => Set(SenderFlags.HandshakeLossWindow, value);
    }

    /// <summary>
    /// Our SYN or SYN-ACK is acknowledged by <paramref name="seg"/>: whether the window starts at one segment. Linux's
    /// tcp_init_transfer cuts it when total_retrans &gt; 1 and undo_marker is set: more than one SYN (SYN-ACK)
    /// retransmission, a SYN-ACK resent for a repeated SYN included, and at least one timeout (tcp_enter_loss, or a
    /// request sock's num_timeout, sets undo_marker), unless the answer echoes the first one's TSval, which proves the
    /// timeouts spurious (tcp_try_undo_spurious_syn; RFC 3522's Eifel test). With
    /// <see cref="TcpConfig.LossWindowAfterOneSynRetransmission"/>, RFC 6928 §2 and RFC 5681 §3.1: after one timeout.
    /// </summary>
    private void DecideHandshakeLossWindow(in TcpSegment seg)
    {
        int needed = _config.LossWindowAfterOneSynRetransmission ? 1 : 2;
        HandshakeLossWindow = HandshakeTimedOut && Retransmissions >= needed && !EchoesFirstSyn(seg);
    }

    /// <summary>The segment's TSecr is the TSval our first SYN (or SYN-ACK) carried, never a retransmission's.</summary>
    private bool EchoesFirstSyn(in TcpSegment seg) =>
        Timestamps is not null && seg.Options.Timestamp is TcpTimestamp ts && ts.EchoReply != 0
        && ts.EchoReply == Timestamps.Value(FirstSynSentAt);

    public void OnEstablished()
    {
        // RFC 6298 §5.7 after a SYN timeout; Linux's tcp_init_metrics whenever the handshake gave no RTT sample (a SYN-ACK
        // resent for a repeated SYN, Karn's rule; a SYN cookie's connection): no sample, 3 s.
        Rto.FallBackWithoutSample();
        // A Fast Open connection's window was set when it was made (Linux's tcp_init_transfer in tcp_fastopen_create_child):
        // its SYN-ACK timeouts cut it by a loss instead, from the second (Sender.FastOpenServer.cs).
        if (HandshakeLossWindow && !SynAckOutstanding) _congestion.RestartAfterHandshakeLoss(Mss);
        // A Fast Open connection's algorithm started at its SYN; its handshake's ACK starts nothing again
        // (tcp_rcv_synrecv_state_fastopen): BBR takes the SRTT at a later ACK (bbr_set_pacing_rate).
        if (!SynAckOutstanding) InitCongestionControl();
    }

    /// <summary>Linux's tcp_init_congestion_control after cwnd is set: the algorithm starts from the handshake's SRTT (BBR's pacing rate).</summary>
    public void InitCongestionControl() => _congestion.Init(Rto.HasSample ? Rto.SmoothedRtt : TimeSpan.Zero);
}
