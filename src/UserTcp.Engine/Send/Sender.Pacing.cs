namespace UserTcp.Engine;

/// <summary>
/// The pacing rate as Linux keeps it (tcp_update_pacing_rate) and the TSO packet it sizes (tcp_tso_autosize,
/// tcp_cwnd_test); the restart window after idle (RFC 5681 §4.1, Linux tcp_cwnd_restart).
/// </summary>
internal sealed partial class Sender
{
    /// <summary>Linux's sk_gso_max_size for a 64 KiB GSO device: 65536 less MAX_TCP_HEADER + 1 (320 + 1 on x86-64).</summary>
    internal const int GsoMaxSize = 65_536 - 321;

    /// <summary>
    /// tcpi_pacing_rate, bytes per second, as Linux's tcp_update_pacing_rate computes it: the ratio (200 % in slow start,
    /// 120 % from half of ssthresh on) of cwnd (or the segments out, if more) per smoothed RTT; unbounded (ulong.MaxValue)
    /// before an RTT is known. Computed when asked (Linux keeps the value of the last ACK; they differ only until the next).
    /// </summary>
    public ulong PacingRate
    {
        get
        {
            // A rate-based algorithm (BBR) sets its own, as Linux's cong_control does; none yet is no bound.
            if (_congestion.IsRateBased) return _congestion.PacingRate > 0 ? (ulong)_congestion.PacingRate : ulong.MaxValue;
            int ratio = _congestion.Window < _congestion.SlowStartThreshold / 2 ? _config.PacingSlowStartRatio : _config.PacingCongestionAvoidanceRatio;
            ulong segments = (ulong)Math.Max(CongestionWindow / Mss, _queue.Count);
            // mss × ratio % × segments per srtt, with srtt in 1/8 µs as Linux keeps it; without an RTT, not divided (so unbounded).
            ulong rate = (ulong)Mss * 80_000 * (ulong)ratio * segments;
            ulong srttEighths = (ulong)(Rto.SmoothedRtt.Ticks * 8 / TimeSpan.TicksPerMicrosecond);
            return srttEighths > 0 ? rate / srttEighths : rate;
        }
    }

    /// <summary>
    /// The segments one TSO packet of new data may carry: <see cref="AutosizedSegments"/>, at most half of cwnd so two
    /// packets are in flight (Linux tcp_cwnd_test), and no more than a write's skb holds, <see cref="SizeGoal"/>: half
    /// the peer's largest window (tcp_xmit_size_goal), so against a small window every segment is a packet of its own.
    /// </summary>
    private int TsoPacketSegments(int segmentSize) =>
        Math.Min(Math.Min(AutosizedSegments(segmentSize), Math.Max(CongestionWindow / Mss / 2, 1)), Math.Max(SizeGoal / segmentSize, 1));

    /// <summary>
    /// Linux's tcp_tso_segs: about 1 ms at the pacing rate, more on a path of under a few ms (tcp_tso_rtt_log 9), at
    /// most 64 KiB, at least <see cref="TcpConfig.MinTsoSegments"/>.
    /// </summary>
    private int AutosizedSegments(int segmentSize)
    {
        ulong bytes = Math.Min(PacingRate >> 10, GsoMaxSize); // sk_pacing_shift 10: 1 ms of data
        if (Rto.MinRtt > TimeSpan.Zero)
        {
            long shift = Rto.MinRtt.Ticks / TimeSpan.TicksPerMicrosecond >> 9; // whole µs, as (long)TotalMicroseconds, without the double
            if (shift < 32) bytes += (ulong)GsoMaxSize >> (int)shift;
        }
        return Math.Max((int)(Math.Min(bytes, GsoMaxSize) / (ulong)segmentSize), _congestion.MinTsoSegments(_config.MinTsoSegments));
    }

    /// <summary>
    /// Linux's tcp_tso_should_defer, before a new TSO packet of <paramref name="available"/> bytes (all the data ready,
    /// more than one segment) that cwnd or the peer's window cut to <paramref name="limit"/>: within 1 ms of the last
    /// send, with data in flight whose ACK is due within half an RTT, a packet smaller than a full TSO packet and than
    /// 1/<see cref="TcpConfig.TsoWindowDivisor"/> of the window waits for that ACK rather than leave as a small one
    /// (unless the data ends a record or the stream). The loss probe or the next ACK sends it.
    /// </summary>
    private bool DefersPacket(int available, long limit, int segmentSize, bool endsRecord)
    {
        if (_config.TsoWindowDivisor == 0 || InRecovery || available <= segmentSize || _queue.Count == 0) return false;
        if (!SentWithinMs) return false;
        if (limit >= (long)AutosizedSegments(segmentSize) * segmentSize) return false;
        if (endsRecord && limit >= available) return false; // an skb that is not the tail, sendable whole
        long chunk = Math.Min(SndWnd, (long)CongestionWindow) / _config.TsoWindowDivisor;
        if (limit >= chunk) return false;
        // Its ACK would come too late to wait for (the last send, within 1 ms, stands for now).
        if (_lastSentAt - _queue[0].SentAt < RtoEstimator.Divide(Rto.SmoothedRtt, 2)) return false;
        return !(endsRecord || Buffer.FinQueued);
    }

    /// <summary>
    /// Linux's tcp_slow_start_after_idle_check, when data is queued or the peer's window changes with data waiting:
    /// after more than an RTO with nothing in flight since data last left, cwnd halves for each RTO idle, down to the
    /// initial window (RFC 5681 §4.1); ssthresh keeps at least 3/4 of the old cwnd. Not for BBR, whose cwnd is its
    /// model's (Linux skips a congestion control with its own cong_control).
    /// </summary>
    public void RestartAfterIdle(TimeSpan now)
    {
        if (!_config.SlowStartAfterIdle || SndMax != SndUna || _lastSentAt == TimeSpan.Zero || InRecovery || _congestion.IsRateBased) return;
        TimeSpan idle = now - _lastSentAt;
        if (idle > Rto.Rto) _congestion.RestartAfterIdle(idle, Rto.Rto, _config.InitialWindowSegments * Mss);
    }
}
