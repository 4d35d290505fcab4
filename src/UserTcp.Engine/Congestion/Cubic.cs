namespace UserTcp.Engine;

/// <summary>
/// CUBIC (RFC 9438), Linux's default. In congestion avoidance the window follows
/// W_cubic(t) = C (t − K)³ + W_max from the start of the epoch, K = ∛((W_max − cwnd_epoch) / C), with a Reno-friendly
/// floor W_est; on loss W_max = cwnd (less with fast convergence) and ssthresh = cwnd × β. Windows are tracked in
/// segments here, as the RFC writes them, and exposed in bytes. Slow start ends at ssthresh or by <see cref="HyStart"/>.
/// With <see cref="CubicArithmetic.Linux"/>, congestion avoidance and the reductions are Linux's integer bictcp instead
/// (<see cref="LinuxCubic"/>); slow start and HyStart are the same either way.
/// </summary>
internal class Cubic : CongestionControl
{
    /// <summary>RFC 9438 §5: C = 0.4 (segments per second cubed).</summary>
    public const double C = 0.4;
    /// <summary>RFC 9438 §4.6: β_cubic = 0.7.</summary>
    public const double Beta = 0.7;
    /// <summary>RFC 9438 §4.3: α_cubic = 3 (1 − β) / (1 + β), the Reno-friendly increase per RTT.</summary>
    private const double RenoFriendlyAlpha = 3 * (1 - Beta) / (1 + Beta);

    // W_max (segments): the window just before the last reduction (less with fast convergence); 0 before any loss.
    private double _wMax;
    // cwnd (segments) before the last congestion event: W_est's increase becomes 1 per RTT once it gets there.
    private double _cwndPrior;
    // Start of the current congestion avoidance epoch; null until its first ACK (RFC 9438 §4.2).
    // (NoEpoch for none: a nullable would cost an idle connection 8 bytes more, issue 10's 2 KB budget.)
    private TimeSpan _epochStart = NoEpoch;
    private static readonly TimeSpan NoEpoch = TimeSpan.MinValue;
    // K (seconds) for the current epoch.
    private double _k;
    // The Reno-friendly estimate W_est (segments) for the current epoch (RFC 9438 §4.3).
    private double _wEst;
    // cwnd (segments) with its fraction: growth per ACK is usually a fraction of a segment.
    private double _cwnd;

    // Linux's cubictcp_acked ignores RTT samples for a second after an epoch starts (right after a recovery).
    private static readonly TimeSpan EpochSettling = TimeSpan.FromSeconds(1);
    // Made at the first slow start HyStart watches (16 segments), so an idle connection does not carry it.
    private HyStart? _hyStart;

    public Cubic(int initialWindow) : base(initialWindow) { }

    /// <summary>Which arithmetic congestion avoidance runs.</summary>
    public virtual CubicArithmetic Arithmetic => CubicArithmetic.Rfc9438;

    /// <summary>Linux's bictcp state, with <see cref="CubicArithmetic.Linux"/> (for tests); else null.</summary>
    public virtual BicTcp? Linux => null;

    /// <summary>HyStart's state once it has watched a slow start (for tests and the lab).</summary>
    public HyStart? HyStart => _hyStart;

    protected override void OnRttSample(in AckSample ack, TimeSpan sample)
    {
        if (_epochStart != NoEpoch && ack.Now - _epochStart < EpochSettling) return;
        if (sample <= TimeSpan.Zero) sample = TimeSpan.FromTicks(1);
        _hyStart?.TakeDelay(sample);
        bool inSlowStart = Window < SlowStartThreshold;
        if (!inSlowStart || Window / ack.Mss < HyStart.LowWindow) return;
        // Before HyStart watches, the connection's smallest RTT so far stands for Linux's delay_min (an idle connection
        // would otherwise carry one more field; issue 10's 2 KB).
        _hyStart ??= new HyStart(ack.MinRtt > TimeSpan.Zero && ack.MinRtt < sample ? ack.MinRtt : sample);
        HyStartFinding found = _hyStart.OnRttSample(ack.Now, sample, ack.SndUna, ack.SndNxt, Window, ack.SmoothedRtt);
        if (found != HyStartFinding.None)
        {
            SlowStartThreshold = Window; // Linux: tp->snd_ssthresh = tcp_snd_cwnd(tp)
            _slowStartEnd = new SlowStartEnd(found, Window / ack.Mss);
        }
    }

    public override CongestionControlAlgorithm Algorithm => CongestionControlAlgorithm.Cubic;

