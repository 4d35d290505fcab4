using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>The congestion-control algorithms a connection can run, named as Linux's TCP_CONGESTION names them.</summary>
public enum CongestionControlAlgorithm : byte
{
    /// <summary>CUBIC (RFC 9438): Linux's default, and ours.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681 with RFC 6582 recovery): Linux's "reno".</summary>
    NewReno,
    /// <summary>BBR v1 (Linux tcp_bbr.c, draft-cardwell-iccrg-bbr-congestion-control-00): rate-based, does not shrink for random loss.</summary>
    Bbr,
}

/// <summary>Names for <see cref="CongestionControlAlgorithm"/> values.</summary>
public static class CongestionControlAlgorithms
{
    /// <summary>The TCP_CONGESTION name: "cubic", "reno" or "bbr".</summary>
    public static string LinuxName(this CongestionControlAlgorithm algorithm) => algorithm switch
    {
        CongestionControlAlgorithm.NewReno => "reno",
        CongestionControlAlgorithm.Bbr => "bbr",
        _ => "cubic",
    };

    /// <summary>Parses a TCP_CONGESTION name ("cubic", "reno", "bbr"; "newreno" too), case-insensitively.</summary>
    public static bool TryParse(string? name, out CongestionControlAlgorithm algorithm)
    {
        switch (name?.Trim().ToUpperInvariant())
        {
            case "CUBIC":
                algorithm = CongestionControlAlgorithm.Cubic;
                return true;
            case "RENO" or "NEWRENO":
                algorithm = CongestionControlAlgorithm.NewReno;
                return true;
            case "BBR":
                algorithm = CongestionControlAlgorithm.Bbr;
                return true;
            default:
                algorithm = default;
                return false;
        }
    }
}

/// <summary>What an ACK of new data tells congestion control (outside loss recovery).</summary>
internal readonly record struct AckSample(
    TimeSpan Now,
    int BytesAcked,
    int Mss,
    TimeSpan SmoothedRtt,
    TimeSpan MinRtt,
    bool CwndLimited,
    TimeSpan? RttSample = null,
    SeqNumber SndUna = default,
    SeqNumber SndNxt = default);

/// <summary>
/// What every ACK tells a rate-based congestion control once loss detection has run (Linux's cong_control hook): the
/// time, what is in flight now, the recovery phase, and the delivery count and time (C.delivered, C.delivered_time).
/// </summary>
internal readonly record struct RateAck(
    TimeSpan Now,
    int Mss,
    int InFlight,
    TcpCongestionState State,
    TimeSpan SmoothedRtt,
    TimeSpan MinRtt,
    long Delivered,
    TimeSpan DeliveredTime);

/// <summary>
/// The seam between the sender and a congestion-control algorithm (gVisor's congestionControl, smoltcp's
/// congestion::Controller). The sender decides what is lost and what to send; the algorithm owns cwnd and
/// ssthresh and says how they react to ACKs, losses and timeouts. Windows are in bytes.
/// </summary>
internal interface ICongestionControl
{
    CongestionControlAlgorithm Algorithm { get; }
    /// <summary>cwnd in bytes.</summary>
    int Window { get; }
    /// <summary>ssthresh in bytes; int.MaxValue until the first loss.</summary>
    int SlowStartThreshold { get; }
    /// <summary>New data was acknowledged outside recovery.</summary>
    void OnAck(in AckSample ack);
    /// <summary>
    /// An ACK in a reduction (recovery, an ECN echo's CWR) that grows nothing still gives its RTT sample, as Linux's
    /// pkts_acked hook has it on every ACK of data (CUBIC's delay_min).
    /// </summary>
    void TakeRttSample(in AckSample ack);
    /// <summary>Loss was detected: ssthresh (and cwnd) for the recovery that starts now (RFC 5681 §3.2 step 2).</summary>
    void OnCongestionEvent(TimeSpan now, int flightSize, int mss);
    /// <summary>
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4): cwnd falls to one segment, plus <paramref name="inFlight"/>
    /// bytes the timeout left in flight (Linux's tcp_enter_loss: tcp_packets_in_flight + 1). <paramref name="recurring"/>:
    /// the timeout answers a loss already answered — it recurs for the same loss, or ends a fast recovery — so ssthresh
    /// is held (RFC 5681 §3.1; Linux's tcp_enter_loss calls ca_ops->ssthresh once per Loss phase and not in Recovery,
    /// but sets the Loss state, cubictcp_state and bbr_set_state, every time).
    /// </summary>
    void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0);
    /// <summary>SYNs or SYN-ACKs were lost (twice, as Linux's tcp_init_transfer counts; RFC 5681 §3.1): one segment once ESTABLISHED.</summary>
    void RestartAfterHandshakeLoss(int mss);
    /// <summary>
    /// Every ACK, after loss detection, with its delivery-rate sample (Linux cong_control); loss-based control ignores it.
    /// True when the samples from now on must count as application-limited (BBR's PROBE_RTT).
    /// </summary>
    bool OnRateSample(in DeliveryRateSample sample, in RateAck ack);
    /// <summary>
    /// Data leaves with nothing in flight (Linux CA_EVENT_TX_START), <paramref name="idle"/> after the last send;
    /// <paramref name="appLimited"/>: the delivery-rate estimator marks the sender application-limited (tp->app_limited).
    /// </summary>
    void OnRestartFromIdle(TimeSpan now, TimeSpan idle, bool appLimited);
    /// <summary>The rate, in bytes per second, the algorithm would pace at (tcpi_pacing_rate); 0 when it has none.</summary>
    long PacingRate { get; }
}

