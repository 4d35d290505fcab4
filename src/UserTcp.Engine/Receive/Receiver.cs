using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// The receive side of a connection: RCV.NXT and the window we advertise, acceptability (RFC 9293 §3.10.7.4),
/// the receive buffer and reassembly, when to acknowledge (RFC 1122 §4.2.3.2, RFC 5681 §4.2, Linux's quick-ACK),
/// and the SACK blocks (RFC 2018) and D-SACK (RFC 2883) our ACKs carry.
/// </summary>
internal sealed partial class Receiver
{
    /// <summary>Linux's TCP_MAX_QUICKACKS.</summary>
    public const int MaxQuickAcks = 16;

    private readonly TcpConfig _config;
    private readonly ConnectionTimers _timers;
    // The sender's RTO and SRTT bound the delayed-ACK timeout, as Linux's icsk_rto and srtt_us bound ato.
    private readonly RtoEstimator _rto;
    private readonly EngineCounters _counters;
    // In-order bytes the application has not read yet.
    private readonly PooledByteQueue _buffer;
    // Segments held out of order and the SACK blocks that report them: made when the first segment (or a FIN) is held
    // ahead of a gap, as most connections never see one and an idle connection should not carry them (issue 10's 2 KB).
    private ReassemblyQueue? _outOfOrder;
    private SackBlockList? _sackBlocks;
    // The right edge of the window last advertised (RCV.NXT + RCV.WND then); never moves left (RFC 9293 §3.8.6.2.2).
    private SeqNumber _advertisedRight;
    // Bytes taken in order since our last ACK (Linux's rcv_nxt - rcv_wup).
    private int _bytesSinceAck;
    // In-order segments shorter than the peer's segment size since the last ACK, up to 2 (Linux's ICSK_ACK_PUSHED and
    // PUSHED2, set in tcp_measure_rcv_mss): they let a read that empties the buffer send the delayed ACK (tcp_cleanup_rbuf).
    private int _shortSegmentsSinceAck;
    // Segments still to be acknowledged at once, as Linux does while a connection is new or after an idle spell (tcp_incr_quickack).
    private int _quickAcks;
    // Linux's delayed-ACK timeout (icsk_ack.ato) and when in-order data last arrived (icsk_ack.lrcvtime).
    private AckTimeout _ato;
    // The pending ACK is due only to quick-ACK mode (a FIN's pingpong mode may still delay it).
    private bool _ackIsQuick;
    // Linux's pingpong (interactive) mode: the application answers what it receives, so ACKs wait to ride on the
    // answer. Entered by answering within the delayed-ACK time, by the peer's FIN or by TCP_QUICKACK 0; left when a
    // delayed ACK has to go out alone.
    private bool _pingPong;
    // The (unscaled) window our SYN offered, which bounds what the peer may send before our first ACK.
    private ushort _synWindow;
    // The window chosen for the last segment we sent, from RCV.NXT as it was then (Linux's tp->rcv_wnd).
    private int _lastWindow;
    // The last window field sent was 0 (for Linux's zero-window counters; a SYN's never is).
    private bool _offeredZero;
    // A duplicate the next ACK reports first (RFC 2883 §4); null when there is none.
    private SackBlock? _dsack;
    // Grows the buffer with the application's read rate (Linux's DRS); made by the first in-order data, so an idle
    // connection costs nothing for it; stays null when the size is fixed (auto-tuning off, or SO_RCVBUF set explicitly).
    private ReceiveBufferTuner? _tuner;
    // Bytes the application has read so far (Linux's copied_seq, as a count).
    private long _totalRead;
    // Linux's memory-scaled window space and rcv_ssthresh (TcpConfig.ReceiveWindowModel.Linux); null for data bytes.
    private readonly LinuxReceiveSpace? _linux;

