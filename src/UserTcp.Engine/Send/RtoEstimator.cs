using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The retransmission timeout of RFC 6298 (or, by <see cref="TcpConfig.RtoFormula"/>, Linux's): SRTT and RTTVAR from
/// samples, exponential backoff on expiry.
/// </summary>
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
    /// Under <see cref="RtoFormula.Linux"/>, Linux's estimator instead; <paramref name="sndUna"/> (already advanced by
    /// this ACK) and <paramref name="sndMax"/> mark its round trips.
    /// </summary>
    public void AddSample(TimeSpan rtt, int samplesPerRtt, SeqNumber sndUna, SeqNumber sndMax)
    {
        if (MinRtt == TimeSpan.Zero || rtt < MinRtt) MinRtt = rtt;
        if (_config.RtoFormula == RtoFormula.Linux)
        {
            _baseRto = LinuxSample(rtt.Ticks, sndUna, sndMax);
        }
        else
        {
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
        }
        // Only a valid measurement ends a backoff (RFC 6298 §5.7, Karn; Linux tcp_ack_update_rtt does the same).
        Backoff = 0;
        Rto = _baseRto;
    }

    // Linux's state, in ticks: 8·SRTT, 4·mdev (mdev is RFC 6298's RTTVAR, updated alike), the largest 4·mdev of this
    // round trip (at least MinRto), and rttvar, the variance term of the RTO; a round trip ends when SND.UNA passes _roundEnd.
    private long _srtt8;
    private long _mdev4;
    private long _mdevMax4;
    private long _rttvar;
    private SeqNumber _roundEnd;

    /// <summary>
    /// Linux's tcp_rtt_estimator and tcp_set_rto (our own code): the same SRTT and mdev gains per sample, except that a
    /// sample below SRTT grows mdev by 1/32 of the gap, not 1/4; rttvar rises at once to any larger 4·mdev and, once per round trip,
    /// decays a quarter of the way toward that round trip's largest 4·mdev, itself never below MinRto. RTO = SRTT + rttvar.
    /// </summary>
    private TimeSpan LinuxSample(long m, SeqNumber sndUna, SeqNumber sndMax)
    {
        long minRto = _config.MinRto.Ticks;
        if (!_hasSample)
        {
            _srtt8 = 8 * m;
            _mdev4 = 2 * m; // RTTVAR = R/2, as RFC 6298 §2.2
            _rttvar = Math.Max(_mdev4, minRto);
            _mdevMax4 = _rttvar;
            _roundEnd = sndMax;
            _hasSample = true;
        }
        else
        {
            long error = m - (_srtt8 >> 3);
            _srtt8 += error;
            long step;
            if (error < 0)
            {
                step = -error - (_mdev4 >> 2);
                if (step > 0) step >>= 3; // an RTT that falls does not inflate the RTO (Linux's take on Eifel)
            }
            else
            {
                step = error - (_mdev4 >> 2);
            }
            _mdev4 += step;
            if (_mdev4 > _mdevMax4)
            {
                _mdevMax4 = _mdev4;
                if (_mdevMax4 > _rttvar) _rttvar = _mdevMax4;
            }
            if (sndUna > _roundEnd)
            {
                if (_mdevMax4 < _rttvar) _rttvar -= (_rttvar - _mdevMax4) >> 2;
                _roundEnd = sndMax;
                _mdevMax4 = minRto;
            }
        }
        _srtt8 = Math.Max(1, _srtt8);
        SmoothedRtt = TimeSpan.FromTicks(_srtt8 >> 3);
        RttVariance = TimeSpan.FromTicks(_mdev4 >> 2); // tcpi_rttvar is mdev, as Linux's tcp_get_info reports it
        long rto = (_srtt8 >> 3) + _rttvar;
        return rto > _config.MaxRto.Ticks ? _config.MaxRto : TimeSpan.FromTicks(rto); // tcp_bound_rto: the maximum only
    }

    /// <summary>RFC 6298 §5.5: double the timer on each expiry, up to the maximum.</summary>
    public void BackOff()
    {
        Backoff++;
        Rto = Clamp(TimeSpan.FromTicks(2 * Rto.Ticks)); // Rto <= MaxRto: no overflow
    }

    /// <summary>
    /// Takes back the last doubling (Linux's tcp_retransmit_timer backs off only after its resend left: one the local
    /// queue refused leaves icsk_backoff and icsk_rto as they were).
    /// </summary>
    public void UndoBackOff()
    {
        if (Backoff == 0) return;
        Backoff--;
        TimeSpan rto = _baseRto;
        for (int i = 0; i < Backoff; i++) rto = Clamp(TimeSpan.FromTicks(2 * rto.Ticks));
        Rto = rto;
    }

    /// <summary>
    /// RFC 6298 §5.7: when no RTT was measured in the handshake, data transmission starts with RTO = 3 s (or the
    /// configured initial RTO if larger): the RFC asks it after a SYN or SYN-ACK timeout, Linux's tcp_init_metrics
    /// whenever srtt is 0 (a SYN-ACK resent for a repeated SYN, a SYN cookie's connection without timestamps).
    /// </summary>
    public void FallBackWithoutSample()
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
        if (divisor > 0 && (divisor & (divisor - 1)) == 0)
        {
            // A power of two (every divisor of the per-request path: 2, 4, 8 per sample): shifts, not a 64-bit idiv.
            // Floor and remainder in [0, divisor); halves go to the even neighbour, as below.
            int shift = System.Numerics.BitOperations.TrailingZeroCount(divisor);
            long floor = value.Ticks >> shift;
            long rest = value.Ticks & (divisor - 1);
            if (2 * rest > divisor || 2 * rest == divisor && (floor & 1) != 0) floor++;
            return TimeSpan.FromTicks(floor);
        }
        long quotient = Math.DivRem(value.Ticks, divisor, out long remainder); // truncated toward zero; remainder has value's sign
        long twice = 2 * Math.Abs(remainder);
        if (twice > divisor || twice == divisor && (quotient & 1) != 0) quotient += Math.Sign(value.Ticks);
        return TimeSpan.FromTicks(quotient);
    }

    private TimeSpan Clamp(TimeSpan rto) => rto < _config.MinRto ? _config.MinRto : rto > _config.MaxRto ? _config.MaxRto : rto;
}