/// <summary>HyStart ended slow start: which test found it, and cwnd then in segments (Linux's TCPHystart*Cwnd adds it).</summary>
internal readonly record struct SlowStartEnd(HyStartFinding Finding, int CwndSegments);

/// <summary>
/// What both algorithms share: slow start with byte counting (RFC 3465), cwnd growing by all that each ACK acknowledges,
/// as Linux's tcp_slow_start (no L: RFC 9406 §4.3's L = 8 SMSS is for HyStart++, which Linux does not run), so an ACK
/// of every second segment doubles cwnd per round trip.
/// </summary>
internal abstract class CongestionControl : ICongestionControl
{
    protected CongestionControl(int initialWindow) => Window = initialWindow;

    public abstract CongestionControlAlgorithm Algorithm { get; }
    public int Window { get; protected set; }
    public int SlowStartThreshold { get; protected set; } = int.MaxValue;

    /// <summary>
    /// A fresh instance of <paramref name="algorithm"/>, taking over cwnd and ssthresh (setsockopt TCP_CONGESTION); BBR
    /// starts without ssthresh, as Linux's bbr_init does, and takes <paramref name="seed"/> for its random gain phase; CUBIC
    /// computes with <paramref name="cubic"/>.
    /// </summary>
    public static CongestionControl Create(CongestionControlAlgorithm algorithm, int window, int slowStartThreshold = int.MaxValue, uint seed = 0,
        CubicArithmetic cubic = CubicArithmetic.Rfc9438)
    {
        CongestionControl created = algorithm switch
        {
            CongestionControlAlgorithm.NewReno => new NewReno(window),
            CongestionControlAlgorithm.Bbr => new Bbr(window, seed),
            _ => cubic == CubicArithmetic.Linux ? new LinuxCubic(window) : new Cubic(window),
        };
        if (algorithm != CongestionControlAlgorithm.Bbr) created.SlowStartThreshold = slowStartThreshold;
        return created;
    }

    // HyStart's end of slow start, until the sender takes it to count; a field, not a virtual call, as every ACK asks.
    private protected SlowStartEnd _slowStartEnd;

    /// <summary>HyStart's end of slow start since the last call (Linux's TCPHystart* counters), or default.</summary>
    public SlowStartEnd TakeSlowStartEnd()
    {
        SlowStartEnd ended = _slowStartEnd;
        _slowStartEnd = default;
        return ended;
    }

    /// <summary>cwnd follows a model of the path on every ACK, in recovery too (BBR), not the loss-based rules below.</summary>
    public virtual bool IsRateBased => false;

    public virtual bool OnRateSample(in DeliveryRateSample sample, in RateAck ack) => false;

    public virtual void OnRestartFromIdle(TimeSpan now, TimeSpan idle, bool appLimited) { }

    public virtual long PacingRate => 0;

