using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// HyStart (Ha and Rhee, "Taming the elephants", 2011), as Linux's tcp_cubic.c runs it (hystart_detect = 3): CUBIC leaves
/// slow start, ssthresh = cwnd, when either a round trip's ACK train has lasted half the minimum RTT, or the smallest of a
/// round's first eight RTT samples is clearly above the minimum (by an eighth of it, clamped to 4–16 ms). Only from
/// 16 segments of cwnd on (hystart_low_window). A round ends when SND.UNA passes what was sent when it began.
/// </summary>
internal sealed class HyStart
{
    /// <summary>Linux's hystart_low_window: HyStart watches slow start only from this cwnd (segments) on.</summary>
    public const int LowWindow = 16;
    /// <summary>Linux's HYSTART_MIN_SAMPLES: the samples a round collects before its delay is judged.</summary>
    private const int MinSamples = 8;
    private static readonly TimeSpan DelayThresholdMin = TimeSpan.FromMilliseconds(4);
    private static readonly TimeSpan DelayThresholdMax = TimeSpan.FromMilliseconds(16);
    /// <summary>Linux's hystart_ack_delta_us: ACKs further apart than this break the train.</summary>
    private static readonly TimeSpan AckTrainSpacing = TimeSpan.FromMilliseconds(2);
    /// <summary>Linux's hystart_ack_delay cap: the time a delayed or stretched ACK may add to a train.</summary>
    private static readonly TimeSpan AckDelayMax = TimeSpan.FromMilliseconds(1);
    /// <summary>Linux's GSO_LEGACY_MAX_SIZE: the largest burst one ACK may stand for, in hystart_ack_delay.</summary>
    private const int MaxBurstBytes = 65536;

    private SeqNumber? _roundEnd;
    // The smallest RTT sample (Linux's delay_min); NoDelay until the first.
    private TimeSpan _delayMin;
    private static readonly TimeSpan NoDelay = TimeSpan.MaxValue;

    /// <summary>Starts with <paramref name="delayMin"/> as the smallest sample, or with none when it is null.</summary>
    public HyStart(TimeSpan? delayMin) => _delayMin = delayMin ?? NoDelay;

    /// <summary>The smallest RTT sample seen since the start or the last <see cref="Reset"/> (Linux's delay_min).</summary>
    public TimeSpan? DelayMin => _delayMin == NoDelay ? null : _delayMin;

    /// <summary>Linux's cubictcp_acked: every sample may lower delay_min, in slow start or not.</summary>
    public void TakeDelay(TimeSpan sample)
    {
        if (sample < _delayMin) _delayMin = sample;
    }
    private TimeSpan _roundStart;
    private TimeSpan _lastAck;
    private TimeSpan _currentRtt;
    private int _samples;

    /// <summary>Slow start was ended by HyStart; it watches no more until <see cref="Reset"/>.</summary>
    public bool Found { get; private set; }

    /// <summary>
    /// Linux's bictcp_reset and bictcp_hystart_reset on entering Loss: a timeout's slow start is watched again, against
    /// a minimum the samples after the timeout set (bictcp_reset zeroes delay_min; the path may have changed).
    /// </summary>
    public void Reset()
    {
        Found = false;
        _roundEnd = null;
        _delayMin = NoDelay;
    }

    /// <summary>
    /// Linux's hystart_update, for an ACK in slow start at <see cref="LowWindow"/> segments or more: takes its RTT sample
    /// against the connection's smallest; what found that slow start should end now (the caller sets ssthresh to cwnd),
    /// both tests when both fire on this ACK, as Linux counts each; <see cref="HyStartFinding.None"/> otherwise.
    /// </summary>
    public HyStartFinding OnRttSample(TimeSpan now, TimeSpan sample, SeqNumber sndUna, SeqNumber sndNxt, int cwndBytes, TimeSpan smoothedRtt)
    {
        TakeDelay(sample);
        TimeSpan delayMin = _delayMin;
        if (Found) return HyStartFinding.None;
        HyStartFinding found = HyStartFinding.None;

        if (_roundEnd is not SeqNumber end || sndUna > end)
        {
            // A new round: what is in flight now is this round's data (bictcp_hystart_reset).
            _roundEnd = sndNxt;
            _roundStart = _lastAck = now;
            _currentRtt = TimeSpan.MaxValue;
            _samples = 0;
        }

        // The ACK train: ACKs close together for longer than half the minimum RTT mean the pipe is full (no pacing here,
        // so Linux's halving applies).
        if (now - _lastAck <= AckTrainSpacing)
        {
            _lastAck = now;
            TimeSpan threshold = (delayMin + AckDelay(cwndBytes, smoothedRtt)) / 2;
            if (now - _roundStart > threshold) found |= HyStartFinding.AckTrain;
        }

        // The delay: the smallest of the round's first samples above the minimum RTT by the threshold.
        if (_currentRtt > sample) _currentRtt = sample;
        if (_samples < MinSamples)
        {
            _samples++;
        }
        else if (_currentRtt > delayMin + Clamp(delayMin / 8, DelayThresholdMin, DelayThresholdMax))
        {
            found |= HyStartFinding.Delay;
        }
        Found = found != HyStartFinding.None;
        return found;
    }

    /// <summary>Linux's hystart_ack_delay: a 64 KiB burst at the pacing rate (2 cwnd per SRTT in slow start), at most 1 ms.</summary>
    private static TimeSpan AckDelay(int cwndBytes, TimeSpan smoothedRtt)
    {
        if (cwndBytes <= 0 || smoothedRtt <= TimeSpan.Zero) return TimeSpan.Zero;
        double bytesPerSecond = 2.0 * cwndBytes / smoothedRtt.TotalSeconds;
        TimeSpan delay = TimeSpan.FromSeconds(4.0 * MaxBurstBytes / bytesPerSecond);
        return delay < AckDelayMax ? delay : AckDelayMax;
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) => value < min ? min : value > max ? max : value;
}

/// <summary>Which of HyStart's tests ended slow start (Linux counts each: TCPHystartTrainDetect, TCPHystartDelayDetect).</summary>
[Flags]
internal enum HyStartFinding : byte
{
    None = 0,
    /// <summary>A round's ACK train lasted half the minimum RTT.</summary>
    AckTrain = 1,
    /// <summary>A round's smallest early RTT sample rose clearly above the minimum.</summary>
    Delay = 2,
}
