using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What <see cref="TcpConnection.Receive"/> found.</summary>
public enum ReceiveStatus : byte
{
    /// <summary>Bytes were copied out.</summary>
    Data,
    /// <summary>Nothing to read yet; the connection is still open for receiving.</summary>
    WouldBlock,
    /// <summary>The peer's FIN has been read past (or this side shut receiving down): no more data will come.</summary>
    EndOfStream,
}

/// <summary>Which half of a connection <see cref="TcpConnection.Shutdown"/> closes.</summary>
[Flags]
public enum ShutdownDirection : byte
{
    Receive = 1,
    Send = 2,
    Both = Receive | Send,
}

/// <summary>
/// One connection: the transmission control block of RFC 9293 §3.3.1 and its state machine (§3.10).
/// Single-owner and pure like the engine that holds it: user calls change state and mark the connection
/// for output; <see cref="TcpEngine.Poll"/> sends what they call for.
/// </summary>
public sealed class TcpConnection
{
    private readonly TcpEngine _engine;
    private readonly TcpConfig _config;
    private readonly RtoEstimator _rto;
    // Bytes from _sendBufferSeq on: unacknowledged, then unsent. Never holds SYN or FIN.
    private readonly ByteRing _sendBuffer;
    // In-order bytes the application has not read yet.
    private readonly ByteRing _receiveBuffer;
    private readonly ReassemblyQueue _outOfOrder = new();

    // Sequence number of _sendBuffer's first byte: ISS+1 until the SYN is acknowledged, then SND.UNA.
    private SeqNumber _sendBufferSeq;
    // The right edge of the window last advertised (RCV.NXT + RCV.WND then); never moves left (RFC 9293 §3.8.6.2.2).
    private SeqNumber _rcvAdvertisedRight;
    // Shift applied to windows the peer sends (0 without RFC 7323 window scaling).
    private int _sndWndScale;
    // Shift applied to windows this side sends.
    private int _rcvWndScale;
    // Both SYNs carried the window scale option (RFC 7323 §2.2); until the peer's SYN is seen, false.
    private bool _windowScaling;
    // Largest window the peer has offered, for sender silly-window avoidance (RFC 1122 §4.2.3.4).
    private uint _maxSndWnd;
    // The (unscaled) window our SYN offered, which bounds what the peer may send before our first ACK.
    private ushort _synWindow;
    // When the last segment arrived: keepalive idles from here.
    private TimeSpan _lastActivity;

    // Congestion control, RFC 5681 with NewReno (RFC 6582).
    private int _cwnd;
    private int _ssthresh = int.MaxValue;
    private int _dupAcks;
    private bool _inFastRecovery;
    private SeqNumber _recover;
    private int _bytesAckedInAvoidance;
    private bool _retransmitHead;
    // Sending stopped because cwnd, not the peer's window or the application, was the limit (RFC 7661's
    // "cwnd-limited"); cwnd only grows while this is so, as Linux's tcp_is_cwnd_limited.
    private bool _cwndLimited;

    // Karn's rule: one segment timed at a time, never a retransmitted one (RFC 6298 §3).
    private SeqNumber? _rttSeq;
    private TimeSpan _rttStart;
    // Consecutive retransmission timeouts without progress; reset by a new ACK.
    private int _retries;
    private int _persistBackoff;
    // Zero-window probes sent since the last ACK arrived; the connection gives up past the retry limit (as Linux).
    private int _persistProbes;
    // A SYN or SYN-ACK timed out: RFC 6298 §5.7 and RFC 5681 §3.1 apply when the handshake completes.
    private bool _handshakeTimedOut;
    private int _keepAliveProbes;

    private bool _ackNow;
    private int _segmentsSinceAck;
    private bool _finQueued;
    private bool _finReceived;
    private bool _receiveShutdown;
    private bool _pendingReset;


    private const int MinSendMss = 48;

    internal TcpConnection(TcpEngine engine, FourTuple id, TcpConfig config, SeqNumber iss, TcpListener? listener)
    {
        _engine = engine;
        _config = config;
        Id = id;
        Listener = listener;
        _rto = new RtoEstimator(config);
        Timers = new ConnectionTimers(this, engine);
        _sendBuffer = new ByteRing(config.SendBufferSize);
        _receiveBuffer = new ByteRing(config.ReceiveBufferSize);
        Iss = iss;
        SndUna = SndNxt = SndMax = iss;
        _sendBufferSeq = iss + 1;
        _recover = iss;
        SendMss = 536; // RFC 9293 §3.7.1: the default when the peer sends no MSS option
        NoDelay = config.NoDelay;
        KeepAliveIdle = config.KeepAliveIdle;
        KeepAliveInterval = config.KeepAliveInterval;
        KeepAliveCount = config.KeepAliveCount;
        FinWait2Timeout = config.FinWait2Timeout;
        KeepAlive = config.KeepAlive;
    }

    public FourTuple Id { get; }
    public IpEndpoint LocalEndpoint => Id.Local;
    public IpEndpoint RemoteEndpoint => Id.Remote;
    public TcpState State { get; private set; }
    /// <summary>Why the connection failed; None while it has not.</summary>
    public TcpError Error { get; private set; }
    /// <summary>The listener that made this connection by passive open; null for active opens.</summary>
    public TcpListener? Listener { get; }

    /// <summary>ISS: our initial send sequence number.</summary>
    public SeqNumber Iss { get; }
    /// <summary>SND.UNA: oldest unacknowledged sequence number.</summary>
    public SeqNumber SndUna { get; private set; }
    /// <summary>SND.NXT: next sequence number to send (moves back to SND.UNA on a retransmission timeout).</summary>
    public SeqNumber SndNxt { get; private set; }
    /// <summary>Highest sequence number sent so far plus one (BSD's snd_max); SND.NXT &lt;= this.</summary>
    public SeqNumber SndMax { get; private set; }
    /// <summary>SND.WND: the peer's window, scaled.</summary>
    public uint SndWnd { get; private set; }
    /// <summary>SND.WL1: segment sequence number used for the last window update.</summary>
    public SeqNumber SndWl1 { get; private set; }
    /// <summary>SND.WL2: segment acknowledgment number used for the last window update.</summary>
    public SeqNumber SndWl2 { get; private set; }
    /// <summary>IRS: the peer's initial sequence number.</summary>
    public SeqNumber Irs { get; private set; }
    /// <summary>RCV.NXT: next sequence number expected.</summary>
    public SeqNumber RcvNxt { get; private set; }
    /// <summary>RCV.WND: the window currently offered to the peer.</summary>
    public uint RcvWnd => _rcvAdvertisedRight > RcvNxt ? (uint)(_rcvAdvertisedRight - RcvNxt) : 0;

