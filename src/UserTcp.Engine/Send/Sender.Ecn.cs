using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The data sender's half of ECN (RFC 3168 §6.1.2), as Linux's tcp_enter_cwr and tcp_cwnd_reduction have it: an ACK
/// with ECE reduces cwnd once per window of data (ssthresh from the congestion control, cwnd brought down to it by
/// PRR on the ACKs that follow, nothing resent: Linux's CWR state), and the next new data segment carries CWR. Every
/// other reduction (a fast recovery, a timeout, a repaired tail loss) announces itself with CWR too.
/// </summary>
internal sealed partial class Sender
{
    // Where the ECN reduction ends (Linux's high_seq of TCP_CA_CWR): SND.MAX when it began.
    private SeqNumber _cwrPoint;

    /// <summary>Both sides agreed on ECN in the handshake (RFC 3168 §6.1.1): echoes count, reductions send CWR.</summary>
    public bool Ecn { get => Has(SenderFlags.Ecn); set => Set(SenderFlags.Ecn, value); }
    // Linux's TCP_CA_CWR: cwnd is being reduced for an ECN echo, without a loss.
    private bool InCwr { get => Has(SenderFlags.InCwr); set => Set(SenderFlags.InCwr, value); }
    // Linux's TCP_ECN_QUEUE_CWR: the next new data segment carries CWR (RFC 3168 §6.1.2).
    private bool CwrQueued { get => Has(SenderFlags.CwrQueued); set => Set(SenderFlags.CwrQueued, value); }

    /// <summary>ECN reductions over the connection's life (each an echo that found no reduction under way).</summary>
    public int EcnReductions { get; private set; }

    /// <summary>Linux's tcp_ecn_queue_cwr: a window reduction is to be announced, on an ECN connection.</summary>
    private void QueueCwr()
    {
        if (Ecn) CwrQueued = true;
    }

    /// <summary>A new data segment leaves: true (once) when it is to carry CWR (Linux's tcp_ecn_send).</summary>
    public bool TakeCwr()
    {
        if (!CwrQueued) return false;
        CwrQueued = false;
        return true;
    }

    /// <summary>
    /// Linux's tcp_fastretrans_alert in TCP_CA_CWR: once SND.UNA is beyond where the reduction began (beyond, so the
    /// CWR that left with the data after it has been received), it ends at ssthresh (tcp_end_cwnd_reduction).
    /// </summary>
    private void EndCwrIfDone()
    {
        if (!InCwr || SndUna <= _cwrPoint) return;
        InCwr = false; // cwnd is the algorithm's again: ssthresh, set as the reduction began
    }

    /// <summary>
    /// RFC 3168 §6.1.2 and Linux's tcp_enter_cwr, on an ACK with ECE that found no reduction under way (no fast recovery,
    /// no timeout's Loss phase, no earlier echo's window): ssthresh falls as for a loss and cwnd follows by PRR; nothing
    /// is resent. A reduction that no loss explains cannot be proved spurious, so no undo runs across it. True when it began.
    /// </summary>
    private bool OnEcnEcho(TimeSpan now)
    {
        if (!EnterCwr(now)) return false;
        EcnReductions++;
        return true;
    }

    /// <summary>
    /// Linux's tcp_enter_cwr, for an ECN echo or a segment the local queue refused: unless a reduction is under way (a
    /// fast recovery, a timeout's Loss phase, an earlier CWR window), ssthresh falls and cwnd follows by PRR, nothing
    /// resent. True when it began.
    /// </summary>
    private bool EnterCwr(TimeSpan now)
    {
        if (InRecovery || InLoss || InCwr) return false; // one reduction per window: the one under way answers this one too
        InCwr = true;
        _cwrPoint = SndMax;
        if (_undo is not null) _undo.Armed = false; // Linux: undo_marker = 0
        QueueCwr();
        // BBR models the path and ignores the CWR state, as Linux's bbr does (its cwnd has no reduction to follow).
        if (_congestion.IsRateBased) return true;
        StartRateReduction();
        _congestion.OnCongestionEvent(now, FlightSize, Mss);
        return true;
    }
}
