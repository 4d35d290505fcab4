namespace UserTcp.Engine;

/// <summary>
/// CUBIC with <see cref="CubicArithmetic.Linux"/>: slow start and HyStart as <see cref="Cubic"/>, congestion avoidance and
/// the reductions in Linux's integer arithmetic (<see cref="BicTcp"/>: tcp_cubic.c's bictcp). A class of its own so
/// that the default's connections carry no field for it (issue 10's per-connection budget).
/// </summary>
internal sealed class LinuxCubic(int initialWindow) : Cubic(initialWindow)
{
    private readonly BicTcp _bic = new();

    public override CubicArithmetic Arithmetic => CubicArithmetic.Linux;

    public override BicTcp Linux => _bic;

    /// <summary>Linux's cubictcp_acked: no sample in an epoch's first second; delay_min takes the rest, then HyStart.</summary>
    protected override void OnRttSample(in AckSample ack, TimeSpan sample)
    {
        if (_bic.Settling(ack.Now)) return;
        _bic.TakeDelay(ack.Now, sample);
        base.OnRttSample(ack, sample);
    }

    /// <summary>cubictcp_cwnd_event(CA_EVENT_TX_START): the epoch moves on by the jiffies since the last send.</summary>
    public override void OnRestartFromIdle(TimeSpan now, TimeSpan idle, bool appLimited) => _bic.OnTransmitStart(now, idle);

    /// <summary>cubictcp_cong_avoid past slow start: bictcp_update and tcp_cong_avoid_ai, in whole segments.</summary>
    protected override void OnAckInCongestionAvoidance(in AckSample ack)
    {
        // Linux counts acked packets (a short one as one) and sets cwnd in segments.
        uint cwndSegments = (uint)Math.Max(Window / ack.Mss, 1);
        uint acked = (uint)((ack.BytesAcked + ack.Mss - 1) / ack.Mss);
        uint grown = _bic.OnAck(cwndSegments, acked, ack.Now);
        Window = (int)Math.Min(grown, (uint)(int.MaxValue / ack.Mss)) * ack.Mss;
    }

    /// <summary>Linux's tcp_enter_loss: cubictcp_recalc_ssthresh once per Loss phase, then cubictcp_state's bictcp_reset every time.</summary>
    public override void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0)
    {
        base.OnRetransmissionTimeout(now, flightSize, mss, recurring, inFlight);
        _bic.Reset(); // W_max, the epoch, delay_min and the Reno estimate all go
    }

    /// <summary>cubictcp_recalc_ssthresh: ssthresh = cwnd × 717/1024 in segments, W_max with fast convergence.</summary>
    protected override void Reduce(int mss) =>
        SlowStartThreshold = (int)_bic.RecalcSsthresh((uint)Math.Max(Window / mss, 1)) * mss;
}