    /// <summary>Largest payload sent in one segment: the peer's MSS option (536 without one), capped by ours.</summary>
    public int SendMss { get; private set; }
    public int CongestionWindow => _cwnd;
    public int SlowStartThreshold => _ssthresh;
    public bool InFastRecovery => _inFastRecovery;
    public TimeSpan Rto => _rto.Rto;
    public TimeSpan SmoothedRtt => _rto.SmoothedRtt;
    /// <summary>Segments sent again, by timeout or fast retransmit, over the connection's life.</summary>
    public int Retransmissions { get; private set; }

    /// <summary>The application has closed the connection: it will never read or write again.</summary>
    public bool IsOrphaned { get; private set; }
    public bool IsSendShutdown => _finQueued;
    public bool IsReceiveShutdown => _receiveShutdown;
    /// <summary>Bytes waiting to be read.</summary>
    public int BytesToRead => _receiveBuffer.Count;
    /// <summary>Room left in the send buffer.</summary>
    public int SendBufferFree => _sendBuffer.Free;
    /// <summary>Bytes queued but not yet acknowledged by the peer.</summary>
    public int BytesUnacknowledged => _sendBuffer.Count;
    /// <summary>The peer's FIN has arrived (all data before it too).</summary>
    public bool FinReceived => _finReceived;

    /// <summary>Send segments smaller than the MSS at once (TCP_NODELAY) rather than after the previous ACK (RFC 896).</summary>
    public bool NoDelay { get; set; }
    /// <summary>Probe an idle connection (SO_KEEPALIVE) with the engine's keepalive timings.</summary>
    public bool KeepAlive
    {
        get;
        set
        {
            field = value;
            if (State.IsSynchronized()) ArmKeepAlive(_engine.Now);
        }
    }

    /// <summary>Idle time before the first keepalive probe (TCP_KEEPIDLE); the engine's setting unless changed.</summary>
    public TimeSpan KeepAliveIdle
    {
        get;
        set
        {
            field = value;
            if (KeepAlive && State.IsSynchronized()) ArmKeepAlive(_engine.Now);
        }
    }
    /// <summary>Time between unanswered keepalive probes (TCP_KEEPINTVL).</summary>
    public TimeSpan KeepAliveInterval { get; set; }
    /// <summary>Unanswered probes before the connection times out (TCP_KEEPCNT).</summary>
    public int KeepAliveCount { get; set; }
    /// <summary>How long this connection, once orphaned, may wait in FIN-WAIT-2 (TCP_LINGER2).</summary>
    public TimeSpan FinWait2Timeout { get; set; }
    /// <summary>
    /// SO_LINGER with a zero timeout: <see cref="Close"/> aborts with a RST instead of a FIN. (A non-zero linger, which
    /// makes close() wait for the FIN to be acknowledged, is the runtime's to implement; the engine never blocks.)
    /// </summary>
    public bool LingerZero { get; set; }

    /// <summary>This connection's timers: the one place they are armed, cancelled and fired.</summary>
    internal ConnectionTimers Timers { get; }

    /// <summary>The connection is on the engine's list of connections with output to send.</summary>
    internal bool IsPending { get; set; }
    /// <summary>A passive open still counted in its listener's SYN queue (not yet handed to the accept queue).</summary>
    internal bool InSynQueue { get; set; }
    /// <summary>Armed deadlines, for tests and the lab.</summary>
    public TimeSpan? TimerDeadline(TcpTimer timer) => Timers.Deadline(timer);

    public override string ToString() => $"{Id} {State.ToRfcName()}";

    // ───────────────────────────── user calls (RFC 9293 §3.10.1–3.10.6) ─────────────────────────────

    /// <summary>Queues bytes for sending; returns how many fit in the send buffer (0 when it is full).</summary>
    /// <exception cref="TcpException">The connection cannot send: shut down, failed or not open.</exception>
    public int Send(ReadOnlySpan<byte> data)
    {
        if (Error != TcpError.None) throw new TcpException(Error, $"send on {Id}: {Error}");
        if (_finQueued) throw new TcpException(TcpError.Shutdown, $"send on {Id} after its send side was shut down");
        if (State is TcpState.Closed or TcpState.Listen) throw new TcpException(TcpError.NotConnected, $"send on {Id} in {State.ToRfcName()}");
        int accepted = _sendBuffer.Write(data);
        if (accepted > 0) _engine.MarkPending(this);
        return accepted;
    }

    /// <summary>Copies received bytes out. A reset connection throws once its data has been read.</summary>
    public ReceiveStatus Receive(Span<byte> buffer, out int bytesRead)
    {
        bytesRead = 0;
        if (_receiveBuffer.Count > 0 && !buffer.IsEmpty)
        {
            uint before = RcvWnd;
            bytesRead = _receiveBuffer.Read(buffer);
            OnApplicationRead(before);
            return ReceiveStatus.Data;
        }
        if (Error is not (TcpError.None or TcpError.ConnectionAborted)) throw new TcpException(Error, $"receive on {Id}: {Error}");
        if (_finReceived || _receiveShutdown || State == TcpState.Closed) return ReceiveStatus.EndOfStream;
        return ReceiveStatus.WouldBlock;
    }

    /// <summary>
    /// Send: queue a FIN after the buffered data (half-close; receiving goes on). Receive: reads end at once and
    /// later data is acknowledged and discarded, as BSD does for SHUT_RD. (Deviation: Linux keeps queueing it and
    /// read() still returns what was queued.)
    /// </summary>
    public void Shutdown(ShutdownDirection how)
    {
        if ((how & ShutdownDirection.Receive) != 0 && !_receiveShutdown)
        {
            _receiveShutdown = true;
            _receiveBuffer.Discard(_receiveBuffer.Count);
        }
        if ((how & ShutdownDirection.Send) != 0 && !_finQueued) QueueFin(TcpCause.ShutdownSend);
    }

    /// <summary>
    /// Close: the application is done. With unread data the connection is reset (RFC 2525 §2.17, as Linux does);
    /// otherwise the FIN goes out after buffered data and the connection is orphaned.
    /// </summary>
    public void Close()
    {
        if (IsOrphaned || State == TcpState.Closed) return;
        if (LingerZero)
        {
            Abort();
            return;
        }
        switch (State)
        {
            case TcpState.Listen:
            case TcpState.SynSent:
                // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB; nothing has been synchronized.
                IsOrphaned = true;
                EnterClosed(TcpError.None, TcpCause.CloseBeforeEstablished);
                return;
            case TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived when _receiveBuffer.Count > 0:
                IsOrphaned = true;
                ResetAndClose(TcpError.ConnectionAborted, TcpCause.CloseWithUnreadData);
                return;
        }
        IsOrphaned = true;
        _receiveShutdown = true;
        if (!_finQueued) QueueFin(TcpCause.Close);
        if (State == TcpState.FinWait2) ArmFinWait2(_engine.Now);
    }