    public Receiver(TcpConfig config, ConnectionTimers timers, RtoEstimator rto, BufferPool pool, EngineCounters counters)
    {
        _config = config;
        _timers = timers;
        _rto = rto;
        _ato = new AckTimeout(config);
        _counters = counters;
        _buffer = new PooledByteQueue(pool, config.ReceiveBufferSize);
        if (config.ReceiveWindowModel == ReceiveWindowModel.Linux)
        {
            // sk_rcvbuf is twice SO_RCVBUF; the data buffer holds all of it, as no window can offer more (the ratio is below 1).
            _linux = new LinuxReceiveSpace(2 * config.ReceiveBufferSize, 2L * Math.Max(config.ReceiveBufferSize, config.MaxReceiveBufferSize), config.Mss);
            _buffer.Capacity = _linux.Buffer;
        }
        _pingPong = config.StartInPingPongMode;
    }

    /// <summary>IRS: the peer's initial sequence number.</summary>
    public SeqNumber Irs { get; private set; }
    /// <summary>RCV.NXT: next sequence number expected.</summary>
    public SeqNumber RcvNxt { get; private set; }
    /// <summary>RCV.WND: the window currently offered to the peer.</summary>
    public uint Window => _advertisedRight > RcvNxt ? (uint)(_advertisedRight - RcvNxt) : 0;
    /// <summary>Shift applied to the windows we send (RFC 7323 §2.3).</summary>
    public int WindowShift { get; set; }
    /// <summary>Last.ACK.sent (RFC 7323 §4.3): RCV.NXT as of the last ACK we sent.</summary>
    public SeqNumber LastAckSent { get; private set; }
    /// <summary>An ACK should go out with the next dispatch.</summary>
    public bool AckNow { get; set; }
    /// <summary>The peer's FIN has been taken (all data before it too).</summary>
    public bool FinReceived { get; private set; }
    /// <summary>The application shut receiving down: bytes are acknowledged and dropped (BSD's SHUT_RD).</summary>
    public bool IsShutdown { get; private set; }
    /// <summary>SACK blocks go on our ACKs (both SYNs carried SACK-permitted).</summary>
    public bool SackEnabled { get; set; }
    public int BytesToRead => _buffer.Count;
    /// <summary>Whether the receive buffer holds pool memory (only while it holds bytes, readable or out of order).</summary>
    public bool HoldsMemory => _buffer.HoldsMemory;
    /// <summary>When in-order data last arrived (Linux's lrcvtime: out-of-order data does not count); null before any.</summary>
    public TimeSpan? LastDataAt => _ato.LastDataAt;
    /// <summary>The delayed-ACK timeout as tcpi_ato reports it: zero before any data.</summary>
    public TimeSpan AckTimeout => _ato.Reported;
    /// <summary>The largest payload a segment has brought (Linux's rcv_mss estimate, for TCP_INFO).</summary>
    public int LargestSegmentReceived { get; private set; }
    public bool HasOutOfOrderData => _outOfOrder is { IsEmpty: false };
    /// <summary>The receive buffer's size now (SO_RCVBUF, as auto-tuning has grown it).</summary>
    public int BufferSize => _linux is null ? _buffer.Capacity : _linux.Buffer / 2;
    /// <summary>Linux's rcv_ssthresh under <see cref="ReceiveWindowModel.Linux"/> (tcpi_rcv_ssthresh); null for data bytes.</summary>
    public int? ReceiveSlowStartThreshold => _linux is null ? null : (int)Math.Min(_linux.RcvSsthresh, int.MaxValue);
    /// <summary>Bytes the application read in the best round trip (tcpi_rcv_space); 0 without auto-tuning.</summary>
    public int Space => _tuner?.Space ?? (int)(_linux?.InitialSpace ?? 0);
    /// <summary>The receiver's RTT estimate (tcpi_rcv_rtt); zero without auto-tuning or before a sample.</summary>
    public TimeSpan Rtt => _tuner?.Rtt ?? TimeSpan.Zero;
    /// <summary>The stack's buffer memory, not the buffer's free space, bounds the window it could offer now.</summary>
    public bool WindowLimitedByMemory => _buffer.StorableFree < _buffer.Free;
    /// <summary>
    /// The peer's segment size as Linux's icsk_ack.rcv_mss estimates it: the largest payload received, from 536 up to
    /// our own MSS; more than this unacknowledged draws an ACK at once.
    /// </summary>
    private int ReceiveMss => Math.Clamp(LargestSegmentReceived, Math.Min(536, (int)_config.Mss), _config.Mss);

