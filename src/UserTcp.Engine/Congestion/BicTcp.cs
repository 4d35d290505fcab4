using System.Numerics;

namespace UserTcp.Engine;

/// <summary>
/// CUBIC's congestion avoidance in Linux's own integer arithmetic (tcp_cubic.c's struct bictcp, bictcp_update,
/// cubictcp_recalc_ssthresh, cubictcp_cwnd_event, with tcp_cong_avoid_ai's snd_cwnd_cnt), for
/// <see cref="CubicArithmetic.Linux"/>. Windows are whole segments; time is jiffies at <see cref="Hz"/>, and the cubic
/// curve's t is in 1/1024 s (BICTCP_HZ). Widths, shifts and rounding are Linux's: u32 windows, a u64 t and cube, a cube
/// root from a 64-entry table and one Newton step. The RFC 9438 arithmetic stays in <see cref="Cubic"/>.
/// </summary>
internal sealed class BicTcp
{
    /// <summary>
    /// Linux's CONFIG_HZ, the tick of tcp_jiffies32: 250, the kernel tools/linux-check runs against (Debian's and this
    /// project's reference; many distributions build 1000). t is counted in whole jiffies, as Linux counts it.
    /// </summary>
    public const int Hz = 250;
    private const long TicksPerJiffy = TimeSpan.TicksPerSecond / Hz;
    private const int MicrosecondsPerJiffy = 1_000_000 / Hz;

    /// <summary>BICTCP_BETA_SCALE and Linux's beta (717/1024 ≈ 0.7, RFC 9438's β_cubic).</summary>
    private const uint BetaScale = 1024, Beta = 717;
    /// <summary>BICTCP_HZ: the curve's time unit is 2^-10 s.</summary>
    private const int CurveHzShift = 10;
    /// <summary>cube_rtt_scale: C = 0.4 per s³ scaled by 1024 (Linux's bic_scale 41, i.e. 41/1024 per 0.1 s, × 10).</summary>
    private const uint CubeRttScale = 41 * 10;
    /// <summary>cube_factor = 2^40 / (bic_scale × 10): K = ∛(cube_factor × (W_max − cwnd)) in 1/1024 s.</summary>
    private const ulong CubeFactor = (1UL << (10 + 3 * CurveHzShift)) / (41 * 10);
    /// <summary>
    /// Linux's beta_scale, 8 (1024 + β) / 3 / (1024 − β) in integers = 15: the ACKs per Reno-friendly segment are
    /// cwnd × 15 / 8, i.e. α = 3 (1 − β) / (1 + β) ≈ 0.53 segment per RTT (RFC 9438 §4.3).
    /// </summary>
    private const uint FriendlyScale = 8 * (BetaScale + Beta) / 3 / (BetaScale - Beta);

    /// <summary>
    /// ∛ of 0…63 scaled by 64, then trimmed so that (v + 35) >> 6 rounds right below 64 and (v + 10) >> 6 starts the
    /// Newton step above it (the table of Linux's cubic_root; its entries are what make the root come out as Linux's).
    /// </summary>
    private static ReadOnlySpan<byte> CubeRootTable =>
    [
        0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
        157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
        200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
        231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254,
    ];

    // struct bictcp's fields, as bictcp_reset zeroes them; a separate flag stands for epoch_start != 0, since our clock's
    // jiffy 0 is an ordinary time (Linux's starts 5 minutes before its wrap).
    private uint _cnt;
    private uint _lastMaxCwnd;
    private uint _lastCwnd;
    private uint _lastTime;
    private uint _originPoint;
    private uint _k;
    private uint _delayMinUs;
    private uint _epochStart;
    private bool _hasEpoch;
    private uint _ackCount;
    private uint _tcpCwnd;
    // tp->snd_cwnd_cnt: the ACKed segments counted towards the next increase (tcp_cong_avoid_ai).
    private uint _cwndCount;

    /// <summary>ca->cnt: the segments ACKed per one segment of growth, as the last update set it.</summary>
    public uint Count => _cnt;
    /// <summary>ca->last_max_cwnd (W_max, segments); 0 before any loss.</summary>
    public uint LastMaxCwnd => _lastMaxCwnd;
    /// <summary>ca->bic_K, in 1/1024 s.</summary>
    public uint K => _k;
    /// <summary>ca->bic_origin_point (segments).</summary>
    public uint OriginPoint => _originPoint;
    /// <summary>ca->tcp_cwnd: the Reno-friendly estimate (segments).</summary>
    public uint TcpCwnd => _tcpCwnd;
    /// <summary>ca->delay_min in microseconds; 0 for none.</summary>
    public uint DelayMinUs => _delayMinUs;
    /// <summary>ca->epoch_start in jiffies, or null when no epoch runs.</summary>
    public uint? EpochStart => _hasEpoch ? _epochStart : null;
    /// <summary>tp->snd_cwnd_cnt.</summary>
    public uint CwndCount => _cwndCount;