    /// <summary>RFC 9293 §3.10.5 ABORT: a RST in synchronized states (and SYN-RECEIVED), then CLOSED.</summary>
    public void Abort()
    {
        if (State == TcpState.Closed) return;
        IsOrphaned = true;
        if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
        {
            ResetAndClose(TcpError.ConnectionAborted, TcpCause.Abort);
        }
        else
        {
            EnterClosed(TcpError.ConnectionAborted, TcpCause.Abort);
        }
    }

    private void QueueFin(TcpCause cause)
    {
        _finQueued = true;
        switch (State)
        {
            case TcpState.Established:
                SetState(TcpState.FinWait1, cause);
                break;
            case TcpState.CloseWait:
                SetState(TcpState.LastAck, cause);
                break;
                // SYN-SENT and SYN-RECEIVED: the FIN waits for ESTABLISHED (RFC 9293 §3.10.4 "queue for processing").
        }
        _engine.MarkPending(this);
    }

    private void OnApplicationRead(uint windowBefore)
    {
        // RFC 1122 §4.2.3.3: tell the peer when reading opened the window by at least an MSS or half the buffer.
        uint possible = (uint)Math.Max(0, _receiveBuffer.Free - _outOfOrder.Count);
        uint threshold = (uint)Math.Min(_receiveBuffer.Capacity / 2, _config.Mss);
        if (State.IsSynchronized() && !_finReceived && possible >= windowBefore + threshold)
        {
            _ackNow = true;
            _engine.MarkPending(this);
        }
    }

    // ───────────────────────────── opening ─────────────────────────────

    /// <summary>Active open (RFC 9293 §3.10.1): the SYN goes out on the next poll.</summary>
    internal void OpenActive()
    {
        SetState(TcpState.SynSent, TcpCause.Connect);
        _engine.MarkPending(this);
    }

    /// <summary>Passive open from LISTEN on an acceptable SYN (RFC 9293 §3.10.7.2).</summary>
    internal void OpenPassive(TimeSpan now, in TcpSegment syn)
    {
        Irs = syn.SequenceNumber;
        RcvNxt = syn.SequenceNumber + 1;
        TakeSynOptions(syn.Options, scaleOffered: true);
        SndWnd = syn.Window; // RFC 7323 §2.2: the window in a SYN is never scaled
        SndWl1 = syn.SequenceNumber;
        SndWl2 = syn.AcknowledgmentNumber;
        _maxSndWnd = SndWnd;
        SetState(TcpState.SynReceived, TcpCause.SynInListen);
        InSynQueue = true;
        _lastActivity = now;
        _engine.MarkPending(this);
    }

    private void TakeSynOptions(in TcpOptions options, bool scaleOffered)
    {
        // An MSS option below Linux's tcp_min_snd_mss (48) would stall or flood; clamp it as Linux does.
        SendMss = Math.Clamp(options.MaxSegmentSize ?? (ushort)536, MinSendMss, Math.Max((int)_config.Mss, MinSendMss));
        _cwnd = _config.InitialWindowSegments * SendMss;
        // RFC 7323 §2.2: scaling is on only when both SYNs carry the option; shifts above 14 are taken as 14.
        _windowScaling = scaleOffered && options.WindowScale is not null;
        _sndWndScale = _windowScaling ? Math.Min((int)options.WindowScale!.Value, 14) : 0;
        _rcvWndScale = _windowScaling ? OwnWindowScale() : 0;
    }

    /// <summary>The smallest shift that lets the 16-bit field express the whole receive buffer.</summary>
    private int OwnWindowScale()
    {
        int shift = 0;
        while (shift < 14 && _config.ReceiveBufferSize >> shift > ushort.MaxValue) shift++;
        return shift;
    }

    // ───────────────────────────── segment arrival (RFC 9293 §3.10.7) ─────────────────────────────

    /// <summary>Processes one arriving segment for this connection, in the RFC's order.</summary>
    internal void OnSegment(TimeSpan now, in TcpSegment seg)
    {
        _lastActivity = now;
        if (State == TcpState.SynSent)
        {
            OnSegmentInSynSent(now, seg);
            return;
        }

        SeqNumber seq = seg.SequenceNumber;
        int segLen = seg.SegmentLength;
        if (_keepAliveProbes > 0) _keepAliveProbes = 0;

        // SYN-RECEIVED: the peer retransmitted its SYN, so our SYN-ACK was lost; send it again (as Linux does).
        if (State == TcpState.SynReceived && seg.Has(TcpFlags.Syn) && (seg.Flags & (TcpFlags.Ack | TcpFlags.Rst | TcpFlags.Fin)) == 0 && seq == Irs)
        {
            SndNxt = Iss;
            Drop(now, seg, TcpCause.RetransmittedSyn);
            _engine.MarkPending(this);
            return;
        }

        // TIME-WAIT: a retransmitted FIN is re-acknowledged and restarts the 2MSL timer (RFC 9293 §3.10.7.4 eighth).
        if (State == TcpState.TimeWait && seg.Has(TcpFlags.Fin) && !seg.Has(TcpFlags.Rst) && seq + segLen == RcvNxt)
        {
            _ackNow = true;
            ArmTimeWait(now);
            return;
        }

        // SYN-RECEIVED after a simultaneous open: the peer's SYN-ACK repeats its SYN at IRS, an old octet; only the
        // rest of the segment (its ACK) is new, so judge acceptability without it (RFC 9293 Figure 7, line 6).
        bool oldSyn = State == TcpState.SynReceived && seg.Has(TcpFlags.Syn) && seq == Irs;
        // First: sequence number acceptability, the four cases of RFC 9293 §3.10.7.4.
        if (!IsAcceptable(oldSyn ? seq + 1 : seq, oldSyn ? segLen - 1 : segLen))
        {
            if (!seg.Has(TcpFlags.Rst))
            {
                _ackNow = true; // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                Drop(now, seg, TcpCause.OutsideWindow);
            }
            else
            {
                Drop(now, seg, TcpCause.ResetOutsideWindow);
            }
            return;
        }

        // Second: the RST bit. RFC 5961 §3.2 (adopted by RFC 9293): only an exact RCV.NXT match resets; any other
        // in-window RST draws a challenge ACK.
        if (seg.Has(TcpFlags.Rst))
        {
            OnReset(now, seg);
            return;
        }

        // Fourth: a SYN in a synchronized state draws a challenge ACK (RFC 5961 §4, RFC 9293 §3.10.7.4).
        if (seg.Has(TcpFlags.Syn) && State != TcpState.SynReceived)
        {
            _ackNow = true;
            Drop(now, seg, TcpCause.SynInSynchronizedState);
            return;
        }
        if (seg.Has(TcpFlags.Syn) && State == TcpState.SynReceived && seq != Irs)
        {
            _ackNow = true;
            Drop(now, seg, TcpCause.SynInSynchronizedState);
            return;
        }

        // Fifth: the ACK field.
        if (!seg.Has(TcpFlags.Ack))
        {
            Drop(now, seg, TcpCause.NoAck);
            return;
        }
        if (!OnAck(now, seg)) return;

        // Sixth: URG is not supported; the urgent pointer is ignored and the data delivered inline (RFC 6093 §5 advice).
        // Seventh and eighth: segment text and FIN.
        OnText(now, seg);
        // A FIN+ACK whose FIN could not be taken yet (out of order) still acknowledged our FIN.
        if (State == TcpState.FinWait1 && OurFinAcked) EnterFinWait2(now);
    }

