namespace UserTcp.Engine;

/// <summary>
/// BBR v1 as Linux's tcp_bbr.c runs it (draft-cardwell-iccrg-bbr-congestion-control-00): a model of the path — the
/// bottleneck bandwidth (the largest delivery rate of the last 10 round trips) and the propagation delay (the smallest
/// RTT of the last 10 s) — sets cwnd to gain × BDP plus room for ACK aggregation and send quanta. Random loss does not
/// shrink it: a loss only holds cwnd to packet conservation for the first round of a recovery. Modes: STARTUP (gain
/// 2.89 until the bandwidth stops growing by 25 % for 3 rounds), DRAIN, PROBE_BW (the 8-phase gain cycle) and PROBE_RTT
/// (cwnd 4 segments for 200 ms and a round when the min RTT is 10 s old). Windows in bytes, rates in bytes per second.
/// Not here: the long-term (policer) bandwidth model, and pacing — UserTcp does not pace, so DRAIN drains with cwnd
/// (docs/design.md "BBR").
/// </summary>
internal sealed class Bbr : CongestionControl
{
    public enum BbrMode : byte { Startup, Drain, ProbeBw, ProbeRtt }

    /// <summary>2/ln 2: the smallest gain that doubles the sending rate every round in STARTUP (Linux bbr_high_gain).</summary>
    public const double HighGain = 2.885;
    /// <summary>The inverse of the high gain, to drain STARTUP's queue in one round (bbr_drain_gain).</summary>
    public const double DrainGain = 1 / HighGain;
    /// <summary>PROBE_BW's cwnd gain: 2 BDP in flight absorbs delayed and stretched ACKs (bbr_cwnd_gain).</summary>
    public const double CwndGain = 2;
    /// <summary>PROBE_BW's pacing gain cycle: probe up, drain, then cruise for six phases (bbr_pacing_gain).</summary>
    private static readonly double[] PacingGainCycle = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
    private const int CycleLength = 8;
    /// <summary>Round trips the bandwidth max filter covers (bbr_bw_rtts = CYCLE_LEN + 2).</summary>
    public const int BandwidthWindowRounds = CycleLength + 2;
    /// <summary>How long a min RTT sample lasts before PROBE_RTT measures again (bbr_min_rtt_win_sec).</summary>
    public static readonly TimeSpan MinRttWindow = TimeSpan.FromSeconds(10);
    /// <summary>How long PROBE_RTT holds the flight at the minimum (bbr_probe_rtt_mode_ms).</summary>
    public static readonly TimeSpan ProbeRttDuration = TimeSpan.FromMilliseconds(200);
    /// <summary>The smallest cwnd, in segments: two delayed-ACK pairs in flight (bbr_cwnd_min_target).</summary>
    public const int MinCwndSegments = 4;
    /// <summary>Linux's TCP_INIT_CWND: the cwnd cap before any RTT sample, and the delivery STARTUP grows through regardless.</summary>
    private const int InitialCwndSegments = 10;
    /// <summary>The pipe is full when the bandwidth grew less than 25 % (bbr_full_bw_thresh) for 3 rounds (bbr_full_bw_cnt).</summary>
    private const double FullBandwidthGrowth = 1.25;
    private const int FullBandwidthRounds = 3;
    /// <summary>ACK aggregation: gain, window of the max filter in rounds, cap in time at the estimated bandwidth.</summary>
    private const double ExtraAckedGain = 1;
    private const int ExtraAckedWindowRounds = 5;
    private static readonly TimeSpan ExtraAckedMaxTime = TimeSpan.FromMilliseconds(100);
    /// <summary>Pace 1 % under the estimated rate, so the bottleneck's queue does not build (bbr_pacing_margin_percent).</summary>
    private const double PacingMargin = 0.99;
    /// <summary>Below this pacing rate (1.2 Mbit/s) a send quantum is one segment, else two at least (bbr_min_tso_rate).</summary>
    private const long MinTsoRate = 1_200_000 / 8;
    /// <summary>Linux's GSO_MAX_SIZE − 1 − MAX_TCP_HEADER: the largest send quantum.</summary>
    private const int MaxQuantumBytes = 65536 - 1 - 320;
    /// <summary>The RTT bbr_init_pacing_rate_from_rtt assumes without a sample (USEC_PER_MSEC).</summary>
    private static readonly TimeSpan NominalRtt = TimeSpan.FromMilliseconds(1);