    /// <summary>The peer's SYN at <paramref name="irs"/>: RCV.NXT is the byte after it.</summary>
    public void Synchronize(SeqNumber irs)
    {
        Irs = irs;
        RcvNxt = irs + 1;
        LastAckSent = RcvNxt;
    }

    /// <summary>
    /// The window a SYN or SYN-ACK carries (never scaled, RFC 7323 §2.2), rounded down to a multiple of
    /// <paramref name="mss"/> as Linux's tcp_select_initial_window does; it bounds the peer until our next ACK.
    /// </summary>
    public ushort SynWindow(bool answering, int mss)
    {
        // Linux's tcp_full_space: the buffer's memory at the ratio the listener or new socket has (half).
        _synWindow = ReceiveWindow.Initial(_linux is null ? _buffer.StorableFree : Math.Min(_buffer.StorableFree, _linux.FullSpace), mss);
        _lastWindow = _synWindow;
        _linux?.OfferedInSyn(_synWindow);
        if (answering) _advertisedRight = RcvNxt + _synWindow;
        return _synWindow;
    }

    /// <summary>A Fast Open SYN's data (RFC 7413 §4.2.2): the first bytes after IRS, readable at once (tcp_fastopen_add_skb).</summary>
    public void TakeSynData(ReadOnlySpan<byte> payload)
    {
        LargestSegmentReceived = payload.Length;
        Deliver(payload);
        LastAckSent = RcvNxt;
    }

    /// <summary>Our SYN's window, now that the peer's SYN-ACK told us where its sequence space starts.</summary>
    public void AdvertisedInSyn() => _advertisedRight = RcvNxt + _synWindow;

    // ───────────── acceptability and text ─────────────

    /// <summary>
    /// RFC 9293 §3.10.7.4, the four cases. A segment with data at RCV.NXT while RCV.WND is zero counts too (the
    /// special allowance for ACKs, URGs and RSTs there): its ACK is processed and its text dropped.
    /// </summary>
    public bool IsAcceptable(SeqNumber seq, int segLen)
    {
        uint window = Window;
        if (segLen == 0) return window == 0 ? seq == RcvNxt : seq.IsInRange(RcvNxt, window);
        if (window == 0) return seq == RcvNxt;
        return seq.IsInRange(RcvNxt, window) || (seq + (segLen - 1)).IsInRange(RcvNxt, window);
    }

    /// <summary>The right edge of the window offered: RCV.NXT + RCV.WND (never left of RCV.NXT).</summary>
    private SeqNumber RightEdge => RcvNxt + (int)Math.Min(Window, int.MaxValue);

    /// <summary>A segment at <paramref name="seq"/> starts past the right edge of the window offered (Linux's `after(seq, rcv_nxt + rcv_wnd)`).</summary>
    public bool StartsBeyondWindow(SeqNumber seq) => seq > RightEdge;

    /// <summary>
    /// Trims a segment's text to what is new and inside the window: duplicates come off the front (remembered for a
    /// D-SACK and acknowledged at once), what lies beyond the window off the back (with the FIN), unless Linux's rule takes
    /// it whole (TakenWholePastEdge).
    /// </summary>
    public void Trim(ref SeqNumber seq, ref ReadOnlySpan<byte> payload, ref bool fin)
    {
        if (seq < RcvNxt)
        {
            int duplicate = RcvNxt - seq;
            int duplicatePayload = Math.Min(duplicate, payload.Length);
            if (duplicatePayload > 0) NoteDuplicate(seq, seq + duplicatePayload);
            if (duplicate > payload.Length)
            {
                if (fin && duplicate == payload.Length + 1) fin = false; // the FIN itself is old
                payload = default;
            }
            else
            {
                payload = payload[duplicate..];
            }
            seq = RcvNxt;
            AckNow |= duplicatePayload > 0 || !payload.IsEmpty;
        }
        int room = RightEdge - seq;
        if (payload.Length > room && !TakenWholePastEdge(seq, payload.Length, room))
        {
            if (room <= 0 && !payload.IsEmpty)
            {
                EnterQuickAckMode(); // Linux's tcp_data_queue: data into a closed window
                // All of it past the edge, its ACK taken: what Linux 6.17 drops and counts (under its rule the drop counts).
                if (!_config.DropBeyondWindow) _counters.Count(MibCounter.TcpExtBeyondWindow);
            }
            payload = payload[..Math.Max(0, room)];
            fin = false;
            AckNow = true; // the peer sent beyond our window (a zero-window case among them): tell it where the window is
        }
    }