    private bool IsAcceptable(SeqNumber seq, int segLen)
    {
        uint window = RcvWnd;
        if (segLen == 0)
        {
            return window == 0 ? seq == RcvNxt : seq.IsInRange(RcvNxt, window);
        }
        if (window == 0) return false;
        return seq.IsInRange(RcvNxt, window) || (seq + (segLen - 1)).IsInRange(RcvNxt, window);
    }

    private void OnSegmentInSynSent(TimeSpan now, in TcpSegment seg)
    {
        // RFC 9293 §3.10.7.3.
        bool hasAck = seg.Has(TcpFlags.Ack);
        if (hasAck && (seg.AcknowledgmentNumber <= Iss || seg.AcknowledgmentNumber > SndMax))
        {
            if (!seg.Has(TcpFlags.Rst)) _engine.QueueReset(Id, seg.AcknowledgmentNumber, default, TcpFlags.Rst);
            Drop(now, seg, TcpCause.UnacceptableAck);
            return;
        }
        if (seg.Has(TcpFlags.Rst))
        {
            if (hasAck)
            {
                EnterClosed(TcpError.ConnectionRefused, TcpCause.ConnectionRefused);
            }
            else
            {
                Drop(now, seg, TcpCause.NotSynInSynSent);
            }
            return;
        }
        if (!seg.Has(TcpFlags.Syn))
        {
            Drop(now, seg, TcpCause.NotSynInSynSent);
            return;
        }

        Irs = seg.SequenceNumber;
        RcvNxt = seg.SequenceNumber + 1;
        TakeSynOptions(seg.Options, scaleOffered: true);
        if (hasAck)
        {
            // Our SYN is acknowledged: ESTABLISHED, answer with an ACK (the window in a SYN-ACK is not scaled).
            AcknowledgeSynAndWindow(now, seg, seg.Window);
            _rcvAdvertisedRight = RcvNxt + _synWindow;
            SetState(TcpState.Established, TcpCause.SynAckReceived);
            _ackNow = true;
            EnterEstablished(now);
            OnText(now, seg);
        }
        else
        {
            // Simultaneous open (RFC 9293 Figure 7): SYN-RECEIVED, and our SYN goes out again with an ACK.
            SndWnd = seg.Window;
            SndWl1 = seg.SequenceNumber;
            _maxSndWnd = SndWnd;
            SndNxt = Iss;
            Timers.Cancel(TcpTimer.Retransmission);
            SetState(TcpState.SynReceived, TcpCause.SimultaneousOpen);
        }
        _engine.MarkPending(this);
    }

    private void AcknowledgeSynAndWindow(TimeSpan now, in TcpSegment seg, uint window)
    {
        SndUna = seg.AcknowledgmentNumber;
        if (SndNxt < SndUna) SndNxt = SndUna;
        TakeRttSample(now, seg.AcknowledgmentNumber);
        _retries = 0;
        Timers.Cancel(TcpTimer.Retransmission);
        SndWnd = window;
        SndWl1 = seg.SequenceNumber;
        SndWl2 = seg.AcknowledgmentNumber;
        _maxSndWnd = Math.Max(_maxSndWnd, SndWnd);
    }

    private void OnReset(TimeSpan now, in TcpSegment seg)
    {
        if (seg.SequenceNumber != RcvNxt)
        {
            _ackNow = true;
            Drop(now, seg, TcpCause.ResetNotExact);
            return;
        }
        switch (State)
        {
            case TcpState.SynReceived when Listener is not null:
                // RFC 9293 §3.10.7.4: a passive open goes back to LISTEN; the listener never saw this connection.
                EnterClosed(TcpError.None, TcpCause.ResetReceived);
                break;
            case TcpState.SynReceived:
                EnterClosed(TcpError.ConnectionRefused, TcpCause.ConnectionRefused);
                break;
            case TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait:
                EnterClosed(TcpError.ConnectionReset, TcpCause.ResetReceived);
                break;
            case TcpState.TimeWait when _config.TimeWaitRst == TimeWaitRstPolicy.Ignore:
                Drop(now, seg, TcpCause.ResetIgnoredInTimeWait);
                break;
            default:
                // CLOSING, LAST-ACK, TIME-WAIT (Linux's default policy): the connection just ends.
                EnterClosed(TcpError.None, TcpCause.ResetReceived);
                break;
        }
    }

    /// <summary>Fifth step, the ACK field. Returns false when the segment is finished with.</summary>
    private bool OnAck(TimeSpan now, in TcpSegment seg)
    {
        SeqNumber ack = seg.AcknowledgmentNumber;
        _persistProbes = 0; // any acceptable ACK shows the peer is alive
        if (State == TcpState.SynReceived)
        {
            if (!(SndUna < ack && ack <= SndMax))
            {
                _engine.QueueReset(Id, ack, default, TcpFlags.Rst); // <SEQ=SEG.ACK><CTL=RST>
                Drop(now, seg, TcpCause.UnacceptableAck);
                return false;
            }
            if (Listener is { IsClosed: true })
            {
                ResetAndClose(TcpError.ConnectionAborted, TcpCause.ListenerClosed);
                return false;
            }
            if (Listener is not null && !Listener.HasRoomToAccept)
            {
                // Linux (tcp_abort_on_overflow = 0): drop the ACK and let the SYN-ACK retransmit until the queue has room.
                Drop(now, seg, TcpCause.AcceptQueueFull);
                return false;
            }
            AcknowledgeSynAndWindow(now, seg, (uint)seg.Window << _sndWndScale);
            SetState(TcpState.Established, TcpCause.AckOfSyn);
            EnterEstablished(now);
            if (Listener is not null)
            {
                InSynQueue = false;
                Listener.Enqueue(this);
            }
            return true;
        }

        if (ack > SndMax)
        {
            _ackNow = true;
            Drop(now, seg, TcpCause.AckOfUnsentData);
            return false;
        }

        uint window = (uint)seg.Window << _sndWndScale;
        bool windowChanged = window != SndWnd;
        if (ack > SndUna)
        {
            OnNewAck(now, ack);
        }
        else if (ack == SndUna && seg.Payload.IsEmpty && !seg.Has(TcpFlags.Syn) && !seg.Has(TcpFlags.Fin) && !windowChanged && SndMax > SndUna)
        {
            OnDuplicateAck();
        }

        // RFC 9293 §3.10.7.4: update the window only from segments newer than the last update.
        if (SndWl1 < seg.SequenceNumber || (SndWl1 == seg.SequenceNumber && SndWl2 <= ack))
        {
            bool opened = SndWnd == 0 && window > 0;
            SndWnd = window;
            SndWl1 = seg.SequenceNumber;
            SndWl2 = ack;
            _maxSndWnd = Math.Max(_maxSndWnd, window);
            if (opened)
            {
                Timers.Cancel(TcpTimer.Persist);
                _persistBackoff = 0;
            }
            if (windowChanged) _engine.MarkPending(this);
        }

        bool finAcked = OurFinAcked;
        switch (State)
        {
            case TcpState.FinWait1 when finAcked && !seg.Has(TcpFlags.Fin):
                EnterFinWait2(now);
                break;
            // FIN-WAIT-1 with a FIN that also acknowledges ours: the FIN step takes it straight to TIME-WAIT
            // (RFC 9293 §3.10.7.4 eighth, "if our FIN has been ACKed (perhaps in this segment)"; Figure 5's arc).
            case TcpState.Closing when finAcked:
                EnterTimeWait(now, TcpCause.AckOfOurFin);
                return false;
            case TcpState.LastAck when finAcked:
                EnterClosed(TcpError.None, TcpCause.AckOfOurFin);
                return false;
        }
        return true;
    }