    /// <summary>tcp_jiffies32 at <paramref name="now"/>.</summary>
    public static uint Jiffies(TimeSpan now) => unchecked((uint)(now.Ticks / TicksPerJiffy));

    /// <summary>Linux's cubic_root: the table gives the top bits, one Newton step (2x + a/x²)/3 the rest, in u32.</summary>
    public static uint CubeRoot(ulong a)
    {
        int bits = 64 - BitOperations.LeadingZeroCount(a); // fls64
        if (bits < 7) return (uint)(CubeRootTable[(int)a] + 35) >> 6;
        int b = ((bits * 84) >> 8) - 1; // about bits / 3, rounded down
        uint top = (uint)(a >> (b * 3));
        uint x = unchecked((uint)((CubeRootTable[(int)top] + 10) << b)) >> 6;
        // x(x − 1) instead of x², and × 341 / 1024 for / 3: Linux's own approximations, kept for the same result.
        x = unchecked(2 * x + (uint)(a / ((ulong)x * (x - 1))));
        return unchecked(x * 341) >> 10;
    }

    /// <summary>
    /// Linux's cubictcp_acked for the RTT sample (ca_rtt_us) of an ACK: delay_min follows the smallest, except in the
    /// first second of an epoch (right after a recovery, whose samples include its queue).
    /// </summary>
    public void TakeDelay(TimeSpan now, TimeSpan sample)
    {
        if (Settling(now)) return;
        uint delay = (uint)Math.Clamp(sample.Ticks / TimeSpan.TicksPerMicrosecond, 1, uint.MaxValue);
        if (_delayMinUs == 0 || _delayMinUs > delay) _delayMinUs = delay;
    }

    /// <summary>cubictcp_acked's guard: an epoch started less than a second (HZ jiffies) ago.</summary>
    public bool Settling(TimeSpan now) => _hasEpoch && unchecked((int)(Jiffies(now) - _epochStart)) < Hz;

    /// <summary>
    /// cubictcp_cong_avoid past slow start: bictcp_update for <paramref name="acked"/> segments, then tcp_cong_avoid_ai
    /// with its cnt; returns the new cwnd in segments.
    /// </summary>
    public uint OnAck(uint cwnd, uint acked, TimeSpan now)
    {
        Update(cwnd, acked, Jiffies(now));
        return AdditiveIncrease(cwnd, _cnt, acked);
    }

    /// <summary>tcp_cong_avoid_ai: one segment for each w ACKed, credit above w from a larger w applied first.</summary>
    private uint AdditiveIncrease(uint cwnd, uint w, uint acked)
    {
        unchecked
        {
            if (_cwndCount >= w)
            {
                _cwndCount = 0;
                cwnd++;
            }
            _cwndCount += acked;
            if (_cwndCount >= w)
            {
                uint segments = _cwndCount / w;
                _cwndCount -= segments * w;
                cwnd += segments;
            }
            return cwnd;
        }
    }

    /// <summary>bictcp_update: ca->cnt, the segments to ACK per segment of growth, from the cubic curve and Reno's.</summary>
    private void Update(uint cwnd, uint acked, uint now)
    {
        unchecked
        {
            _ackCount += acked;
            // Linux recomputes at most every HZ/32 while cwnd stands still, and the curve at most once a jiffy.
            if (_lastCwnd == cwnd && (int)(now - _lastTime) <= Hz / 32) return;
            if (!(_hasEpoch && now == _lastTime))
            {
                _lastCwnd = cwnd;
                _lastTime = now;
                if (!_hasEpoch) StartEpoch(cwnd, acked, now);
                CubicCount(cwnd, now);
            }
            TcpFriendly(cwnd);
            // At most one segment per two ACKed: cwnd grows at most 1.5× per RTT.
            if (_cnt < 2) _cnt = 2;
        }
    }