    /// <summary>
    /// Takes trimmed text at <paramref name="seq"/>: delivered when it is next, held otherwise; decides the ACK.
    /// <paramref name="segmentLength"/> is the whole segment's payload (small segments may be acknowledged at once);
    /// with timestamps on, <paramref name="echo"/> is its TSecr and <paramref name="sinceEcho"/> the time since we sent
    /// that TSval (null when it is none of ours): a receiver RTT sample, for auto-tuning.
    /// </summary>
    public void Take(TimeSpan now, SeqNumber seq, ReadOnlySpan<byte> payload, int segmentLength, int mss, uint? echo = null, TimeSpan? sinceEcho = null,
        int headerLength = TcpSegment.MinHeaderLength)
    {
        if (payload.IsEmpty) return;
        int ipLength = Ipv4Packet.MinHeaderLength + headerLength + segmentLength;
        if (segmentLength > LargestSegmentReceived) LargestSegmentReceived = segmentLength;
        if (seq != RcvNxt)
        {
            if (SackEnabled && _config.DuplicateSack && _outOfOrder?.Overlap(seq, seq + payload.Length) is (SeqNumber from, SeqNumber to))
            {
                NoteDuplicate(from, to);
            }
            HoldOutOfOrder(seq, payload, ipLength);
            AckNow = true; // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK)
            return;
        }
        // Linux's tcp_event_data_recv, for in-order data only: the first data, or data after an idle spell longer than
        // the RTO (the sender restarts from a small window), is acknowledged at once again.
        if (_ato.OnData(now, _rto.Rto)) GrantQuickAcks(mss);
        bool hadGap = _outOfOrder is { IsEmpty: false };
        if (segmentLength < ReceiveMss && _shortSegmentsSinceAck < 2) _shortSegmentsSinceAck++;
        _bytesSinceAck += payload.Length;
        Deliver(payload);
        SeqNumber segmentEnd = RcvNxt;
        _linux?.Queue(_totalRead + _buffer.Count, payload.Length, ipLength);
        if (_outOfOrder?.TakeAt(RcvNxt) is int held and > 0) DeliverHeld(held);
        if (_linux is not null) GrowLinuxWindow(segmentEnd, segmentLength, ipLength);
        if (_tuner is null && _config.LargestReceiveBuffer > _config.ReceiveBufferSize) _tuner = new ReceiveBufferTuner(_config.LargestReceiveBuffer);
        _tuner?.OnData(now, _totalRead, RcvNxt, Window, segmentLength, mss, echo, sinceEcho);
        if (hadGap)
        {
            AckNow = true; // RFC 5681 §4.2: ACK at once when a segment fills a gap
        }
        else if (_quickAcks > 0 && !_pingPong)
        {
            AckNow = true; // Linux's quick-ACK: every segment at once while the connection is new or after an idle spell
            _ackIsQuick = true;
        }
        // RFC 1122 §4.2.3.2 / RFC 5681 §4.2: at least every second full-sized segment, counted in bytes as Linux's
        // __tcp_ack_snd_check does (more than one MSS since the last ACK): one large segment (GRO) does not wait, small ones do.
        else if (_bytesSinceAck > ReceiveMss && WindowKeptByAck || segmentLength < mss && _config.DelayedAck == TimeSpan.Zero)
        {
            AckNow = true;
        }
        else
        {
            ScheduleDelayedAck(now);
        }
    }