    private SeqNumber FinSeq => _sendBufferSeq + _sendBuffer.Count;

    /// <summary>Our FIN has been sent and everything up to and including it is acknowledged.</summary>
    private bool OurFinAcked => _finQueued && SndMax == FinSeq + 1 && SndUna == SndMax;

    private void EnterFinWait2(TimeSpan now)
    {
        SetState(TcpState.FinWait2, TcpCause.AckOfOurFin);
        if (IsOrphaned) ArmFinWait2(now);
    }

    private void OnNewAck(TimeSpan now, SeqNumber ack)
    {
        int acked = ack - SndUna;
        int dataAcked = Math.Clamp(ack - _sendBufferSeq, 0, _sendBuffer.Count);
        _sendBuffer.Discard(dataAcked);
        _sendBufferSeq += dataAcked;
        SndUna = ack;
        if (SndNxt < SndUna) SndNxt = SndUna;
        TakeRttSample(now, ack);
        _retries = 0; // progress: the retry budget starts over (the backed-off RTO stays until an RTT sample, RFC 6298 §5.7)
        _keepAliveProbes = 0;

        if (_inFastRecovery)
        {
            if (ack >= _recover)
            {
                // RFC 6582 §3.2 step 3: a full ACK ends recovery; deflate to ssthresh.
                _inFastRecovery = false;
                _cwnd = Math.Min(_ssthresh, Math.Max(FlightSize, SendMss) + SendMss);
                _dupAcks = 0;
            }
            else
            {
                // RFC 6582 §3.2 step 3: a partial ACK retransmits the next hole and deflates by what it acknowledged.
                _retransmitHead = true;
                _cwnd = Math.Max(SendMss, _cwnd - acked + (acked >= SendMss ? SendMss : 0));
                Timers.Arm(TcpTimer.Retransmission, now + _rto.Rto);
            }
        }
        else if (_cwndLimited || (_cwnd < _ssthresh && _cwnd < 2 * (FlightSize + acked)))
        {
            _dupAcks = 0;
            if (_cwnd < _ssthresh)
            {
                _cwnd += Math.Min(acked, SendMss); // RFC 5681 §3.1 slow start (RFC 3465 L = 1 SMSS)
            }
            else
            {
                // RFC 5681 §3.1 congestion avoidance by appropriate byte counting: one SMSS per cwnd acknowledged.
                _bytesAckedInAvoidance += acked;
                if (_bytesAckedInAvoidance >= _cwnd)
                {
                    _bytesAckedInAvoidance -= _cwnd;
                    _cwnd += SendMss;
                }
            }
        }
        else
        {
            _dupAcks = 0; // the window or the application limits sending: cwnd has not been tested, so it stays
        }

        // RFC 6298 §5.2–5.3: stop the timer when everything is acknowledged, otherwise restart it.
        if (SndUna == SndMax)
        {
            Timers.Cancel(TcpTimer.Retransmission);
        }
        else if (!_inFastRecovery)
        {
            Timers.Arm(TcpTimer.Retransmission, now + _rto.Rto);
        }
        _engine.MarkPending(this);
    }

    private int FlightSize => SndMax - SndUna;

    private void OnDuplicateAck()
    {
        _dupAcks++;
        if (_inFastRecovery)
        {
            _cwnd += SendMss; // RFC 6582 §3.2 step 4 (RFC 5681 §3.2 step 4): inflate for each segment that left the network
            _engine.MarkPending(this);
            return;
        }
        // RFC 6582 §3.2 step 2: the third duplicate enters fast retransmit unless it is about data before 'recover'.
        if (_dupAcks == 3 && SndUna - 1 >= _recover)
        {
            _ssthresh = Math.Max(FlightSize / 2, 2 * SendMss);
            _recover = SndMax;
            _cwnd = _ssthresh + 3 * SendMss;
            _inFastRecovery = true;
            _retransmitHead = true;
            _engine.MarkPending(this);
        }
    }

    private void TakeRttSample(TimeSpan now, SeqNumber ack)
    {
        if (_rttSeq is SeqNumber timed && ack >= timed)
        {
            _rto.AddSample(now - _rttStart);
            _rttSeq = null;
        }
    }

    /// <summary>Seventh and eighth steps: segment text and FIN.</summary>
    private void OnText(TimeSpan now, in TcpSegment seg)
    {
        if (State is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived))
        {
            // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN, so text is a duplicate.
            if (seg.Payload.Length > 0 || seg.Has(TcpFlags.Fin)) _ackNow = true;
            return;
        }

        SeqNumber seq = seg.SequenceNumber;
        ReadOnlySpan<byte> payload = seg.Payload;
        bool fin = seg.Has(TcpFlags.Fin);
        if (seg.Has(TcpFlags.Syn)) seq += 1;

        // Trim what was already received off the front, and what lies beyond the window off the back.
        if (seq < RcvNxt)
        {
            int duplicate = RcvNxt - seq;
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
            if (!payload.IsEmpty || seg.Payload.Length > 0) _ackNow = true;
        }
        int room = (int)Math.Min(RcvWnd, int.MaxValue) - (seq - RcvNxt);
        if (payload.Length > room)
        {
            payload = payload[..Math.Max(0, room)];
            fin = false;
        }