    private void StartEpoch(uint cwnd, uint acked, uint now)
    {
        _epochStart = now;
        _hasEpoch = true;
        _ackCount = acked;
        _tcpCwnd = cwnd;
        if (_lastMaxCwnd <= cwnd)
        {
            // No loss yet, or cwnd is already past W_max: the plateau is here.
            _k = 0;
            _originPoint = cwnd;
        }
        else
        {
            _k = CubeRoot(unchecked(CubeFactor * (_lastMaxCwnd - cwnd)));
            _originPoint = _lastMaxCwnd;
        }
    }

    // The cubic part: bic_target = origin ± C (t − K)³ with t one delay_min ahead, and cnt = cwnd / (target − cwnd).
    private void CubicCount(uint cwnd, uint now)
    {
        unchecked
        {
            ulong t = (ulong)(long)(int)(now - _epochStart); // (s32) into a u64, as Linux
            t += UsecsToJiffies(_delayMinUs);
            t = (t << CurveHzShift) / Hz;
            ulong offs = t < _k ? _k - t : t - _k;
            uint delta = (uint)((CubeRttScale * offs * offs * offs) >> (10 + 3 * CurveHzShift));
            uint target = t < _k ? _originPoint - delta : _originPoint + delta;
            _cnt = target > cwnd ? cwnd / (target - cwnd) : 100 * cwnd; // below the curve: almost no growth
            // Before the first loss the curve is flat at first: at least 5 % per RTT (one segment per 20 ACKed).
            if (_lastMaxCwnd == 0 && _cnt > 20) _cnt = 20;
        }
    }

    // The TCP-friendly part: ack_cnt counts ACKed segments, one Reno segment per cwnd × 15/8 of them; cwnd grows at
    // least as fast as that estimate would.
    private void TcpFriendly(uint cwnd)
    {
        unchecked
        {
            uint perSegment = (cwnd * FriendlyScale) >> 3;
            if (_ackCount > perSegment && perSegment > 0)
            {
                // Linux subtracts while ack_cnt > per segment: a whole multiple leaves one per segment over, not zero.
                uint segments = (_ackCount - 1) / perSegment;
                _ackCount -= segments * perSegment;
                _tcpCwnd += segments;
            }
            if (_tcpCwnd > cwnd)
            {
                uint maxCount = cwnd / (_tcpCwnd - cwnd);
                if (_cnt > maxCount) _cnt = maxCount;
            }
        }
    }

    /// <summary>usecs_to_jiffies: rounded up.</summary>
    private static ulong UsecsToJiffies(uint microseconds) => ((ulong)microseconds + MicrosecondsPerJiffy - 1) / MicrosecondsPerJiffy;

    /// <summary>
    /// cubictcp_recalc_ssthresh on a loss or an ECN echo: the epoch ends; W_max = cwnd, or (1 + β)/2 of it when cwnd
    /// stopped short of the last W_max (fast convergence); ssthresh = β cwnd, at least 2. The reduction also zeroes
    /// snd_cwnd_cnt (tcp_init_cwnd_reduction, tcp_enter_loss).
    /// </summary>
    public uint RecalcSsthresh(uint cwnd)
    {
        unchecked
        {
            _hasEpoch = false;
            _lastMaxCwnd = cwnd < _lastMaxCwnd ? cwnd * (BetaScale + Beta) / (2 * BetaScale) : cwnd;
            _cwndCount = 0;
            return Math.Max(cwnd * Beta / BetaScale, 2U);
        }
    }

    /// <summary>bictcp_reset on entering Loss (cubictcp_state), with tcp_enter_loss's snd_cwnd_cnt = 0.</summary>
    public void Reset()
    {
        _cnt = _lastMaxCwnd = _lastCwnd = _lastTime = _originPoint = _k = _delayMinUs = _epochStart = 0;
        _hasEpoch = false;
        _ackCount = _tcpCwnd = _cwndCount = 0;
    }

    /// <summary>
    /// cubictcp_cwnd_event(CA_EVENT_TX_START): data leaves with nothing in flight; the epoch moves on by the jiffies
    /// since the last send (lsndtime), not past now, so idle time earns no growth.
    /// </summary>
    public void OnTransmitStart(TimeSpan now, TimeSpan sinceLastSend)
    {
        if (!_hasEpoch) return;
        uint jiffies = Jiffies(now);
        int delta = unchecked((int)(jiffies - Jiffies(now - sinceLastSend)));
        if (delta <= 0) return;
        _epochStart = unchecked(_epochStart + (uint)delta);
        if (unchecked((int)(jiffies - _epochStart)) < 0) _epochStart = jiffies;
    }
}