    private BbrMode _mode = BbrMode.Startup;
    private WindowedMaxFilter _bandwidth;
    private long _roundCount;
    private long _nextRoundDelivered;
    private bool _roundStart;
    private TimeSpan? _minRtt;
    private TimeSpan _minRttStamp;
    private bool _started;
    private TimeSpan _probeRttDone;
    private bool _probeRttDoneValid;
    private bool _probeRttRoundDone;
    private bool _idleRestart;
    private bool _packetConservation;
    private TcpCongestionState _previousState = TcpCongestionState.Open;
    private int _priorCwnd;
    private bool _fullBandwidthReached;
    private double _fullBandwidth;
    private int _fullBandwidthCount;
    private int _cycleIndex;
    private TimeSpan _cycleStamp;
    private bool _hasSeenRtt;
    // ACK aggregation (bbr_update_ack_aggregation): bytes acknowledged in the epoch, its start, the two windows' maxima.
    private long _ackEpochAcked;
    private TimeSpan _ackEpochStamp;
    private int _extraAckedRounds;
    private int _extraAckedIndex;
    private long _extraAcked0, _extraAcked1;
    private uint _random;

    public Bbr(int initialWindow, uint seed) : base(initialWindow) => _random = seed | 1;

    public override CongestionControlAlgorithm Algorithm => CongestionControlAlgorithm.Bbr;
    public override bool IsRateBased => true;

    public BbrMode Mode => _mode;
    /// <summary>The bottleneck bandwidth estimate (max filter), bytes per second.</summary>
    public double BottleneckBandwidth => _bandwidth.Value;
    /// <summary>The propagation delay estimate (min filter over 10 s); null before the first sample.</summary>
    public TimeSpan? MinRtt => _minRtt;
    public double PacingGain { get; private set; } = HighGain;
    public double CurrentCwndGain { get; private set; } = HighGain;
    public bool FullBandwidthReached => _fullBandwidthReached;
    public int CycleIndex => _cycleIndex;
    public long RoundCount => _roundCount;
    public override long PacingRate => (long)_pacingRate;
    public override DeliveryRateEstimator DeliveryRate { get; } = new();
    private double _pacingRate;

    // BBR keeps cwnd on its own model: no slow start or congestion avoidance from the sender's ACK rules.
    public override void OnAck(in AckSample ack) { }

    protected override void OnAckInCongestionAvoidance(in AckSample ack) { }

    /// <summary>Recovery begins (or a loss probe repaired a loss): cwnd is remembered for the end of it (bbr_ssthresh).</summary>
    public override void OnCongestionEvent(TimeSpan now, int flightSize, int mss) => SaveCwnd();

