using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Receive-buffer auto-tuning, as Linux's dynamic right-sizing (DRS; tcp_rcv_space_adjust and tcp_rcvbuf_grow in
/// net/ipv4/tcp_input.c, after Fisk and Feng's "Dynamic right-sizing in TCP"): the receiver estimates the round-trip
/// time from what arrives, counts what the application read in each round trip, and when that beats the best round
/// trip so far, grows the buffer to twice it — more while the rate is still climbing, as slow start doubles it — up to
/// <see cref="TcpConfig.MaxReceiveBufferSize"/>. A reader that does not read grows nothing. docs/design.md
/// "The engine", Receive-buffer auto-tuning.
/// </summary>
internal sealed class ReceiveBufferTuner
{
    /// <summary>
    /// Below this receiver RTT, growth beyond twice the rate is scaled by RTT / 1 ms instead of by the rate's increase
    /// (Linux's net.ipv4.tcp_rcvbuf_low_rtt, 1000 µs): a local link reaches its rate without a buffer many times too large.
    /// </summary>
    public static readonly TimeSpan LowRtt = TimeSpan.FromMilliseconds(1);

    /// <summary>Linux's TCP_INIT_CWND: the first round trip's expected rate is ten segments.</summary>
    private const int InitialSegments = 10;

    private readonly int _max;
    // Bytes the application read in the best round trip so far (Linux rcvq_space.space); 0 before the first data.
    private int _space;
    // The count of bytes read when the current round trip's measurement began (Linux rcvq_space.seq), and when.
    private long _measuredFrom;
    private TimeSpan _measureStart;
    // The receiver's RTT estimate (Linux rcv_rtt_est); null before the first sample.
    private TimeSpan? _rtt;
    // Without timestamps: the sequence number whose arrival ends the current sample (a window's worth past where it
    // began), and when it began.
    private SeqNumber _rttSeq;
    private TimeSpan? _rttStart;
    // The TSecr of the last sample taken, so one echo gives one sample (Linux rcv_rtt_last_tsecr).
    private uint _lastEcho;

    public ReceiveBufferTuner(int max) => _max = max;

    /// <summary>The rate the buffer is sized for: bytes read in the best round trip (TCP_INFO's tcpi_rcv_space).</summary>
    public int Space => _space;
    /// <summary>The receiver's RTT estimate (TCP_INFO's tcpi_rcv_rtt); zero before a sample.</summary>
    public TimeSpan Rtt => _rtt ?? TimeSpan.Zero;

    /// <summary>
    /// In-order data arrived. Starts the first measurement (Linux tcp_init_buffer_space: ten segments, or the window if
    /// smaller), and takes an RTT sample: from the timestamp echo of a full-sized segment (RFC 7323 §4, Linux
    /// tcp_rcv_rtt_measure_ts), or without timestamps from how long a window's worth of data took (tcp_rcv_rtt_measure).
    /// </summary>
    public void OnData(TimeSpan now, long totalRead, SeqNumber rcvNxt, uint window, int length, int mss, uint? echo, TimeSpan? sinceEcho)
    {
        if (_space == 0)
        {
            _space = (int)Math.Max(1, Math.Min(window, (uint)(InitialSegments * mss)));
            _measuredFrom = totalRead;
            _measureStart = now;
        }
        if (echo is uint echoed)
        {
            // Only a full-sized segment (its MSS less the most options can take): a small one may have waited for the
            // peer's application, and its echo would measure that wait. One sample per echo.
            if (sinceEcho is not TimeSpan sample || length < mss - 40 || echoed == _lastEcho) return;
            _lastEcho = echoed;
            Update(sample, windowDependent: false);
            return;
        }
        if (_rttStart is TimeSpan started)
        {
            // Data beyond the edge offered when the sample began could only be sent after a later ACK: a round trip at
            // least (Linux measures at the edge itself, which a burst of one window reaches at once).
            if (rcvNxt <= _rttSeq) return;
            Update(now - started, windowDependent: true);
        }
        _rttSeq = rcvNxt + (int)Math.Min(window, int.MaxValue);
        _rttStart = now;
    }

    // Linux tcp_rcv_rtt_update: the smallest sample wins; timestamp samples above it are averaged in with gain 1/8, while
    // window-based ones (which include the sender's pauses) are only a bound.
    private void Update(TimeSpan sample, bool windowDependent)
    {
        if (sample <= TimeSpan.Zero) sample = TimeSpan.FromTicks(1);
        if (_rtt is not TimeSpan rtt || sample < rtt) _rtt = sample;
        else if (!windowDependent) _rtt = rtt - rtt / 8 + sample / 8;
    }

    /// <summary>
    /// The application read: once a round trip has passed, the bytes read in it are this round trip's rate; above the
    /// best so far, the buffer grows. Returns the capacity the buffer should have (never less than
    /// <paramref name="capacity"/>: the window's right edge never moves back, RFC 9293 §3.8.6.2.2). Unlike Linux since
    /// 6.16, bytes still queued are not subtracted: an application reading in small pieces would never grow it.
    /// </summary>
    public int OnRead(TimeSpan now, long totalRead, int capacity, int outOfOrderSpan)
    {
        if (_space == 0) return capacity;
        if (_rtt is not TimeSpan rtt)
        {
            // No round trip known yet: the first measurement starts at a read once one is (Linux lets the reads before
            // it count, and the first rate comes out several round trips' worth).
            _measuredFrom = totalRead;
            _measureStart = now;
            return capacity;
        }
        if (now - _measureStart < rtt) return capacity;
        long copied = totalRead - _measuredFrom;
        _measuredFrom = totalRead;
        _measureStart = now;
        if (copied <= _space) return capacity;
        int previous = _space;
        _space = (int)Math.Min(copied, int.MaxValue);
        // DRS is a round trip late, so twice the rate; and while the rate climbs (slow start doubles it), more.
        double window = 2.0 * _space;
        double grow = rtt < LowRtt
            ? window * rtt.Ticks / LowRtt.Ticks
            : 2 * window * (_space - previous) / previous;
        // Out-of-order data held beyond RCV.NXT shows what the sender already has in flight: room for it too.
        window += grow + outOfOrderSpan;
        return (int)Math.Max(capacity, Math.Min(window, _max));
    }
}