        if (!payload.IsEmpty)
        {
            // RFC 2525 §2.17 / Linux: data for an application that has closed is answered with RST.
            if (IsOrphaned && State is TcpState.FinWait1 or TcpState.FinWait2)
            {
                ResetAndClose(TcpError.ConnectionAborted, TcpCause.DataAfterClose);
                return;
            }
            if (seq == RcvNxt)
            {
                bool hadGap = !_outOfOrder.IsEmpty;
                Deliver(payload);
                while (true)
                {
                    ReadOnlySpan<byte> next = _outOfOrder.TakeAt(RcvNxt);
                    if (next.IsEmpty) break;
                    Deliver(next);
                }
                if (hadGap)
                {
                    _ackNow = true; // RFC 5681 §4.2: ACK at once when a segment fills a gap
                }
                else if (++_segmentsSinceAck >= 2 || seg.Payload.Length < SendMss && _config.DelayedAck == TimeSpan.Zero)
                {
                    _ackNow = true; // RFC 1122 §4.2.3.2 / RFC 5681 §4.2: at least every second full-sized segment
                }
                else if (!Timers.IsArmed(TcpTimer.DelayedAck))
                {
                    Timers.Arm(TcpTimer.DelayedAck, now + _config.DelayedAck);
                }
            }
            else
            {
                _outOfOrder.Add(seq, payload);
                _ackNow = true; // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK)
            }
        }