    /// <summary>
    /// Arms the delayed ACK for the time Linux's tcp_send_delayed_ack draws from ato. A timer already armed keeps its
    /// earlier deadline, and one due within a quarter of the new delay sends the ACK now.
    /// </summary>
    public void ScheduleDelayedAck(TimeSpan now)
    {
        TimeSpan delay = _ato.Delay(_pingPong, _rto.HasSample ? _rto.SmoothedRtt : null);
        TimeSpan at = now + delay;
        if (_timers.Deadline(TcpTimer.DelayedAck) is TimeSpan armed)
        {
            if (armed <= now + RtoEstimator.Divide(delay, 4))
            {
                AckNow = true;
                return;
            }
            if (armed <= at) return;
        }
        _timers.Arm(TcpTimer.DelayedAck, at);
    }

    /// <summary>
    /// Holds out-of-order text in the receive buffer at its place in the window (which never exceeds the buffer's free
    /// space) when the caps allow: <see cref="TcpConfig.MaxOutOfOrderBytes"/>, the stack's buffer memory and the held
    /// ranges; otherwise it is dropped unacknowledged (TcpExtTCPOFODrop) and the sender resends it. A duplicate of what
    /// is held already costs nothing, but its block is reported first all the same (RFC 2018 §4, as Linux's add_sack).
    /// </summary>
    private void HoldOutOfOrder(SeqNumber seq, ReadOnlySpan<byte> payload, int ipLength)
    {
        SeqNumber end = seq + payload.Length;
        ReassemblyQueue outOfOrder = OutOfOrder();
        if (outOfOrder.Overlap(seq, end) is (SeqNumber from, SeqNumber to) && from == seq && to == end)
        {
            _sackBlocks!.Touch(seq);
            return;
        }
        int offset = seq - RcvNxt;
        if (_buffer.CanWriteAt(offset, payload.Length) && outOfOrder.Count + payload.Length <= _config.MaxOutOfOrderBytes
            && _buffer.HasMemoryFor(offset, payload.Length) && outOfOrder.Add(seq, end))
        {
            _buffer.WriteAt(offset, payload);
            _sackBlocks!.Touch(seq);
            if (_linux is not null) HoldLinux(seq, end, ipLength);
            _counters.Count(MibCounter.TcpExtTCPOFOQueue);
        }
        else
        {
            _counters.Count(MibCounter.TcpExtTCPOFODrop);
        }
    }

    /// <summary>
    /// Linux's tcp_incr_quickack: ACK each of the next min(16, RCV.WND / (2 MSS)) segments at once (at least 2, never
    /// fewer than are still due), so a sender in slow start, new or restarting after idle, is not held back by delayed ACKs.
    /// </summary>
    private void GrantQuickAcks(int mss, int maxQuickAcks = MaxQuickAcks)
    {
        int quick = (int)Math.Min(Window / (uint)Math.Max(1, 2 * mss), maxQuickAcks);
        quick = Math.Min(quick == 0 ? 2 : quick, _config.QuickAcks);
        if (quick > _quickAcks) _quickAcks = quick;
    }

    private void Deliver(ReadOnlySpan<byte> data)
    {
        // The window advertised never exceeded the buffer's free space, but the stack's buffer memory may have run out
        // since: what it cannot hold is dropped unacknowledged, and the ACK at once tells the sender where to resend from.
        int taken = _buffer.Write(data);
        Delivered(taken);
        if (taken == data.Length) return;
        _counters.Count(MibCounter.TcpExtTCPRcvQDrop);
        AckNow = true;
    }

    // Held bytes that now follow RCV.NXT are already in place in the buffer: they only become readable.
    private void DeliverHeld(int count)
    {
        _buffer.Commit(count);
        Delivered(count);
    }

    // The reassembly queue, made with its SACK block list when the first segment or FIN is held out of order.
    private ReassemblyQueue OutOfOrder()
    {
        if (_outOfOrder is null)
        {
            _outOfOrder = new ReassemblyQueue();
            _sackBlocks = new SackBlockList(_outOfOrder);
        }
        return _outOfOrder;
    }

