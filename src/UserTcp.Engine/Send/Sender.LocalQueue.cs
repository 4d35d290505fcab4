namespace UserTcp.Engine;

/// <summary>
/// A local queue that refuses segments (a full device queue, a <c>pfifo limit 0</c>): Linux's qdisc answers
/// __tcp_transmit_skb with NET_XMIT_DROP, and TCP acts on it at once. Nothing refused counts as sent: new data stays
/// unsent (SND.MAX does not move), a refused retransmission leaves its segment lost and not in flight (tcpi_retrans
/// unchanged; Linux's TCPRetransFail), though tcpi_total_retrans counts the attempt as Linux's does. With nothing in flight the probe timer retries: first after one
/// RTO (tcp_check_probe_timer), then every 500 ms (TCP_RESOURCE_PROBE_INTERVAL) without backing off, each refused probe
/// counted in tcpi_probes (tcp_send_probe0); TCP_USER_TIMEOUT and the retry limit end it as they end zero-window probing
/// (tcp_probe_timer). A timeout whose resend is refused is tried again in 500 ms, its backoff undone (tcp_retransmit_timer).
/// </summary>
internal sealed partial class Sender
{
    /// <summary>Linux's TCP_RESOURCE_PROBE_INTERVAL: how soon a send the local queue refused is tried again.</summary>
    public static readonly TimeSpan ResourceProbeInterval = TimeSpan.FromMilliseconds(500);

    // The persist timer fired on data (or a FIN) unsent with nothing in flight, and the next dispatch is its attempt to
    // send it (tcp_send_probe0's tcp_write_wakeup); EndWakeup judges how that went.
    private bool WakeupAttempted { get => Has(SenderFlags.WakeupAttempted); set => Set(SenderFlags.WakeupAttempted, value); }

    // A retransmission timeout fired and its resend of the oldest segment has not been tried yet (tcp_retransmit_timer's
    // tcp_retransmit_skb): refused, the timer runs again in 500 ms and the backoff is undone.
    private bool TimeoutResendDue { get => Has(SenderFlags.TimeoutResendDue); set => Set(SenderFlags.TimeoutResendDue, value); }

    // Timeouts of this stall whose resend the local queue refused: they count in Retries (Linux's icsk_retransmits) but
    // use up no retry (see RetriesSpent).
    private int _refusedTimeouts;

    /// <summary>
    /// Retries spent against the retry limit: timeouts whose resend left. Linux gives up by time, not by count
    /// (retransmits_timed_out's tcp_model_timeout: 15 retries are 924.6 s from the first resend), which resends refused
    /// every 500 ms do not hasten; UserTcp counts, so it counts only the resends that left. A SYN's are all counted, as
    /// Linux's tcp_write_timeout counts icsk_retransmits for SYN-SENT.
    /// </summary>
    private int RetriesSpent => Retries - _refusedTimeouts;

    /// <summary>
    /// When the probe timer first fired in this episode, for a zero window or for data the local queue refused (Linux's
    /// icsk_probes_tstamp): what TCP_USER_TIMEOUT times. Null when no probing is under way.
    /// </summary>
    public TimeSpan? ProbeStart { get; private set; }

    /// <summary>The probe timer has fired and the episode is not over (<see cref="ProbeStart"/>).</summary>
    public bool Probing => ProbeStart is not null;

    /// <summary>Linux's tcp_enter_cwr for a segment the local queue refused; true when a reduction began.</summary>
    public bool OnLocalCongestion(TimeSpan now) => EnterCwr(now);

