namespace UserTcp.Engine;

/// <summary>The retransmission timeout of RFC 6298: SRTT and RTTVAR from samples, exponential backoff on expiry.</summary>
internal sealed class RtoEstimator
{
    private readonly TcpConfig _config;
    // Invariant: _hasSample is false until the first measurement (RFC 6298 §2.1), then SRTT/RTTVAR are valid.
    private bool _hasSample;
    private TimeSpan _baseRto;

    public RtoEstimator(TcpConfig config)
    {
        _config = config;
        _baseRto = config.InitialRto;
        Rto = config.InitialRto;
    }

    public TimeSpan SmoothedRtt { get; private set; }
    public TimeSpan RttVariance { get; private set; }
    /// <summary>The current timeout including backoff.</summary>
    public TimeSpan Rto { get; private set; }
    /// <summary>How many times the timer has doubled since the last new ACK.</summary>
    public int Backoff { get; private set; }

    /// <summary>The smallest sample seen (RACK's reordering window and CUBIC use it); zero before any.</summary>
    public TimeSpan MinRtt { get; private set; }
    public bool HasSample => _hasSample;

    /// <summary>
    /// RFC 6298 §2.2–2.3 with alpha = 1/8, beta = 1/4, K = 4; G is taken as zero (a fine-grained clock). With
    /// timestamps there is a sample on every ACK, so the gains are divided by the samples expected per RTT
    /// (<paramref name="samplesPerRtt"/>, RFC 7323 Appendix G) and SRTT still averages over about eight RTTs.
    /// </summary>
    public void AddSample(TimeSpan rtt, int samplesPerRtt = 1)
    {
        if (MinRtt == TimeSpan.Zero || rtt < MinRtt) MinRtt = rtt;
        if (!_hasSample)
        {
            SmoothedRtt = rtt;
            RttVariance = Divide(rtt, 2);
            _hasSample = true;
        }
        else
        {
            long n = Math.Max(1, samplesPerRtt);
            TimeSpan delta = (SmoothedRtt - rtt).Duration();
            RttVariance += Divide(delta - RttVariance, 4 * n);
            SmoothedRtt += Divide(rtt - SmoothedRtt, 8 * n);
        }
        _baseRto = Clamp(SmoothedRtt + TimeSpan.FromTicks(4 * RttVariance.Ticks));
        // Only a valid measurement ends a backoff (RFC 6298 §5.7, Karn; Linux tcp_ack_update_rtt does the same).
        Backoff = 0;
        Rto = _baseRto;
    }

    /// <summary>RFC 6298 §5.5: double the timer on each expiry, up to the maximum.</summary>
    public void BackOff()
    {
        Backoff++;
        Rto = Clamp(TimeSpan.FromTicks(2 * Rto.Ticks)); // Rto <= MaxRto: no overflow
    }

    /// <summary>
    /// RFC 6298 §5.7: when a SYN or SYN-ACK timed out and no RTT was measured, data transmission starts with RTO = 3 s
    /// (or the configured initial RTO if larger).
    /// </summary>
    public void RestartAfterHandshakeLoss()
    {
        if (_hasSample) return;
        Backoff = 0;
        _baseRto = Clamp(_config.InitialRto > HandshakeLossRto ? _config.InitialRto : HandshakeLossRto);
        Rto = _baseRto;
    }

    private static readonly TimeSpan HandshakeLossRto = TimeSpan.FromSeconds(3);

    /// <summary>
    /// <paramref name="value"/> / <paramref name="divisor"/> in integers, rounded half to even as TimeSpan's own division
    /// (through a double, Math.Round) rounds, so every RTO stays the tick it was; the double path was ~0.3 % of a
    /// same-vCPU echo request's samples (TimeSpan.IntervalFromDoubleTicks).
    /// </summary>
    internal static TimeSpan Divide(TimeSpan value, long divisor)
    {
        long quotient = Math.DivRem(value.Ticks, divisor, out long remainder); // truncated toward zero; remainder has value's sign
        long twice = 2 * Math.Abs(remainder);
        if (twice > divisor || twice == divisor && (quotient & 1) != 0) quotient += Math.Sign(value.Ticks);
        return TimeSpan.FromTicks(quotient);
    }

    private TimeSpan Clamp(TimeSpan rto) => rto < _config.MinRto ? _config.MinRto : rto > _config.MaxRto ? _config.MaxRto : rto;
}