    /// <summary>
    /// RFC 9438 §4.2: t must not count time the application left cwnd unused, so the epoch moves on by the time since
    /// the last send, not past now (Linux's cubictcp_cwnd_event on CA_EVENT_TX_START).
    /// </summary>
    public override void OnRestartFromIdle(TimeSpan now, TimeSpan idle, bool appLimited)
    {
        if (_epochStart == NoEpoch || idle <= TimeSpan.Zero) return;
        _epochStart += idle;
        if (_epochStart > now) _epochStart = now;
    }

    /// <summary>W_max of the current epoch, in segments (for tests and the lab).</summary>
    public double WMax => _wMax;
    /// <summary>K of the current epoch, in seconds.</summary>
    public double K => _k;
    public TimeSpan? EpochStart => _epochStart == NoEpoch ? null : _epochStart;

    /// <summary>RFC 9438 eq. 1: the cubic window t seconds into the epoch, in segments.</summary>
    public double WCubic(double t) => C * Math.Pow(t - _k, 3) + _wMax;

    protected override void OnAckInCongestionAvoidance(in AckSample ack)
    {
        double mss = ack.Mss;
        double cwnd = Window / mss;
        if (Math.Abs(_cwnd - cwnd) >= 1) _cwnd = cwnd; // the window was set from outside (recovery end, restart)
        if (_epochStart == NoEpoch)
        {
            _epochStart = ack.Now;
            _cwnd = cwnd;
            _wEst = cwnd;
            if (_wMax <= cwnd)
            {
                // No loss yet, or the window already passed W_max: the plateau is here (Linux bictcp_update).
                _wMax = cwnd;
                _k = 0;
            }
            else
            {
                _k = Math.Cbrt((_wMax - cwnd) / C); // RFC 9438 eq. 2
            }
        }
        double t = (ack.Now - _epochStart).TotalSeconds;
        double rtt = (ack.SmoothedRtt > TimeSpan.Zero ? ack.SmoothedRtt : ack.MinRtt).TotalSeconds;
        double segmentsAcked = ack.BytesAcked / mss;

        // RFC 9438 §4.3: the Reno-friendly region; α becomes 1 once W_est reaches the window before the last loss.
        _wEst += (_wEst >= _cwndPrior ? 1 : RenoFriendlyAlpha) * segmentsAcked / _cwnd;
        if (WCubic(t) < _wEst)
        {
            _cwnd = Math.Max(_cwnd, _wEst);
        }
        else
        {
            // RFC 9438 §4.4–4.5: aim at W_cubic one RTT ahead, limited to [cwnd, 1.5 cwnd], by (target − cwnd) / cwnd per ACK.
            double target = Math.Clamp(WCubic(t + rtt), _cwnd, 1.5 * _cwnd);
            _cwnd += (target - _cwnd) / _cwnd * segmentsAcked;
        }
        Window = (int)(_cwnd * mss);
    }

    public override void OnCongestionEvent(TimeSpan now, int flightSize, int mss)
    {
        Reduce(mss);
        Window = SlowStartThreshold;
        _cwnd = Window / (double)mss;
    }

    public override void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0)
    {
        // RFC 9438 §4.8: a timeout is a congestion event too, then one segment of slow start, which HyStart watches
        // again (Linux's cubictcp_state on TCP_CA_Loss). A recurring one is no new event: ssthresh is held (RFC 5681
        // §3.1; Linux skips cubictcp_recalc_ssthresh), not recomputed from the one-segment window.
        if (!recurring) Reduce(mss);
        // Linux's bictcp_reset runs on every timeout (tcp_set_ca_state(TCP_CA_Loss) each time): no epoch either.
        _epochStart = NoEpoch;
        // §4.8: the first congestion avoidance after it starts with K = 0 and W_max = its cwnd, so no W_max is kept
        // (Linux's bictcp_reset zeroes last_max_cwnd).
        _wMax = 0;
        // Made now if slow start never reached HyStart's window: its minimum must come from samples after the timeout,
        // not from the connection's whole life (Linux's bictcp_reset zeroes delay_min).
        (_hyStart ??= new HyStart(delayMin: null)).Reset();
        Window = mss + inFlight;
        _cwnd = Window / (double)mss;
    }

    /// <summary>ssthresh and W_max for a congestion event (a loss, an ECN echo, a timeout's first).</summary>
    protected virtual void Reduce(int mss)
    {
        double cwnd = Window / (double)mss;
        _cwndPrior = cwnd;
        // RFC 9438 §4.7 fast convergence: a window that stopped short of the last W_max releases bandwidth sooner.
        _wMax = cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd;
        // RFC 9438 §4.6: ssthresh = cwnd × β (Linux uses cwnd, not FlightSize), at least 2 segments.
        SlowStartThreshold = Math.Max((int)(cwnd * Beta * mss), 2 * mss);
        _epochStart = NoEpoch;
    }
}