    /// <summary>
    /// The local queue refused <paramref name="refused"/>: the scoreboard stays as it was (<see cref="OnSent"/> does not
    /// run). A refused loss probe re-arms the retransmission timer (tcp_send_loss_probe's rearm_timer), a refused timeout
    /// resend retries in 500 ms; new data or a FIN with nothing in flight is left to the probe timer (<see cref="ArmPersistIfNeeded"/>).
    /// </summary>
    public void OnRefused(TimeSpan now, in Transmission refused)
    {
        ProbePairDue = false; // the pair's second segment follows only a first that left
        if (refused.IsRetransmission)
        {
            // Linux's tcp_retransmit_skb whatever the queue answered: total_retrans and undo_retrans count the attempt, and
            // the segment is marked ever retransmitted (no RTT sample from a send that may not have happened); only
            // retrans_out and the send time wait for a send that leaves.
            Retransmissions++;
            BytesRetransmitted += refused.End - refused.Seq;
            _queue.MarkEverRetransmitted(ref _queue[_queue.IndexEndingAfter(refused.Seq)]);
            CountRetransmissionForUndo(now, refused.End - refused.Seq);
            ForgetMtuProbe(); // Sender.MtuProbe.cs
            _rttSeq = null;
        }
        if (refused.Probe)
        {
            _probesInStall = Math.Max(0, _probesInStall - 1); // the probe did not go
            _timers.Arm(TcpTimer.Retransmission, now + Rto.Rto);
            return;
        }
        if (refused.IsRetransmission && refused.Cause == TcpCause.RetransmissionTimeout && TimeoutResendDue)
        {
            _refusedTimeouts++;
            OnTimeoutResendRefused(now);
        }
    }

    /// <summary>
    /// Linux's tcp_retransmit_timer when tcp_retransmit_skb fails for local congestion: no backoff (the doubling this
    /// timeout made is undone), and the timer runs again in 500 ms. Also for a refused SYN retransmission in SYN-SENT.
    /// </summary>
    public void OnTimeoutResendRefused(TimeSpan now)
    {
        TimeoutResendDue = false;
        Rto.UndoBackOff();
        _timers.Arm(TcpTimer.Retransmission, now + ResourceProbeInterval);
    }

    /// <summary>
    /// The persist timer fired with data or a FIN unsent, nothing in flight and the window open: the next dispatch tries to
    /// send one segment of it, pushed (Linux's tcp_probe_timer and tcp_write_wakeup). False when there is no such thing to
    /// send. <paramref name="gaveUp"/>: probes refused by the local queue reached <paramref name="retryLimit"/> (tcp_probe_timer's max_probes).
    /// </summary>
    public bool TakeWakeup(TimeSpan now, int retryLimit, out bool gaveUp)
    {
        gaveUp = false;
        if (SndWnd == 0 || SndMax != SndUna || !HasDataOrFinToSend) return false;
        if (_persistProbes >= retryLimit)
        {
            gaveUp = true;
            return false;
        }
        ProbeStart ??= now; // tcp_probe_timer stamps the episode's first firing
        WakeupDue = HeldWithNothingInFlight; // a lone FIN goes without it
        WakeupAttempted = true;
        return true;
    }

    /// <summary>
    /// The dispatch after a wakeup is over (Linux's tcp_send_probe0 after tcp_write_wakeup): something in flight ends the
    /// episode, and the retransmission timer watches it; refused by the local queue, the probe counts (tcpi_probes) and
    /// the timer tries again in 500 ms, not backed off; held back otherwise (a small window), the timer re-arms as before.
    /// </summary>
    public void EndWakeup(TimeSpan now, bool refused)
    {
        if (!WakeupAttempted) return;
        WakeupAttempted = false;
        if (SndMax != SndUna || !HasDataOrFinToSend)
        {
            _persistProbes = 0;
            ProbeStart = null;
            return;
        }
        if (!refused) return;
        _persistProbes++;
        _timers.Arm(TcpTimer.Persist, now + ResourceProbeInterval);
    }

    /// <summary>
    /// A zero-window probe the local queue refused (tcp_send_probe0 with tcp_write_wakeup's error above zero): it still
    /// counts in tcpi_probes, but the backoff <see cref="TakePersistProbe"/> took is undone and the next probe goes in 500 ms.
    /// </summary>
    public void OnPersistProbeRefused(TimeSpan now)
    {
        if (PersistBackoffRaised && _persistBackoff > 0) _persistBackoff--;
        _timers.Arm(TcpTimer.Persist, now + ResourceProbeInterval);
    }
}