    private void Delivered(int count)
    {
        RcvNxt += count;
        _sackBlocks?.Forget(RcvNxt);
    }

    /// <summary>
    /// Linux's pingpong (interactive) mode, which the peer's FIN (or TCP_QUICKACK 0) starts: no quick ACKs, and an ACK
    /// that was only quick waits the delayed-ACK time, so the application's answer (its FIN) can ride on it.
    /// </summary>
    public void EnterPingPong(TimeSpan now)
    {
        _pingPong = true;
        if (!_ackIsQuick || !AckNow) return;
        if (_bytesSinceAck > ReceiveMss) return; // more than a full segment (the FIN counts) unacknowledged: it goes now

        AckNow = false;
        _ackIsQuick = false;
        ScheduleDelayedAck(now);
    }

    /// <summary>
    /// A delayed ACK had to go out on its own (Linux's tcp_delack_timer_handler): in bulk transfer ato doubles (the
    /// peer's segments come further apart than it); an interactive exchange leaves pingpong mode, ato at its minimum.
    /// </summary>
    public void OnDelayedAckTimeout()
    {
        _ato.OnTimeout(_pingPong, _rto.Rto);
        _pingPong = false;
        AckNow = true;
    }

    /// <summary>TCP_QUICKACK: on leaves pingpong mode and sends a scheduled ACK now; off enters pingpong mode.</summary>
    public void SetQuickAck(bool on, TimeSpan now)
    {
        if (!on)
        {
            EnterPingPong(now);
            return;
        }
        _pingPong = false;
        // Linux's __tcp_sock_set_quickack marks the ACK pushed and runs tcp_cleanup_rbuf: a scheduled ACK goes at once
        // only when nothing waits to be read or more than a full segment is unacknowledged; otherwise the read sends it.
        if (!_timers.IsArmed(TcpTimer.DelayedAck)) return;
        if (BytesToRead == 0 || _bytesSinceAck > ReceiveMss) AckNow = true;
        else _shortSegmentsSinceAck = Math.Max(_shortSegmentsSinceAck, 1);
    }

    /// <summary>
    /// Whether a read that emptied the buffer sends the scheduled delayed ACK now, as Linux's tcp_cleanup_rbuf does:
    /// after two short segments (ICSK_ACK_PUSHED2), or one outside pingpong mode (ICSK_ACK_PUSHED); in pingpong mode a
    /// lone request's ACK keeps waiting to ride on the answer.
    /// </summary>
    public bool AckDueOnRead =>
        BytesToRead == 0 && _timers.IsArmed(TcpTimer.DelayedAck) && (_shortSegmentsSinceAck >= 2 || _shortSegmentsSinceAck == 1 && !_pingPong);

    /// <summary>Quick ACKs are on (not pingpong mode): what TCP_QUICKACK reads.</summary>
    public bool QuickAck => !_pingPong;

    /// <summary>The SYN-ACK came while data waits to be sent: the ACK timeout as Linux sets it then (AckTimeout.OnSynAckWithWriterWaiting).</summary>
    public void OnSynAckWithWriterWaiting(TimeSpan now) => _ato.OnSynAckWithWriterWaiting(now);

    /// <summary>
    /// We sent data: an answer within ato of the last data received makes the exchange interactive, and Linux then
    /// delays ACKs so they ride on the answers (tcp_event_data_sent).
    /// </summary>
    public void OnDataSent(TimeSpan now)
    {
        if (_ato.LastDataAt is TimeSpan at && now - at < _ato.Value) _pingPong = true;
    }

    /// <summary>A FIN at <paramref name="finAt"/>: true when it is next (RCV.NXT moves past it); held otherwise.</summary>
    public bool TakeFin(SeqNumber finAt)
    {
        if (finAt != RcvNxt)
        {
            OutOfOrder().FinSeq = finAt;
            AckNow = true;
            return false;
        }
        TakeFinNow();
        return true;
    }

