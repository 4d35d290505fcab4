namespace UserTcp.Engine;

/// <summary>
/// The delayed-ACK timeout as Linux keeps it (icsk_ack.ato, at HZ 1000 but in exact time rather than whole jiffies):
/// zero until data arrives, then <see cref="TcpConfig.DelayedAck"/> (TCP_ATO_MIN); it follows the gaps between
/// in-order segments (tcp_event_data_recv), doubles when a delayed ACK has to go out alone (tcp_delack_timer_handler),
/// and a delay is drawn from it bounded by SRTT, by <see cref="TcpConfig.DelayedAckMax"/> and by the minimum RTO
/// (tcp_send_delayed_ack, tcp_delack_max).
/// A mutable struct, held in a field of the receiver (not copied), so a connection costs no object more for it.
/// </summary>
internal struct AckTimeout
{
    /// <summary>Linux's TCP_DELACK_MAX (HZ/5): tcp_send_delayed_ack's bound on an interactive connection's delay.</summary>
    public static readonly TimeSpan InteractiveMax = TimeSpan.FromMilliseconds(200);
    /// <summary>One jiffy at HZ 1000: a timer armed for "now" (ato still 0) fires on the next tick.</summary>
    public static readonly TimeSpan Jiffy = TimeSpan.FromMilliseconds(1);
    // tcp_send_delayed_ack's bound (HZ/2) on a bulk connection's delay, before the RTT bounds it.
    private static readonly TimeSpan BulkMax = TimeSpan.FromMilliseconds(500);

    // TCP_ATO_MIN (and TCP_DELACK_MIN, the same HZ/25): where ato starts and what it deflates to; zero: ACK at once.
    private readonly TimeSpan _min;
    // Linux's tcp_delack_max: no delay exceeds it, nor what tcpi_ato reports.
    private readonly TimeSpan _max;

    public AckTimeout(TcpConfig config)
    {
        _min = config.DelayedAck;
        // icsk_delack_max, but a jiffy below rto_min (Linux 6.11's tcp_delack_max): a delayed ACK never outlasts the
        // minimum RTO of a sender like us; 199 ms by default.
        TimeSpan belowMinRto = (config.MinRto > 2 * Jiffy ? config.MinRto : 2 * Jiffy) - Jiffy;
        _max = config.DelayedAckMax < belowMinRto ? config.DelayedAckMax : belowMinRto;
    }

    /// <summary>ato: zero before any data.</summary>
    public TimeSpan Value { get; private set; }

    /// <summary>When in-order data last arrived (Linux's icsk_ack.lrcvtime); null before any.</summary>
    public TimeSpan? LastDataAt { get; private set; }

    /// <summary>What tcpi_ato reports: ato, at most the largest delay (tcp_get_info takes min(ato, tcp_delack_max)).</summary>
    public readonly TimeSpan Reported => Value < _max ? Value : _max;

    /// <summary>Delayed ACKs are off (<see cref="TcpConfig.DelayedAck"/> zero): every ACK goes at once.</summary>
    public readonly bool Off => _min == TimeSpan.Zero;

    /// <summary>
    /// The SYN-ACK came while data waits to be sent (Linux's tcp_rcv_synsent_state_process with sk_write_pending: quick-ACK
    /// mode sets ato to its minimum, and tcp_finish_connect stamps lrcvtime), so the data sent at once makes the
    /// connection interactive (pingpong) and the peer's first data is ACKed late, as Linux does.
    /// </summary>
    public void OnSynAckWithWriterWaiting(TimeSpan now)
    {
        Value = _min;
        LastDataAt = now;
    }

    /// <summary>
    /// In-order data arrived (Linux's tcp_event_data_recv): true when quick ACKs are due, for the first data or after the
    /// receiver was idle longer than <paramref name="rto"/> (the sender is restarting from a small window).
    /// </summary>
    public bool OnData(TimeSpan now, TimeSpan rto)
    {
        TimeSpan? last = LastDataAt;
        LastDataAt = now;
        // Linux tests ato == 0, which only the first data ends; the first data is that moment here too.
        if (last is not TimeSpan previous)
        {
            Value = _min;
            return true;
        }
        TimeSpan gap = now - previous;
        // Halved in integers, as TimeSpan's division rounds (RtoEstimator.Divide): its double path was ~2 % of an echo request.
        TimeSpan halfMin = RtoEstimator.Divide(_min, 2);
        if (gap <= halfMin)
        {
            Value = RtoEstimator.Divide(Value, 2) + halfMin; // back-to-back segments pull ato toward its minimum
        }
        else if (gap < Value)
        {
            TimeSpan next = RtoEstimator.Divide(Value, 2) + gap;
            Value = next < rto ? next : rto;
        }
        else if (gap > rto)
        {
            return true; // a gap above ato but below the RTO leaves ato as it was
        }
        return false;
    }

    /// <summary>A delayed ACK had to go out alone: in bulk transfer ato doubles up to the RTO; pingpong's falls back to its minimum (tcp_delack_timer_handler).</summary>
    public void OnTimeout(bool pingPong, TimeSpan rto)
    {
        if (pingPong)
        {
            Value = _min;
            return;
        }
        TimeSpan doubled = Value + Value;
        Value = doubled < rto ? doubled : rto;
    }

    /// <summary>Back to the minimum: quick-ACK mode ended (tcp_dec_quickack_mode) or was entered (tcp_enter_quickack_mode).</summary>
    public void Deflate() => Value = _min;

    /// <summary>
    /// How long an ACK may wait now, as tcp_send_delayed_ack draws it from ato: above the minimum it is bounded by
    /// SRTT (no lower than the minimum) and by 200 ms when interactive, 500 ms otherwise; always by the largest
    /// delay. Before any data ato is 0 and the ACK waits one jiffy.
    /// </summary>
    public readonly TimeSpan Delay(bool pingPong, TimeSpan? smoothedRtt)
    {
        if (Off) return TimeSpan.Zero;
        TimeSpan ato = Value;
        if (ato > _min)
        {
            TimeSpan bound = pingPong ? InteractiveMax : BulkMax;
            if (smoothedRtt is TimeSpan srtt)
            {
                TimeSpan rtt = srtt > _min ? srtt : _min;
                if (rtt < bound) bound = rtt;
            }
            if (bound < ato) ato = bound;
        }
        if (_max < ato) ato = _max;
        return ato > TimeSpan.Zero ? ato : Jiffy;
    }
}
