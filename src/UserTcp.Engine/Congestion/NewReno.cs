namespace UserTcp.Engine;

/// <summary>
/// NewReno's window rules (RFC 5681): halve on loss, one SMSS per window of data in congestion avoidance, counted in
/// bytes (RFC 3465). The recovery itself (inflation, partial ACKs, RFC 6582) is the sender's, whatever the algorithm.
/// </summary>
internal sealed class NewReno : CongestionControl
{
    // Bytes acknowledged in congestion avoidance since cwnd last grew; cwnd grows by one SMSS per cwnd of them.
    private int _bytesAckedInAvoidance;

    public NewReno(int initialWindow) : base(initialWindow) { }

    public override CongestionControlAlgorithm Algorithm => CongestionControlAlgorithm.NewReno;

    protected override void OnAckInCongestionAvoidance(in AckSample ack)
    {
        // RFC 5681 §3.1 congestion avoidance by appropriate byte counting: one SMSS per cwnd acknowledged.
        _bytesAckedInAvoidance += ack.BytesAcked;
        if (_bytesAckedInAvoidance < Window) return;
        _bytesAckedInAvoidance -= Window;
        Window += ack.Mss;
    }

    public override void OnCongestionEvent(TimeSpan now, int flightSize, int mss)
    {
        // RFC 5681 §3.2 step 2: ssthresh = max(FlightSize / 2, 2 SMSS); recovery starts from there.
        SlowStartThreshold = Math.Max(flightSize / 2, 2 * mss);
        Window = SlowStartThreshold;
        _bytesAckedInAvoidance = 0;
    }

    public override void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0)
    {
        base.OnRetransmissionTimeout(now, flightSize, mss, recurring, inFlight);
        _bytesAckedInAvoidance = 0;
    }
}