    /// <summary>A FIN that arrived ahead of data is now next: take it.</summary>
    public bool TakeHeldFin()
    {
        if (_outOfOrder?.FinSeq is not SeqNumber held || held != RcvNxt || !_outOfOrder.IsEmpty) return false;
        TakeFinNow();
        return true;
    }

    private void TakeFinNow()
    {
        // RFC 9293 §3.10.7.4 eighth: the FIN takes one sequence number.
        _outOfOrder?.FinSeq = null;
        RcvNxt += 1;
        _bytesSinceAck += 1; // as Linux's rcv_nxt - rcv_wup, which the FIN moves too
        FinReceived = true;
    }


    /// <summary>
    /// Linux's tcp_enter_quickack_mode, for data sent again or into a closed window: our ACKs may have been lost or
    /// too slow, so the next go at once: quick ACKs granted again (counted with the peer's segment size, rcv_mss),
    /// pingpong mode left, ato at its minimum.
    /// </summary>
    public void EnterQuickAckMode(int maxQuickAcks = MaxQuickAcks)
    {
        GrantQuickAcks(ReceiveMss, maxQuickAcks);
        _pingPong = false;
        _ato.Deflate();
    }

    /// <summary>
    /// A simultaneous open's SYN-ACK repeated the peer's SYN, an octet already taken: a duplicate, acknowledged at once
    /// with a D-SACK of it, as Linux's tcp_data_queue answers a retransmission below RCV.NXT.
    /// </summary>
    public void NoteRepeatedSyn(SeqNumber irs)
    {
        _counters.Count(MibCounter.TcpExtDelayedACKLost);
        NoteDuplicate(irs, irs + 1);
        EnterQuickAckMode();
        AckNow = true;
    }


    // ───────────── the application ─────────────

    /// <summary>Copies bytes out; with auto-tuning, once a round trip, grows the buffer to the rate the application reads at.</summary>
    public int Read(Span<byte> destination, TimeSpan now)
    {
        int n = _buffer.Read(destination);
        _totalRead += n;
        _linux?.OnRead(_totalRead);
        if (_tuner is not null)
        {
            int outOfOrderSpan = _outOfOrder?.HighestEnd is SeqNumber end ? end - RcvNxt : 0;
            if (_linux is null) _buffer.Capacity = _tuner.OnRead(now, _totalRead, _buffer.Capacity, outOfOrderSpan);
            else GrowLinuxBuffer(_tuner.OnRead(now, _totalRead, 0, outOfOrderSpan));
        }
        return n;
    }

    /// <summary>
    /// Whether a read freed enough to send a window update at once, as Linux's tcp_cleanup_rbuf decides: the window
    /// the peer still has is at most half the largest we can offer, and the one we would offer now is at least twice
    /// it; and its right edge is beyond the one last sent (RFC 9293 §3.8.6.2.2: a buffer larger than the 16-bit field
    /// frees space no update can show, and the peer would count a repeat of the last ACK as a duplicate). A window
    /// still more than half open waits for the next ACK the data draws.
    /// </summary>
    public bool WindowUpdateWorthSending
    {
        get
        {
            if (FinReceived) return false;
            long open = Window;
            _linux?.Establish(WindowShift, _synWindow);
            long largest = Math.Min(_linux?.WindowClamp ?? _buffer.Capacity, (long)ushort.MaxValue << WindowShift);
            if (2 * open > largest) return false;
            long offer = Math.Min(SelectWindow(), largest) >> WindowShift << WindowShift;
            return offer > 0 && offer >= 2 * open && RcvNxt + (int)offer > _advertisedRight;
        }
    }

    /// <summary>close(): what the application left unread is freed (Linux's __tcp_close); whether there was any.</summary>
    public bool DiscardUnread()
    {
        int unread = _buffer.Count;
        if (unread == 0) return false;
        _buffer.Discard(unread);
        _totalRead += unread;
        _linux?.OnRead(_totalRead);
        return true;
    }

