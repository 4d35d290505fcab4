using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What a lost SYN or SYN-ACK leaves for the data that follows: RFC 6298 §5.7's 3 s RTO without an RTT sample, and the
/// loss window, cwnd of one segment, which Linux's tcp_init_transfer gives only after more than one retransmission
/// (docs/design.md "The engine", Retransmission).
/// </summary>
internal sealed partial class Sender
{
    /// <summary>A SYN or SYN-ACK timed out and no RTT was measured: RFC 6298 §5.7 at ESTABLISHED.</summary>
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
        if (HandshakeTimedOut) Rto.RestartAfterHandshakeLoss();
        // A Fast Open connection's window was set when it was made (Linux's tcp_init_transfer in tcp_fastopen_create_child):
        // its SYN-ACK timeouts cut it by a loss instead, from the second (Sender.FastOpenServer.cs).
        if (HandshakeLossWindow && !SynAckOutstanding) _congestion.RestartAfterHandshakeLoss(Mss);
    }
}
