using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What the receiver finds duplicated and the zero windows it offers, counted as Linux 6.18 counts them: a segment sent
/// again below RCV.NXT (DelayedACKLost), each D-SACK set (TCPDSACKOldSent, TCPDSACKOfoSent), and the window falling to
/// zero or rising from it (TCPWantZeroWindowAdv, TCPToZeroWindowAdv, TCPFromZeroWindowAdv).
/// </summary>
internal sealed partial class Receiver
{
    /// <summary>
    /// Linux's tcp_send_dupack, for an unacceptable or PAWS-rejected segment that is not a SYN: text or a FIN starting
    /// below RCV.NXT was sent again, so our ACK was lost or late (DelayedACKLost): ACKs go at once, and this one carries a
    /// D-SACK of what lies below RCV.NXT (RFC 2883).
    /// </summary>
    public void NoteUnacceptable(SeqNumber seq, int segmentLength)
    {
        if (segmentLength <= 0 || seq >= RcvNxt) return;
        _counters.Count(MibCounter.TcpExtDelayedACKLost);
        EnterQuickAckMode();
        NoteDuplicate(seq, seq + segmentLength <= RcvNxt ? seq + segmentLength : RcvNxt);
    }

    // Linux's tcp_dsack_set: counted by where the duplicate lies, below RCV.NXT or among the data held out of order.
    private void NoteDuplicate(SeqNumber from, SeqNumber to)
    {
        if (!SackEnabled || !_config.DuplicateSack) return;
        _counters.Count(from < RcvNxt ? MibCounter.TcpExtTCPDSACKOldSent : MibCounter.TcpExtTCPDSACKOfoSent);
        _dsack ??= new SackBlock(from, to);
    }

    // Linux's tcp_select_window: a zero window wanted but not offered (the edge stays), one offered after a nonzero
    // offer, a nonzero one after a zero one (rcv_wnd, the window last offered, before this one). Judged by the field
    // sent: ours rounds the kept edge down, so a field of 0 may keep up to 2^shift - 1 bytes of edge (RFC 7323
    // Appendix F), which Linux's, rounding up, never shows as 0.
    private void CountZeroWindow(long selected, long field)
    {
        if (selected == 0 && field != 0) _counters.Count(MibCounter.TcpExtTCPWantZeroWindowAdv);
        if (field == 0 && !_offeredZero) _counters.Count(MibCounter.TcpExtTCPToZeroWindowAdv);
        else if (field != 0 && _offeredZero) _counters.Count(MibCounter.TcpExtTCPFromZeroWindowAdv);
        _offeredZero = field == 0;
    }
}