    /// <summary>
    /// A timeout: cwnd falls to what is still in flight (nothing when everything is deemed lost) plus one segment (Linux
    /// tcp_enter_loss), and the full-pipe estimate starts over (bbr_set_state TCP_CA_Loss); the cwnd from before is
    /// restored when the Loss phase ends.
    /// </summary>
    public override void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0)
    {
        // bbr_ssthresh saves cwnd once per Loss phase (tcp_enter_loss calls it then only); bbr_set_state runs every time.
        if (!recurring) SaveCwnd();
        Window = mss + inFlight;
        _previousState = TcpCongestionState.Loss;
        _fullBandwidth = 0;
    }

    /// <summary>
    /// A timeout proved spurious (Linux's bbr_undo_cwnd): cwnd stays, since leaving Loss restores the saved one, and the
    /// full-pipe estimate starts over.
    /// </summary>
    public override void UndoReduction(int priorWindow, int priorSlowStartThreshold)
    {
        _fullBandwidth = 0;
        _fullBandwidthCount = 0;
    }

    public override void OnRestartFromIdle(TimeSpan now, TimeSpan idle, bool appLimited)
    {
        // bbr_cwnd_event(CA_EVENT_TX_START): restarting from idle while app-limited needs no probing.
        if (!appLimited) return;
        _idleRestart = true;
        _ackEpochStamp = now;
        _ackEpochAcked = 0;
        if (_mode == BbrMode.ProbeBw) SetPacingRate(_bandwidth.Value, 1, default);
        else if (_mode == BbrMode.ProbeRtt) CheckProbeRttDone(now);
    }

    /// <summary>bbr_main: update the model from the sample, then the pacing rate and cwnd.</summary>
    public override bool OnRateSample(in DeliveryRateSample sample, in RateAck ack)
    {
        if (!_started)
        {
            _started = true;
            _minRttStamp = ack.Now;
            _ackEpochStamp = ack.Now;
            if (ack.MinRtt > TimeSpan.Zero) _minRtt = ack.MinRtt; // bbr_init takes tcp_min_rtt, from the handshake
        }
        UpdateBandwidth(sample, ack);
        UpdateAckAggregation(sample, ack);
        UpdateCyclePhase(sample, ack);
        CheckFullBandwidthReached(sample);
        CheckDrain(ack);
        UpdateMinRtt(sample, ack);
        UpdateGains();
        SetPacingRate(_bandwidth.Value, PacingGain, ack);
        SetCwnd(sample, ack);
        return _mode == BbrMode.ProbeRtt; // the low rate of this mode is no bandwidth sample
    }

    private void UpdateBandwidth(in DeliveryRateSample sample, in RateAck ack)
    {
        _roundStart = false;
        if (!sample.IsValid) return;
        // A round trip ends when a segment sent after the last round's end is delivered (packet-timed rounds).
        if (sample.PriorDelivered >= _nextRoundDelivered)
        {
            _nextRoundDelivered = ack.Delivered;
            _roundCount++;
            _roundStart = true;
            _packetConservation = false;
        }
        double bandwidth = sample.BytesPerSecond;
        // An app-limited sample says little about the path unless it is the best yet.
        if (!sample.IsAppLimited || bandwidth >= _bandwidth.Value) _bandwidth.Update(BandwidthWindowRounds, _roundCount, bandwidth);
    }

    private void UpdateAckAggregation(in DeliveryRateSample sample, in RateAck ack)
    {
        if (sample.AckedSacked <= 0 || !sample.IsValid) return;
        if (_roundStart && ++_extraAckedRounds >= ExtraAckedWindowRounds)
        {
            _extraAckedRounds = 0;
            _extraAckedIndex ^= 1;
            if (_extraAckedIndex == 0) _extraAcked0 = 0;
            else _extraAcked1 = 0;
        }
        TimeSpan epoch = ack.DeliveredTime - _ackEpochStamp;
        long expected = (long)(_bandwidth.Value * epoch.TotalSeconds);
        // A new epoch when ACKs come slower than the estimate, or the epoch is very old (bbr_ack_epoch_acked_reset_thresh).
        if (_ackEpochAcked <= expected || _ackEpochAcked + sample.AckedSacked >= (1L << 20) * ack.Mss)
        {
            _ackEpochAcked = 0;
            _ackEpochStamp = ack.DeliveredTime;
            expected = 0;
        }
        _ackEpochAcked += sample.AckedSacked;
        long extra = Math.Min(_ackEpochAcked - expected, Window);
        if (_extraAckedIndex == 0) _extraAcked0 = Math.Max(_extraAcked0, extra);
        else _extraAcked1 = Math.Max(_extraAcked1, extra);
    }

    private void UpdateCyclePhase(in DeliveryRateSample sample, in RateAck ack)
    {
        if (_mode != BbrMode.ProbeBw || !IsNextCyclePhase(sample, ack)) return;
        AdvanceCyclePhase(ack.DeliveredTime);
    }

    private bool IsNextCyclePhase(in DeliveryRateSample sample, in RateAck ack)
    {
        bool fullLength = _minRtt is TimeSpan minRtt && ack.DeliveredTime - _cycleStamp > minRtt;
        if (PacingGain == 1) return fullLength;
        long inflight = InFlightAtNextSend(sample.PriorInFlight, ack.Mss);
        double bandwidth = _bandwidth.Value;
        // Probing up ends after a min RTT once the flight reached gain × BDP, or at a loss (the path may not hold it).
        if (PacingGain > 1) return fullLength && (sample.Losses > 0 || inflight >= Inflight(bandwidth, PacingGain, ack.Mss));
        // Draining ends after a min RTT, or as soon as the flight is down to one BDP.
        return fullLength || inflight <= Inflight(bandwidth, 1, ack.Mss);
    }

    /// <summary>bbr_packets_in_net_at_edt without pacing: the next send happens now, a quantum more when probing up.</summary>
    private long InFlightAtNextSend(int inFlight, int mss) => inFlight + (PacingGain > 1 ? (long)SendQuantumSegments(mss) * mss : 0);

    private void AdvanceCyclePhase(TimeSpan deliveredTime)
    {
        _cycleIndex = (_cycleIndex + 1) % CycleLength;
        _cycleStamp = deliveredTime;
    }

    private void ResetProbeBwMode(TimeSpan deliveredTime)
    {
        _mode = BbrMode.ProbeBw;
        // A random phase other than the draining one, so flows that start together do not probe in step (bbr_cycle_rand = 7).
        _cycleIndex = CycleLength - 1 - (int)(NextRandom() % (CycleLength - 1));
        AdvanceCyclePhase(deliveredTime);
    }

    private void ResetMode(TimeSpan deliveredTime)
    {
        if (!_fullBandwidthReached) _mode = BbrMode.Startup;
        else ResetProbeBwMode(deliveredTime);
    }

    private void CheckFullBandwidthReached(in DeliveryRateSample sample)
    {
        if (_fullBandwidthReached || !_roundStart || sample.IsAppLimited) return;
        if (_bandwidth.Value >= _fullBandwidth * FullBandwidthGrowth)
        {
            _fullBandwidth = _bandwidth.Value;
            _fullBandwidthCount = 0;
            return;
        }
        _fullBandwidthReached = ++_fullBandwidthCount >= FullBandwidthRounds;
    }

    private void CheckDrain(in RateAck ack)
    {
        if (_mode == BbrMode.Startup && _fullBandwidthReached)
        {
            _mode = BbrMode.Drain;
            SlowStartThreshold = (int)Math.Min(int.MaxValue, Inflight(_bandwidth.Value, 1, ack.Mss));
        }
        if (_mode == BbrMode.Drain && InFlightAtNextSend(ack.InFlight, ack.Mss) <= Inflight(_bandwidth.Value, 1, ack.Mss))
        {
            ResetProbeBwMode(ack.DeliveredTime); // the queue STARTUP built is drained
        }
    }

    private void CheckProbeRttDone(TimeSpan now)
    {
        if (!_probeRttDoneValid || now <= _probeRttDone) return;
        _minRttStamp = now; // the next PROBE_RTT is a whole window away
        Window = Math.Max(Window, _priorCwnd);
        ResetMode(now);
    }

    private void UpdateMinRtt(in DeliveryRateSample sample, in RateAck ack)
    {
        bool expired = ack.Now > _minRttStamp + MinRttWindow;
        if (sample.Rtt >= TimeSpan.Zero && (_minRtt is not TimeSpan minRtt || sample.Rtt <= minRtt || expired))
        {
            _minRtt = sample.Rtt;
            _minRttStamp = ack.Now;
        }
        if (expired && !_idleRestart && _mode != BbrMode.ProbeRtt)
        {
            _mode = BbrMode.ProbeRtt; // dip to drain the queue and measure the propagation delay again
            SaveCwnd();
            _probeRttDoneValid = false;
        }
        if (_mode == BbrMode.ProbeRtt)
        {
            if (!_probeRttDoneValid && ack.InFlight <= MinCwndSegments * ack.Mss)
            {
                _probeRttDone = ack.Now + ProbeRttDuration;
                _probeRttDoneValid = true;
                _probeRttRoundDone = false;
                _nextRoundDelivered = ack.Delivered;
            }
            else if (_probeRttDoneValid)
            {
                if (_roundStart) _probeRttRoundDone = true;
                if (_probeRttRoundDone) CheckProbeRttDone(ack.Now);
            }
        }
        if (sample.Delivered > 0) _idleRestart = false;
    }

    private void UpdateGains()
    {
        (PacingGain, CurrentCwndGain) = _mode switch
        {
            BbrMode.Startup => (HighGain, HighGain),
            // Linux keeps STARTUP's cwnd gain and drains by pacing; without pacing only cwnd can drain the queue.
            BbrMode.Drain => (DrainGain, 1.0),
            BbrMode.ProbeBw => (PacingGainCycle[_cycleIndex], CwndGain),
            _ => (1.0, 1.0),
        };
    }

    /// <summary>
    /// bbr_init's pacing rate, before any ACK of data (bbr_init_pacing_rate_from_rtt): STARTUP's high gain × cwnd per the
    /// handshake's SRTT, or per a nominal 1 ms without one (taken again from the first SRTT then). So the first flight
    /// leaves in TSO packets sized from it, as Linux's: two segments at 100 ms, not half of cwnd.
    /// </summary>
    public override void Init(TimeSpan smoothedRtt) => InitPacingRateFromRtt(smoothedRtt);

    private void InitPacingRateFromRtt(TimeSpan smoothedRtt)
    {
        _hasSeenRtt = smoothedRtt > TimeSpan.Zero;
        TimeSpan rtt = _hasSeenRtt ? smoothedRtt : NominalRtt;
        _pacingRate = HighGain * Window / rtt.TotalSeconds * PacingMargin;
    }

    private void SetPacingRate(double bandwidth, double gain, in RateAck ack)
    {
        // bbr_set_pacing_rate: the first SRTT replaces a nominal one (or sets the rate of a BBR never initialized).
        if (!_hasSeenRtt && ack.SmoothedRtt > TimeSpan.Zero) InitPacingRateFromRtt(ack.SmoothedRtt);
        double rate = bandwidth * gain * PacingMargin;
        if (_fullBandwidthReached || rate > _pacingRate) _pacingRate = rate;
    }

    /// <summary>bbr_min_tso_segs: one segment per TSO packet below 1.2 Mbit/s, else two.</summary>
    public override int MinTsoSegments(int configured) => _pacingRate < MinTsoRate ? 1 : 2;

    /// <summary>bbr_tso_segs_goal: about 1 ms of the pacing rate per send (sk_pacing_shift 10), 2 to 127 segments.</summary>
    private int SendQuantumSegments(int mss)
    {
        long bytes = Math.Min((long)_pacingRate >> 10, MaxQuantumBytes);
        return (int)Math.Min(Math.Max(bytes / mss, MinTsoSegments(0)), 127);
    }

    /// <summary>bbr_bdp: gain × bandwidth × min RTT in bytes, rounded up to whole segments; 10 segments before any RTT.</summary>
    private long Bdp(double bandwidth, double gain, int mss)
    {
        if (_minRtt is not TimeSpan minRtt) return InitialCwndSegments * mss;
        double bytes = bandwidth * minRtt.TotalSeconds * gain;
        return (long)Math.Ceiling(bytes / mss) * mss;
    }

    /// <summary>bbr_quantization_budget: three send quanta more (one queued, one sending, one being ACKed), even, +2 when probing up.</summary>
    private long QuantizationBudget(long cwnd, int mss)
    {
        long segments = (cwnd + mss - 1) / mss + 3L * SendQuantumSegments(mss);
        segments = (segments + 1) & ~1L;
        if (_mode == BbrMode.ProbeBw && _cycleIndex == 0) segments += 2;
        return segments * mss;
    }

    private long Inflight(double bandwidth, double gain, int mss) => QuantizationBudget(Bdp(bandwidth, gain, mss), mss);

    private long AckAggregationCwnd()
    {
        if (!_fullBandwidthReached) return 0;
        long cap = (long)(_bandwidth.Value * ExtraAckedMaxTime.TotalSeconds);
        return Math.Min((long)(ExtraAckedGain * Math.Max(_extraAcked0, _extraAcked1)), cap);
    }

    private void SetCwnd(in DeliveryRateSample sample, in RateAck ack)
    {
        long cwnd = Window;
        int acked = sample.AckedSacked;
        if (acked > 0 && !RecoverOrRestore(sample, ack, ref cwnd))
        {
            long target = QuantizationBudget(Bdp(_bandwidth.Value, CurrentCwndGain, ack.Mss) + AckAggregationCwnd(), ack.Mss);
            // Grow by what was delivered towards the target; once the pipe was full, snap down to it too.
            if (_fullBandwidthReached) cwnd = Math.Min(cwnd + acked, target);
            else if (cwnd < target || ack.Delivered < InitialCwndSegments * ack.Mss) cwnd += acked;
            cwnd = Math.Max(cwnd, MinCwndSegments * ack.Mss);
        }
        if (_mode == BbrMode.ProbeRtt) cwnd = Math.Min(cwnd, MinCwndSegments * ack.Mss);
        Window = (int)Math.Min(cwnd, int.MaxValue);
    }

    /// <summary>
    /// bbr_set_cwnd_to_recover_or_restore: losses come off cwnd; the first round of a recovery sends one segment per
    /// segment delivered (packet conservation); leaving recovery or Loss restores the cwnd from before. True while
    /// conserving.
    /// </summary>
    private bool RecoverOrRestore(in DeliveryRateSample sample, in RateAck ack, ref long cwnd)
    {
        TcpCongestionState state = ack.State;
        if (sample.Losses > 0) cwnd = Math.Max(cwnd - sample.Losses, ack.Mss);
        if (state == TcpCongestionState.Recovery && _previousState != TcpCongestionState.Recovery)
        {
            _packetConservation = true;
            _nextRoundDelivered = ack.Delivered; // the round starts now
            cwnd = ack.InFlight + sample.AckedSacked;
        }
        else if (_previousState >= TcpCongestionState.Recovery && state < TcpCongestionState.Recovery)
        {
            cwnd = Math.Max(cwnd, _priorCwnd);
            _packetConservation = false;
        }
        _previousState = state;
        if (!_packetConservation) return false;
        cwnd = Math.Max(cwnd, ack.InFlight + sample.AckedSacked);
        return true;
    }

    /// <summary>bbr_save_cwnd: the last good cwnd, unless recovery or PROBE_RTT has cut it; then the larger.</summary>
    private void SaveCwnd() =>
        _priorCwnd = _previousState < TcpCongestionState.Recovery && _mode != BbrMode.ProbeRtt ? Window : Math.Max(_priorCwnd, Window);

    private uint NextRandom()
    {
        // xorshift32: deterministic for a given seed (the ISS), so tests and the simulation replay exactly.
        _random ^= _random << 13;
        _random ^= _random >> 17;
        _random ^= _random << 5;
        return _random;
    }
}