    /// <summary>
    /// The connection is established (Linux's ca_ops->init from tcp_init_transfer, or from TCP_CONGESTION on a synchronized
    /// connection): <paramref name="smoothedRtt"/> is the handshake's SRTT, zero when it gave no sample.
    /// </summary>
    public virtual void Init(TimeSpan smoothedRtt) { }

    /// <summary>The fewest segments per TSO packet (Linux's ca_ops->min_tso_segs, else <paramref name="configured"/>, tcp_min_tso_segs).</summary>
    public virtual int MinTsoSegments(int configured) => configured;

    /// <summary>The delivery-rate estimator the sender feeds, when this algorithm reads rate samples (BBR); else null.</summary>
    public virtual DeliveryRateEstimator? DeliveryRate => null;

    public void TakeRttSample(in AckSample ack)
    {
        if (ack.RttSample is TimeSpan sample) OnRttSample(ack, sample);
    }

    public virtual void OnAck(in AckSample ack)
    {
        // Linux's pkts_acked comes first (CUBIC's HyStart may end slow start on this ACK), whether cwnd is the limit or not.
        TakeRttSample(ack);
        // cwnd grows only while it is the limit (RFC 7661's "cwnd-limited", Linux tcp_is_cwnd_limited).
        if (!ack.CwndLimited) return;
        if (Window < SlowStartThreshold)
        {
            // RFC 5681 §3.1 with byte counting (RFC 3465): cwnd += N, not past ssthresh; the rest goes to congestion
            // avoidance (Linux's tcp_slow_start).
            int grown = ack.BytesAcked;
            int room = SlowStartThreshold - Window;
            if (grown <= room)
            {
                Window += grown;
                return;
            }
            Window = SlowStartThreshold;
            OnAckInCongestionAvoidance(ack with { BytesAcked = grown - room });
            return;
        }
        OnAckInCongestionAvoidance(ack);
    }

    protected abstract void OnAckInCongestionAvoidance(in AckSample ack);

    /// <summary>An RTT sample from this ACK's newest acknowledged segment, never a retransmitted one (Linux's ca_rtt_us).</summary>
    protected virtual void OnRttSample(in AckSample ack, TimeSpan sample) { }

    public abstract void OnCongestionEvent(TimeSpan now, int flightSize, int mss);

    public virtual void OnRetransmissionTimeout(TimeSpan now, int flightSize, int mss, bool recurring, int inFlight = 0)
    {
        // RFC 5681 §3.1 equation 4: ssthresh = max(FlightSize / 2, 2 SMSS), held when the timeout recurs; then one segment of slow start.
        if (!recurring) SlowStartThreshold = Math.Max(flightSize / 2, 2 * mss);
        Window = mss + inFlight;
    }

    public void RestartAfterHandshakeLoss(int mss) => Window = mss;

    /// <summary>Path MTU probing sets cwnd and ssthresh outright, as Linux's tcp_mtu_probe and tcp_mtup_probe_success do (Send/Sender.MtuProbe.cs).</summary>
    public void SetForMtuProbe(int window, int slowStartThreshold)
    {
        Window = window;
        SlowStartThreshold = slowStartThreshold;
    }

    /// <summary>
    /// A timeout proved spurious: cwnd and ssthresh go back to what they were before it, never lower than now (Linux's
    /// tcp_undo_cwnd_reduction with tcp_reno_undo_cwnd, which CUBIC uses too: its W_max and epoch stay as the timeout left them).
    /// </summary>
    public virtual void UndoReduction(int priorWindow, int priorSlowStartThreshold)
    {
        Window = Math.Max(Window, priorWindow);
        if (priorSlowStartThreshold > SlowStartThreshold) SlowStartThreshold = priorSlowStartThreshold;
    }

    /// <summary>
    /// RFC 5681 §4.1's restart window as Linux's tcp_cwnd_restart computes it: ssthresh keeps at least 3/4 of cwnd, and
    /// cwnd halves for each RTO of the idle period, not below min(initial window, cwnd).
    /// </summary>
    public void RestartAfterIdle(TimeSpan idle, TimeSpan rto, int initialWindow)
    {
        SlowStartThreshold = Math.Max(SlowStartThreshold, (Window >> 1) + (Window >> 2));
        int restart = Math.Min(initialWindow, Window);
        int window = Window;
        while ((idle -= rto) > TimeSpan.Zero && window > restart) window >>= 1;
        Window = Math.Max(window, restart);
    }
}