        if (fin)
        {
            SeqNumber finAt = seq + payload.Length;
            if (finAt == RcvNxt)
            {
                OnFin(now);
            }
            else
            {
                _outOfOrder.FinSeq = finAt;
                _ackNow = true;
            }
        }
        else if (_outOfOrder.FinSeq is SeqNumber heldFin && heldFin == RcvNxt && _outOfOrder.IsEmpty)
        {
            OnFin(now);
        }
        if (_ackNow || Timers.IsArmed(TcpTimer.DelayedAck)) _engine.MarkPending(this);
    }

    private void Deliver(ReadOnlySpan<byte> data)
    {
        // After Shutdown(Receive) bytes are acknowledged and dropped (BSD's SHUT_RD); otherwise they fill the buffer,
        // which never overflows because the window advertised never exceeded its free space.
        int taken = _receiveShutdown ? data.Length : _receiveBuffer.Write(data);
        RcvNxt += taken;
    }

    private void OnFin(TimeSpan now)
    {
        // RFC 9293 §3.10.7.4 eighth: the FIN takes one sequence number and is acknowledged at once.
        _outOfOrder.FinSeq = null;
        RcvNxt += 1;
        _finReceived = true;
        switch (State)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait, TcpCause.FinReceived);
                // Linux delays this ACK (pingpong mode), so a FIN the application sends at once rides on it:
                // the FIN+ACK that takes the peer from FIN-WAIT-1 straight to TIME-WAIT.
                if (!_ackNow && !Timers.IsArmed(TcpTimer.DelayedAck)) Timers.Arm(TcpTimer.DelayedAck, now + _config.DelayedAck);
                break;
            case TcpState.FinWait1 when OurFinAcked:
                _ackNow = true;
                EnterTimeWait(now, TcpCause.FinWithAckOfOurFin);
                break;
            case TcpState.FinWait1:
                _ackNow = true;
                SetState(TcpState.Closing, TcpCause.SimultaneousClose);
                break;
            case TcpState.FinWait2:
                _ackNow = true;
                EnterTimeWait(now, TcpCause.FinInFinWait2);
                break;
        }
        _engine.MarkPending(this);
    }

    private void Drop(TimeSpan now, in TcpSegment seg, TcpCause cause)
    {
        _engine.Emit(new TcpEvent(now, TcpEventKind.Dropped, Id, State, State, cause, SegmentSummary.From(seg)));
        _engine.Counters.SegmentsDroppedByState++;
        if (_ackNow) _engine.MarkPending(this);
    }

    // ───────────────────────────── timers ─────────────────────────────

    /// <summary>One timer fired (<see cref="ConnectionTimers.FireDue"/> calls this, in its firing order).</summary>
    internal void OnTimer(TcpTimer timer, TimeSpan now)
    {
        switch (timer)
        {
            case TcpTimer.TimeWait:
                EnterClosed(TcpError.None, TcpCause.TimeWaitExpired);
                break;
            case TcpTimer.FinWait2:
                // Linux lets an orphaned FIN-WAIT-2 expire silently (tcp_fin_timeout); a later FIN from the peer gets RST.
                EnterClosed(TcpError.None, TcpCause.FinWait2Timeout);
                break;
            case TcpTimer.Retransmission:
                OnRetransmissionTimeout(now);
                break;
            case TcpTimer.Persist:
                OnPersistTimeout(now);
                break;
            case TcpTimer.DelayedAck:
                _ackNow = true;
                _engine.MarkPending(this);
                break;
            case TcpTimer.KeepAlive:
                OnKeepAliveTimeout(now);
                break;
        }
    }

    private int RetryLimit => State switch
    {
        TcpState.SynSent => _config.SynRetries,
        TcpState.SynReceived => _config.SynAckRetries,
        _ => IsOrphaned ? _config.OrphanRetries : _config.DataRetries,
    };

    private void OnRetransmissionTimeout(TimeSpan now)
    {
        if (_retries >= RetryLimit)
        {
            EnterClosed(TcpError.TimedOut, TcpCause.RetransmissionsExhausted);
            return;
        }
        _retries++;
        _rto.BackOff();
        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            _handshakeTimedOut = true; // sets the RTO to 3 s and the window to one segment at ESTABLISHED
        }
        else
        {
            // RFC 5681 §3.1 equation 4: after a timeout, ssthresh is half the flight and cwnd one segment (slow start).
            _ssthresh = Math.Max(FlightSize / 2, 2 * SendMss);
            _cwnd = SendMss;
        }
        _bytesAckedInAvoidance = 0;
        _inFastRecovery = false;
        _recover = SndMax;
        _dupAcks = 0;
        _rttSeq = null; // Karn's rule
        // Go back to the oldest unacknowledged byte (the SYN itself in the synchronizing states).
        SndNxt = SndUna;
        _engine.MarkPending(this);
    }

    private void OnPersistTimeout(TimeSpan now)
    {
        if (SndWnd != 0 || !HasDataOrFinToSend)
        {
            _persistBackoff = 0;
            return;
        }
        if (_persistProbes >= RetryLimit)
        {
            // RFC 1122 §4.2.2.17 keeps probing while the peer answers; unanswered, Linux gives up like a retransmission.
            EnterClosed(TcpError.TimedOut, TcpCause.ZeroWindowProbesUnanswered);
            return;
        }
        _persistProbes++;
        // A zero-window probe as Linux sends it: an old sequence number (SND.UNA - 1) and no data, so the peer
        // must answer with an ACK that carries its current window (RFC 9293 §3.8.6.1).
        _engine.SendControl(this, SndUna - 1, TcpFlags.Ack);
        _persistBackoff++;
        Timers.Arm(TcpTimer.Persist, now + PersistInterval);
    }

    private TimeSpan PersistInterval
    {
        get
        {
            TimeSpan interval = _rto.Rto;
            for (int i = 0; i < _persistBackoff && interval < _config.MaxRto; i++) interval *= 2;
            return interval > _config.MaxRto ? _config.MaxRto : interval;
        }
    }

    private void OnKeepAliveTimeout(TimeSpan now)
    {
        if (!KeepAlive || !(State is TcpState.Established or TcpState.CloseWait)) return;
        if (_keepAliveProbes == 0 && _lastActivity + KeepAliveIdle > now)
        {
            // Segments arrived since the timer was set: idle time counts from the last of them.
            Timers.Arm(TcpTimer.KeepAlive, _lastActivity + KeepAliveIdle);
            return;
        }
        if (SndMax != SndUna)
        {
            // Data is outstanding: the retransmission timer watches the peer; check again after an idle period.
            ArmKeepAlive(now);
            return;
        }
        if (_keepAliveProbes >= KeepAliveCount)
        {
            // Linux resets the connection when keepalive gives up (tcp_keepalive_timer sends an active reset).
            ResetAndClose(TcpError.TimedOut, TcpCause.KeepAliveTimeout);
            return;
        }
        // RFC 1122 §4.2.3.6: a probe carries SEG.SEQ = SND.NXT - 1 and no data, which the peer must acknowledge.
        _engine.SendControl(this, SndUna - 1, TcpFlags.Ack);
        _keepAliveProbes++;
        Timers.Arm(TcpTimer.KeepAlive, now + KeepAliveInterval);
    }

    private void ArmKeepAlive(TimeSpan now)
    {
        if (KeepAlive && State is TcpState.Established or TcpState.CloseWait)
        {
            Timers.Arm(TcpTimer.KeepAlive, now + KeepAliveIdle);
        }
        else
        {
            Timers.Cancel(TcpTimer.KeepAlive);
        }
    }

    private void ArmFinWait2(TimeSpan now) => Timers.Arm(TcpTimer.FinWait2, now + FinWait2Timeout);

    private void ArmTimeWait(TimeSpan now)
    {
        Timers.Arm(TcpTimer.TimeWait, now + _config.TimeWait);
        _engine.MarkPending(this);
    }

    // ───────────────────────────── state changes ─────────────────────────────

    private void SetState(TcpState next, TcpCause cause)
    {
        if (next == State) return;
        TcpState old = State;
        State = next;
        _engine.Emit(new TcpEvent(_engine.Now, TcpEventKind.StateChanged, Id, old, next, cause));
    }

    private void EnterEstablished(TimeSpan now)
    {
        if (_handshakeTimedOut)
        {
            _rto.RestartAfterHandshakeLoss();
            _cwnd = SendMss; // RFC 5681 §3.1: one segment after a lost SYN or SYN-ACK
        }
        ArmKeepAlive(now);
        if (_finQueued && State == TcpState.Established) SetState(TcpState.FinWait1, TcpCause.FinQueuedBeforeEstablished);
    }

    private void EnterTimeWait(TimeSpan now, TcpCause cause)
    {
        SetState(TcpState.TimeWait, cause);
        Timers.CancelAll();
        ArmTimeWait(now);
    }

    private void ResetAndClose(TcpError error, TcpCause cause)
    {
        _pendingReset = true;
        EnterClosed(error, cause);
    }

    private void EnterClosed(TcpError error, TcpCause cause)
    {
        if (error != TcpError.None && Error == TcpError.None)
        {
            Error = error;
            _engine.Emit(new TcpEvent(_engine.Now, TcpEventKind.ConnectionError, Id, State, TcpState.Closed, cause, Error: error));
        }
        SetState(TcpState.Closed, cause);
        Timers.CancelAll();
        _ackNow = false;
        _outOfOrder.Clear();
        _engine.MarkPending(this); // the engine sends a pending RST, then forgets the connection
    }

    // ───────────────────────────── output ─────────────────────────────

    private bool HasDataOrFinToSend => SndNxt < FinSeq || (_finQueued && SndNxt == FinSeq);

    /// <summary>Sends everything the state calls for: SYN, data, FIN, retransmissions, ACKs, a RST.</summary>
    internal void Dispatch(TimeSpan now)
    {
        if (State == TcpState.Closed)
        {
            if (_pendingReset)
            {
                _pendingReset = false;
                // Linux's active reset: RST|ACK at the next new sequence number (RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>;
                // SND.MAX here because SND.NXT may have gone back for a retransmission).
                _engine.SendControl(this, SndMax, TcpFlags.Rst | TcpFlags.Ack);
            }
            return;
        }
        if (State is TcpState.Listen) return;

        if (State is TcpState.SynSent or TcpState.SynReceived)
        {
            if (SndNxt == Iss) SendSyn(now);
            if (_ackNow && State == TcpState.SynReceived && SndNxt != Iss) SendAck();
            return;
        }

        if (_retransmitHead)
        {
            _retransmitHead = false;
            // Only what has been sent before: the data in flight, and the FIN if it went out (SND.MAX past it).
            bool finSent = _finQueued && SndMax == FinSeq + 1;
            int inFlightData = SndMax - SndUna - (finSent ? 1 : 0);
            if (inFlightData > 0 || finSent) SendSegment(now, SndUna, Math.Min(SendMss, inFlightData), fastRetransmit: true);
        }

        while (true)
        {
            SeqNumber dataEnd = FinSeq;
            int inFlight = SndNxt - SndUna;
            long window = Math.Min((long)SndWnd, _cwnd);
            int available = Math.Max(0, dataEnd - SndNxt);
            if (available > 0)
            {
                int usable = (int)Math.Max(0, window - inFlight);
                int length = Math.Min(Math.Min(available, SendMss), usable);
                _cwndLimited = _cwnd <= SndWnd && length < Math.Min(available, SendMss);
                if (length <= 0) break;
                bool full = length == SendMss;
                bool allOfIt = length == available;
                // RFC 896 Nagle and RFC 1122 §4.2.3.4 sender SWS avoidance: a segment smaller than the MSS goes only
                // when nothing is in flight (or TCP_NODELAY, or it ends the stream); a window-limited one waits for
                // the ACK in flight to open the window further.
                bool send = full || inFlight == 0 || (allOfIt && (NoDelay || _finQueued));
                if (!send) break;
                SendSegment(now, SndNxt, length, fastRetransmit: false);
                continue;
            }
            // A FIN takes a sequence number, so like Linux it waits for window room (and the persist timer probes).
            if (_finQueued && SndNxt == dataEnd && (SndNxt < SndMax || SndWnd > (uint)inFlight))
            {
                SendSegment(now, SndNxt, 0, fastRetransmit: false);
            }
            break;
        }

        if (_ackNow) SendAck();

        // RFC 9293 §3.8.6.1: with data waiting and a zero window, probe the window on a timer — also when a timeout
        // sent nothing (the peer shrank its window to zero under data in flight), which leaves no retransmission timer.
        if (SndWnd == 0 && HasDataOrFinToSend && !Timers.IsArmed(TcpTimer.Persist) && (SndMax == SndUna || !Timers.IsArmed(TcpTimer.Retransmission)))
        {
            Timers.Arm(TcpTimer.Persist, now + PersistInterval);
        }
    }

    private void SendSyn(TimeSpan now)
    {
        bool synAck = State == TcpState.SynReceived;
        var options = new TcpOptions { MaxSegmentSize = _config.Mss };
        // Offer window scaling in our SYN; in a SYN-ACK only when the peer offered it (RFC 7323 §2.2).
        if (!synAck || _windowScaling)
        {
            options.WindowScale = (byte)(synAck ? _rcvWndScale : OwnWindowScale());
        }
        bool retransmission = SndMax > Iss;
        var repr = new TcpRepr
        {
            SequenceNumber = Iss,
            AcknowledgmentNumber = synAck ? RcvNxt : default,
            Flags = synAck ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn,
            Window = (ushort)Math.Min(_receiveBuffer.Free, ushort.MaxValue), // RFC 7323 §2.2: a SYN's window is never scaled
            Options = options,
        };
        if (synAck) _rcvAdvertisedRight = RcvNxt + repr.Window;
        else _synWindow = repr.Window;
        SndNxt = Iss + 1;
        if (SndMax < SndNxt) SndMax = SndNxt;
        if (retransmission)
        {
            Retransmissions++;
            _engine.Counters.Retransmissions++;
            _rttSeq = null; // Karn's rule: the ACK may answer either copy
            _engine.Emit(new TcpEvent(now, TcpEventKind.Retransmission, Id, State, State, Segment: SegmentSummary.From(repr), Deadline: now + _rto.Rto, Attempt: _retries));
        }
        else
        {
            _rttSeq = Iss + 1;
            _rttStart = now;
        }
        _engine.Transmit(this, repr);
        if (synAck) ClearAckState();
        Timers.Arm(TcpTimer.Retransmission, now + _rto.Rto);
    }

    /// <summary>Sends data [seq, seq+length) from the send buffer, with FIN when it reaches the end and a FIN is queued.</summary>
    private void SendSegment(TimeSpan now, SeqNumber seq, int length, bool fastRetransmit)
    {
        SeqNumber finSeq = FinSeq;
        // A fast retransmission resends only what was sent: the FIN rides along only if it went out before.
        bool fin = _finQueued && seq + length == finSeq && (!fastRetransmit || SndMax == finSeq + 1);
        Span<byte> scratch = _engine.PayloadScratch;
        int offset = seq - _sendBufferSeq;
        ReadOnlySpan<byte> payload = _sendBuffer.Contiguous(offset, length);
        if (payload.Length != length)
        {
            _sendBuffer.Peek(offset, scratch[..length]);
            payload = scratch[..length];
        }
        var repr = new TcpRepr
        {
            SequenceNumber = seq,
            AcknowledgmentNumber = RcvNxt,
            Flags = TcpFlags.Ack | (fin ? TcpFlags.Fin : 0) | (length > 0 && seq + length == finSeq ? TcpFlags.Psh : 0),
            Window = AdvertiseWindow(),
            Payload = payload,
        };
        SeqNumber end = seq + length + (fin ? 1 : 0);
        bool retransmission = seq < SndMax;
        if (retransmission)
        {
            Retransmissions++;
            _engine.Counters.Retransmissions++;
            _rttSeq = null; // Karn's rule: never time a retransmitted segment
            _engine.Emit(new TcpEvent(now, TcpEventKind.Retransmission, Id, State, State,
                fastRetransmit ? TcpCause.FastRetransmit : TcpCause.RetransmissionTimeout, SegmentSummary.From(repr), Deadline: now + _rto.Rto, Attempt: fastRetransmit ? _dupAcks : _retries));
        }
        else if (_rttSeq is null)
        {
            _rttSeq = end;
            _rttStart = now;
        }
        _engine.Transmit(this, repr);
        ClearAckState();
        if (!fastRetransmit)
        {
            SndNxt = end;
            if (SndMax < end) SndMax = end;
        }
        if (!Timers.IsArmed(TcpTimer.Retransmission)) Timers.Arm(TcpTimer.Retransmission, now + _rto.Rto);
    }

    private void SendAck()
    {
        var repr = new TcpRepr
        {
            // SND.MAX, not SND.NXT: while going back after a timeout SND.NXT trails what the peer already holds, and
            // an ACK numbered below RCV.NXT would be unacceptable there, answered by an ACK, and so on (BSD does the same).
            SequenceNumber = SndMax,
            AcknowledgmentNumber = RcvNxt,
            Flags = TcpFlags.Ack,
            Window = AdvertiseWindow(),
        };
        _engine.Transmit(this, repr);
        ClearAckState();
    }

    /// <summary>Builds a control segment (probe, RST) for the engine with this connection's ACK and window.</summary>
    internal TcpRepr ControlSegment(SeqNumber seq, TcpFlags flags) => new()
    {
        SequenceNumber = seq,
        AcknowledgmentNumber = RcvNxt,
        Flags = flags,
        Window = (flags & TcpFlags.Rst) != 0 ? (ushort)0 : AdvertiseWindow(),
    };

    private void ClearAckState()
    {
        _ackNow = false;
        _segmentsSinceAck = 0;
        Timers.Cancel(TcpTimer.DelayedAck);
    }

    /// <summary>
    /// The 16-bit window field to send: free buffer space, with receiver silly-window avoidance (RFC 1122 §4.2.3.3:
    /// the right edge only moves by at least min(buffer/2, MSS)) and never shrinking (RFC 9293 §3.8.6.2.2).
    /// </summary>
    private ushort AdvertiseWindow()
    {
        long free = Math.Max(0, _receiveBuffer.Free - _outOfOrder.Count);
        if (_receiveShutdown) free = _receiveBuffer.Capacity;
        long current = Math.Max(0, _rcvAdvertisedRight - RcvNxt);
        long threshold = Math.Min(_receiveBuffer.Capacity / 2, _config.Mss);
        long offer = free - current >= threshold ? free : current;
        long field = Math.Min(offer >> _rcvWndScale, ushort.MaxValue);
        SeqNumber right = RcvNxt + (int)(field << _rcvWndScale);
        if (right > _rcvAdvertisedRight) _rcvAdvertisedRight = right;
        return (ushort)field;
    }
}