    /// <summary>SHUT_RD as Linux's RCV_SHUTDOWN: what is queued, and what still arrives, stays readable; reads end once it is read.</summary>
    public void ShutdownReceive() => IsShutdown = true;

    public void Clear()
    {
        _outOfOrder?.Clear();
        _buffer.ForgetAhead();
        _linux?.Clear();
    }

    // ───────────── what our segments carry ─────────────

    /// <summary>
    /// The 16-bit window field to send, as Linux's tcp_select_window: the window <see cref="ReceiveWindow.Select(long, long, int, int, long)"/> chooses
    /// from the free space, but never less than what the peer was already offered (RFC 9293 §3.8.6.2.2: the right edge
    /// never moves left; the scaled field rounds down, so the edge on the wire may show up to 2^shift − 1 bytes less,
    /// RFC 7323 Appendix F, where Linux rounds up and grows its buffer to match).
    /// </summary>
    public ushort AdvertiseWindow(bool sent = true)
    {
        long selected = SelectWindow();
        long window = selected;
        // Linux's tcp_select_window keeps the window already offered, rounded up to the field's unit.
        if (_linux is not null) window = Math.Max(window, (Window + (1L << WindowShift) - 1) >> WindowShift << WindowShift);
        window = Math.Max(window, Window);
        long field = Math.Min(window >> WindowShift, ushort.MaxValue);
        SeqNumber right = RcvNxt + (int)(field << WindowShift);
        if (right > _advertisedRight) _advertisedRight = right;
        if (sent) CountZeroWindow(selected, field);
        _lastWindow = (int)Window; // at most 65535 << 14
        return (ushort)field;
    }


    private long SelectWindow()
    {
        if (_linux is not null) return SelectLinuxWindow();
        // Held out-of-order bytes count against the free space, as in Linux (they are in sk_rmem_alloc), although they
        // already sit at their place inside it. Only what the stack's buffer memory backs now is free
        // (TcpConfig.MaxBufferMemory), as Linux clamps the window under memory pressure. (Not counting them offers the
        // whole buffer past a hole; measured: BBR at 5 % loss then keeps more unSACKed data in flight and resends up to
        // 65 % more, GoodputRegressionTests. With our whole buffer offered, a reordered full window so wishes a zero
        // window, TcpExtTCPWantZeroWindowAdv, where Linux's rcv_ssthresh keeps its window far below its memory.)
        long free = Math.Max(0, _buffer.StorableFree - (_outOfOrder?.Count ?? 0));
        return ReceiveWindow.Select(free, _buffer.Capacity, WindowShift, ReceiveMss, _lastWindow);
    }

    /// <summary>False when <see cref="AddSackBlocks"/> would add nothing: no D-SACK due and no block held out of order.</summary>
    public bool MayHaveSackBlocks => _dsack is not null || _sackBlocks is { MayHaveBlocks: true };

    /// <summary>Adds the D-SACK and SACK blocks an ACK carries: most recent first, as many as fit (RFC 2018 §4).</summary>
    public void AddSackBlocks(ref TcpOptions options)
    {
        if (!SackEnabled) return;
        // 40 bytes of options hold 4 blocks, 3 beside timestamps (RFC 2018 §3).
        int room = options.Timestamp is null ? 4 : 3;
        if (_dsack is SackBlock dsack)
        {
            options.AddSackBlock(dsack);
            room--;
        }
        _sackBlocks?.AddTo(ref options, room);
    }

    /// <summary>An ACK went out: the delayed ACK, the D-SACK and the count since the last ACK start over.</summary>
    public void OnAckSent()
    {
        // Linux's tcp_dec_quickack_mode: the quick ACKs count down as they go; leaving quick-ACK mode deflates ato.
        if (_ackIsQuick && _quickAcks > 0 && --_quickAcks == 0) _ato.Deflate();
        AckNow = false;
        _ackIsQuick = false;
        _bytesSinceAck = 0;
        _shortSegmentsSinceAck = 0;
        _dsack = null;
        LastAckSent = RcvNxt;
        _timers.Cancel(TcpTimer.DelayedAck);
    }
}
