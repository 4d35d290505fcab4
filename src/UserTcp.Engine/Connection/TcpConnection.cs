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
    /// <summary>The receiving half: the application reads no more.</summary>
    Receive = 1,
    /// <summary>The sending half: a FIN follows the queued data.</summary>
    Send = 2,
    /// <summary>Both halves.</summary>
    Both = Receive | Send,
}

/// <summary>
/// One connection: the transmission control block of RFC 9293 §3.3.1 and its state machine (§3.10). The state
/// machine lives here (this file: user calls and state changes; .Arrival: segment arrival; .Output: what is sent;
/// .Timers: what timers do); the sequence spaces live in <see cref="Sender"/> and <see cref="Receiver"/>, timers in
/// <see cref="ConnectionTimers"/>, and congestion control behind <see cref="ICongestionControl"/>. Single-owner and
/// pure like the engine: user calls change state and mark the connection; <see cref="TcpEngine.Poll"/> sends.
/// </summary>
public sealed partial class TcpConnection
{
    private readonly TcpEngine _engine;
    private readonly TcpConfig _config;
    private readonly Sender _sender;
    private readonly Receiver _receiver;
    private readonly NegotiatedOptions _options;
    private readonly TimestampState _timestamps;
    // When the last segment arrived: keepalive idles from here.
    private TimeSpan _lastActivity;
    private int _keepAliveProbes;
    // Our SYN (or SYN-ACK) is to be sent (again) at the next dispatch.
    private bool SynDue { get => Has(ConnectionFlags.SynDue); set => Set(ConnectionFlags.SynDue, value); }
    // TCP_DEFER_ACCEPT: the peer's bare final ACK came and was dropped; the connection waits for data.
    private bool DeferredAckSeen { get => Has(ConnectionFlags.DeferredAckSeen); set => Set(ConnectionFlags.DeferredAckSeen, value); }
    // A RST goes out when the engine dispatches this closed connection.
    private bool PendingReset { get => Has(ConnectionFlags.PendingReset); set => Set(ConnectionFlags.PendingReset, value); }
    private TcpState _state = TcpState.Closed;
    // Set when TIME-WAIT has been handed over to a compact record: the engine keeps the record, not this connection.
    private TimeWaitRecord? _timeWait;

    internal TcpConnection(TcpEngine engine, FourTuple id, TcpConfig config, SeqNumber iss, TcpPassiveOpen? listener, uint timestampOffset)
    {
        _engine = engine;
        _config = config;
        Id = id;
        Listener = listener;
        Timers = new ConnectionTimers(this, engine);
        _sender = new Sender(config, iss, Timers, engine.BufferPool, engine.Counters) { NoDelay = config.NoDelay };
        _receiver = new Receiver(config, Timers, _sender.Rto, engine.BufferPool, engine.Counters);
        _options = new NegotiatedOptions(config);
        _timestamps = new TimestampState(timestampOffset);
        KeepAliveIdle = config.KeepAliveIdle;
        KeepAliveInterval = config.KeepAliveInterval;
        KeepAliveCount = config.KeepAliveCount;
        SynRetries = config.SynRetries;
        FinWait2Timeout = config.FinWait2Timeout;
        KeepAlive = config.KeepAlive;
        UserTimeout = config.UserTimeout;
        PathMtuDiscovery = config.PathMtuDiscovery;
        TypeOfService = config.TypeOfService;
    }

    /// <summary>The connection's local and remote endpoints, its identity in the engine.</summary>
    public FourTuple Id { get; }
    /// <summary>Our address and port.</summary>
    public IpEndpoint LocalEndpoint => Id.Local;
    /// <summary>The peer's address and port.</summary>
    public IpEndpoint RemoteEndpoint => Id.Remote;
    // The BCL enum's default is Unknown; a new TCB starts in CLOSED (RFC 9293 §3.3.2).
    /// <summary>The RFC 9293 state the connection is in; once handed over to a <see cref="TimeWaitRecord"/>, the record's (TIME-WAIT, then CLOSED).</summary>
    public TcpState State
    {
        get => _timeWait?.State ?? _state;
        private set => _state = value;
    }
    /// <summary>Why the connection failed; None while it has not.</summary>
    public TcpError Error { get; private set; }
    /// <summary>The listener that made this connection by passive open; null for active opens.</summary>
    public TcpPassiveOpen? Listener { get; }

    /// <summary>ISS: our initial send sequence number.</summary>
    public SeqNumber Iss => _sender.Iss;
    /// <summary>SND.UNA: oldest unacknowledged sequence number.</summary>
    public SeqNumber SndUna => _sender.SndUna;
    /// <summary>SND.NXT: next sequence number to send (the oldest segment deemed lost, after a timeout: go-back-N).</summary>
    public SeqNumber SndNxt => SynDue ? Iss : _sender.SndNxt;
    /// <summary>Highest sequence number sent so far plus one (BSD's snd_max); SND.NXT &lt;= this.</summary>
    public SeqNumber SndMax => _sender.SndMax;
    /// <summary>SND.WND: the peer's window, scaled.</summary>
    public uint SndWnd => _sender.SndWnd;
    /// <summary>SND.WL1: segment sequence number used for the last window update.</summary>
    public SeqNumber SndWl1 => _sender.SndWl1;
    /// <summary>SND.WL2: segment acknowledgment number used for the last window update.</summary>
    public SeqNumber SndWl2 => _sender.SndWl2;
    /// <summary>IRS: the peer's initial sequence number.</summary>
    public SeqNumber Irs => _receiver.Irs;
    /// <summary>RCV.NXT: next sequence number expected.</summary>
    public SeqNumber RcvNxt => _receiver.RcvNxt;
    /// <summary>RCV.WND: the window currently offered to the peer.</summary>
    public uint RcvWnd => _receiver.Window;

    /// <summary>Largest payload sent in one segment: the peer's MSS option (536 without one), capped by ours.</summary>
    public int SendMss => _sender.Mss;
    /// <summary>
    /// The largest payload a new segment carries now: <see cref="SendMss"/> cut to half the peer's largest window
    /// (Linux's mss_cache, which TCP_MAXSEG and tcpi_snd_mss report).
    /// </summary>
    public int SegmentMss => _sender.SegmentMss;
    /// <summary>Both SYNs carried SACK-permitted (and this side allows it): SACK blocks flow both ways.</summary>
    public bool SackEnabled => _options.Sack;
    /// <summary>Both SYNs carried timestamps (and this side allows them): every segment carries TSval and TSecr.</summary>
    public bool TimestampsEnabled => _options.Timestamps;
    /// <summary>Both SYNs carried window scale: <see cref="SndWnd"/> and <see cref="RcvWnd"/> are scaled.</summary>
    public bool WindowScalingEnabled => _options.WindowScaling;
    /// <summary>The shift the peer applies to its windows, and ours (RFC 7323 §2.3).</summary>
    public (int Send, int Receive) WindowScale => (_options.SendWindowShift, _options.ReceiveWindowShift);
    /// <summary>The congestion window (cwnd), in bytes.</summary>
    public int CongestionWindow => _sender.CongestionWindow;
    /// <summary>The slow-start threshold (ssthresh), in bytes.</summary>
    public int SlowStartThreshold => _sender.SlowStartThreshold;
    /// <summary>In loss recovery (fast recovery: NewReno, RFC 6675 or RACK).</summary>
    public bool InFastRecovery => _sender.InRecovery;
    /// <summary>The retransmission timeout now (RFC 6298).</summary>
    public TimeSpan Rto => _sender.Rto.Rto;
    /// <summary>The smoothed round-trip time (SRTT, RFC 6298).</summary>
    public TimeSpan SmoothedRtt => _sender.Rto.SmoothedRtt;
    /// <summary>The smallest round-trip time measured.</summary>
    public TimeSpan MinRtt => _sender.Rto.MinRtt;
    /// <summary>Segments sent again, by any cause, over the connection's life (Linux tcpi_total_retrans).</summary>
    public int Retransmissions => _sender.Retransmissions;
    /// <summary>Sequence space (payload, SYN and FIN) sent again over the connection's life.</summary>
    public long BytesRetransmitted => _sender.BytesRetransmitted;
    /// <summary>Retransmission timeouts over the connection's life.</summary>
    public int RetransmissionTimeouts => _sender.Timeouts;

    /// <summary>
    /// The congestion-control algorithm (TCP_CONGESTION): the configuration's unless changed. It may change at any
    /// time, as on Linux; the new algorithm starts from the current cwnd and ssthresh, and on a synchronized connection
    /// from its SRTT (tcp_reinit_congestion_control).
    /// </summary>
    public CongestionControlAlgorithm CongestionControl
    {
        get => _sender.Algorithm;
        set
        {
            if (value == _sender.Algorithm) return;
            _sender.Algorithm = value;
            if (State.IsSynchronized()) _sender.InitCongestionControl();
        }
    }

    /// <summary>The application has closed the connection: it will never read or write again.</summary>
    public bool IsOrphaned { get => Has(ConnectionFlags.IsOrphaned); private set => Set(ConnectionFlags.IsOrphaned, value); }
    /// <summary>True once the application shut down sending (a FIN is queued or sent).</summary>
    public bool IsSendShutdown => _sender.Buffer.FinQueued;
    /// <summary>True once the application shut down receiving.</summary>
    public bool IsReceiveShutdown => _receiver.IsShutdown;
    /// <summary>Bytes waiting to be read.</summary>
    public int BytesToRead => _receiver.BytesToRead;
    /// <summary>The receive buffer's size now: the configured one, or as receive-buffer auto-tuning has grown it.</summary>
    public int ReceiveBufferSize => _receiver.BufferSize;
    /// <summary>Room left in the send buffer for data (under Linux's accounting, with the chunk a write may pass the limit by).</summary>
    public int SendBufferFree => _sender.Buffer.Free;

    /// <summary>
    /// SO_SNDBUF: the bytes of data the send buffer holds. It may change at any time, as Linux's: a smaller buffer keeps
    /// what is queued and takes no more writes until it has drained below the new size.
    /// </summary>
    public int SendBufferSize
    {
        get => _sender.Buffer.Capacity;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            // The stack's cap applies as at the connection's start (TcpConfig.MaxSendBufferSize, Linux's wmem_max).
            _sender.Buffer.Capacity = Math.Min(value, Math.Max(_engine.Config.MaxSendBufferSize, _engine.Config.SendBufferSize));
        }
    }

    /// <summary>
    /// TCP_NOTSENT_LOWAT: a write stops taking data once this many bytes wait unsent (rounded up to the chunk Linux's
    /// write fills, <see cref="Sender.SizeGoal"/>), and <see cref="IsWritable"/> holds only while fewer than half do.
    /// Null: the configuration's (<see cref="TcpConfig.NotSentLowWatermark"/>, no limit by default).
    /// </summary>
    public uint? NotSentLowWatermark
    {
        get => _notSentLowWatermark == 0 ? null : _notSentLowWatermark;
        set => _notSentLowWatermark = value ?? 0;
    }

    // Linux's own encoding: 0 is the configuration's (tcp_notsent_lowat); four bytes per connection, not a nullable's eight.
    private uint _notSentLowWatermark;

    /// <summary>TCP_DEFER_ACCEPT in SYN-ACK timeouts (0 off), from the listener's configuration.</summary>
    private int DeferAcceptTimeouts => Listener is null ? 0 : DeferAcceptPeriod.Timeouts(_config.DeferAccept, _config.InitialRto, _config.MaxRto);

    private uint EffectiveNotSentLowWatermark => _notSentLowWatermark == 0 ? _config.NotSentLowWatermark : _notSentLowWatermark;

    /// <summary>
    /// Whether a write would find room, as Linux's poll reports EPOLLOUT (__sk_stream_is_writeable): the send buffer's
    /// free room is at least half of what it holds, and the unsent bytes are below half the low-water mark.
    /// </summary>
    public bool IsWritable => _sender.IsWritable(EffectiveNotSentLowWatermark);

    /// <summary>
    /// Under Linux's accounting (<see cref="SendBufferAccounting.LinuxTruesize"/>) a write that found no room sleeps in
    /// sk_stream_wait_memory until sk_stream_write_space finds the connection writable (<see cref="IsWritable"/>), or it
    /// fails or is shut down; room an ACK frees before that does not wake it. Always false under data-byte accounting.
    /// </summary>
    public bool WriteWaitsForWakeup =>
        _config.SendBufferAccounting == SendBufferAccounting.LinuxTruesize && Error == TcpError.None && !IsSendShutdown
        && State is TcpState.Established or TcpState.CloseWait && !IsWritable;
    /// <summary>Bytes queued but not yet acknowledged by the peer.</summary>
    public int BytesUnacknowledged => _sender.Buffer.Count;
    /// <summary>The peer's FIN has arrived (all data before it too).</summary>
    public bool FinReceived => _receiver.FinReceived;

    /// <summary>Send segments smaller than the MSS at once (TCP_NODELAY) rather than after the previous ACK (RFC 896).</summary>
    public bool NoDelay
    {
        get => _sender.NoDelay;
        set
        {
            _sender.NoDelay = value;
            // Setting it pushes what is queued, past a cork or MSG_MORE (Linux do_tcp_setsockopt TCP_NODELAY).
            if (value)
            {
                _sender.Push();
                _engine.MarkPending(this);
            }
        }
    }

    /// <summary>
    /// TCP_CORK: segments smaller than the MSS wait until it is pulled (then what is queued goes at once), or the FIN;
    /// with nothing in flight, at most one RTO (Linux's probe timer, tcp(7)'s 200 ms ceiling).
    /// </summary>
    public bool Corked
    {
        get => _sender.Corked;
        set
        {
            _sender.Corked = value;
            if (!value) _engine.MarkPending(this);
        }
    }

    /// <summary>
    /// TCP_QUICKACK as on Linux: false enters pingpong mode (ACKs wait the delayed-ACK time, hoping to ride on data)
    /// until a delayed ACK has to go out alone; true leaves it and sends a scheduled ACK at once. Not permanent, as
    /// tcp(7) warns: the engine moves in and out of pingpong mode by itself too.
    /// </summary>
    public bool QuickAck
    {
        get => _receiver.QuickAck;
        set
        {
            _receiver.SetQuickAck(value, _engine.Now);
            if (_receiver.AckNow) _engine.MarkPending(this);
        }
    }

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
    /// <summary>
    /// SYN retransmissions before connecting fails (TCP_SYNCNT). Read at each timeout, so setting it after the SYN left
    /// applies to that SYN, as Linux's tcp_write_timeout reads icsk_syn_retries (nonblocking-connect-bypass-errno.pkt).
    /// </summary>
    public int SynRetries { get => _synRetries; set => _synRetries = (byte)Math.Clamp(value, 0, byte.MaxValue); }
    // A byte: TCP_SYNCNT is at most 127 (Linux's MAX_TCP_SYNCNT), and every connection carries it.
    private byte _synRetries;
    /// <summary>How long this connection, once orphaned, may wait in FIN-WAIT-2 (TCP_LINGER2).</summary>
    public TimeSpan FinWait2Timeout { get; set; }
    /// <summary>
    /// SO_LINGER with a zero timeout: <see cref="Close()"/> aborts with a RST instead of a FIN. (A non-zero linger, which
    /// makes close() wait for the FIN to be acknowledged, is the runtime's to implement; the engine never blocks.)
    /// </summary>
    public bool LingerZero { get => Has(ConnectionFlags.LingerZero); set => Set(ConnectionFlags.LingerZero, value); }

    /// <summary>This connection's timers: the one place they are armed, cancelled and fired.</summary>
    internal ConnectionTimers Timers { get; }
    /// <summary>The connection is on the engine's list of connections with output to send.</summary>
    internal bool IsPending { get => Has(ConnectionFlags.IsPending); set => Set(ConnectionFlags.IsPending, value); }
    /// <summary>A passive open still counted in its listener's SYN queue (not yet handed to the accept queue).</summary>
    internal bool InSynQueue { get => Has(ConnectionFlags.InSynQueue); set => Set(ConnectionFlags.InSynQueue, value); }
    /// <summary>The congestion-control instance, for tests that check its curve.</summary>
    internal ICongestionControl CongestionController => _sender.CongestionControl;
    /// <summary>What the sender has in the network (RFC 6675 pipe), in bytes, for tests.</summary>
    internal int SenderInFlight => _sender.InFlight;
    /// <summary>Whether any pool memory is held: send or receive bytes, or a retransmission queue ring (memory on demand).</summary>
    internal bool HoldsBufferMemory => _sender.Buffer.HoldsMemory || _sender.Queue.HoldsRing || _receiver.HoldsMemory;
    /// <summary>TS.Recent and our TSval clock.</summary>
    internal TimestampState Timestamps => _timestamps;

    /// <summary>Armed deadlines, for tests and the lab.</summary>
    public TimeSpan? TimerDeadline(TcpTimer timer) =>
        _timeWait is null ? Timers.Deadline(timer) : timer == TcpTimer.TimeWait ? _timeWait.Deadline : null;

    /// <summary>The compact record that holds this connection's TIME-WAIT; null before it.</summary>
    internal TimeWaitRecord? TimeWaitRecord => _timeWait;

    /// <summary>
    /// Now that the ACK of the peer's FIN is out, TIME-WAIT moves to a compact record (Linux's tcp_time_wait): what it
    /// needs is copied, the timers and any pool memory are let go, and the engine forgets this connection.
    /// </summary>
    internal TimeWaitRecord HandOverToTimeWait()
    {
        TimeSpan deadline = Timers.Deadline(TcpTimer.TimeWait) ?? _engine.Now + _config.TimeWait;
        ushort windowField = _receiver.AdvertiseWindow(sent: false); // kept for the record's ACKs, which Linux's TIME-WAIT sends without tcp_select_window
        var record = new TimeWaitRecord(_engine, _config, Id, SndMax, RcvNxt, windowField, _receiver.Window, _options.Timestamps ? _timestamps : null);
        Timers.CancelAll();
        _sender.ReleaseMemory();
        _receiver.Clear();
        _timeWait = record;
        record.Start(deadline);
        return record;
    }

    /// <summary>"local&lt;-&gt;remote STATE".</summary>
    public override string ToString() => $"{Id} {State.ToRfcName()}";

    // ───────────────────────────── user calls (RFC 9293 §3.10.1–3.10.6) ─────────────────────────────

    /// <summary>
    /// Queues bytes for sending; returns how many fit in the send buffer (0 when it is full). With
    /// <paramref name="endOfRecord"/> (MSG_EOR) and all of them queued, they end a record: no segment carries them
    /// together with later data. With <paramref name="moreComing"/> (MSG_MORE) a partial segment at their end is not
    /// pushed and this write does not send it: the next write, an ACK (under Nagle) or, with nothing in flight, the
    /// probe timer one RTO later does (Linux's tcp_push with TCP_NAGLE_CORK, then tp->nonagle).
    /// </summary>
    /// <exception cref="TcpException">The connection cannot send: shut down, failed or not open.</exception>
    public int Send(ReadOnlySpan<byte> data, bool endOfRecord = false, bool moreComing = false)
    {
        if (Error != TcpError.None) throw new TcpException(Error, $"send on {Id}: {Error}");
        if (IsSendShutdown) throw new TcpException(TcpError.Shutdown, $"send on {Id} after its send side was shut down");
        if (State is TcpState.Closed or TcpState.Listen) throw new TcpException(TcpError.NotConnected, $"send on {Id} in {State.ToRfcName()}");
        int accepted = WriteWithinMemory(data[.._sender.WriteAllowance(data.Length, EffectiveNotSentLowWatermark)]);
        OnWritten(_engine.Now, data.Length, accepted);
        if (accepted > 0) _sender.RestartAfterIdle(_engine.Now); // Linux's tcp_skb_entail: new data after idle (RFC 5681 §4.1)
        if (endOfRecord && accepted == data.Length && accepted > 0) _sender.Buffer.EndRecord();
        if (accepted > 0) _sender.MoreComing = moreComing; // MSG_MORE: this write does not send its tail (Linux tcp_push with TCP_NAGLE_CORK)
        if (accepted > 0) _engine.MarkPending(this);
        if (accepted > 0 && _fastOpen is not null) OnFastOpenWrite(); // a SYN waiting for data goes with it
        if (accepted > 0 && Timers.IsArmed(TcpTimer.CloseWait)) ArmCloseWaitIdle(_engine.Now);
        return accepted;
    }

    /// <summary>Copies received bytes out. A reset connection throws once its data has been read.</summary>
    public ReceiveStatus Receive(Span<byte> buffer, out int bytesRead)
    {
        bytesRead = 0;
        if (_receiver.BytesToRead > 0 && !buffer.IsEmpty)
        {
            bytesRead = _receiver.Read(buffer, _engine.Now);
            // Tell the peer when reading really moved the window's right edge (RFC 9293 §3.8.6.2.2, Linux tcp_cleanup_rbuf),
            // or send a delayed ACK that reading the short segments it waits for makes due (tcp_cleanup_rbuf too).
            if (State.IsSynchronized() && (_receiver.WindowUpdateWorthSending || _receiver.AckDueOnRead))
            {
                _receiver.AckNow = true;
                _engine.MarkPending(this);
            }
            return ReceiveStatus.Data;
        }
        if (Error is not (TcpError.None or TcpError.ConnectionAborted)) throw new TcpException(Error, $"receive on {Id}: {Error}");
        if (_receiver.FinReceived || _receiver.IsShutdown || State == TcpState.Closed) return ReceiveStatus.EndOfStream;
        return ReceiveStatus.WouldBlock;
    }

    /// <summary>
    /// Send: queue a FIN after the buffered data (half-close; receiving goes on). Receive: as Linux's SHUT_RD, data
    /// queued or still arriving stays readable and reads end (0) once the buffer is empty; in FIN-WAIT-1/2 new data
    /// then resets the connection (RFC 1122 §4.2.2.13's rule for a closed receive side, Linux tcp_rcv_state_process).
    /// </summary>
    public void Shutdown(ShutdownDirection how)
    {
        if ((how & ShutdownDirection.Receive) != 0) _receiver.ShutdownReceive();
        if ((how & ShutdownDirection.Send) != 0 && !IsSendShutdown) QueueFin(TcpCause.ShutdownSend);
    }

    /// <summary>
    /// Close: the application is done. With unread data the connection is reset (RFC 2525 §2.17, as Linux does);
    /// otherwise the FIN goes out after buffered data and the connection is orphaned.
    /// </summary>
    public void Close() => Close(TcpCause.Close);

    // The application's close, or the opt-in CLOSE-WAIT timeout acting for it (the cause says which).
    private void Close(TcpCause cause)
    {
        if (IsOrphaned || State == TcpState.Closed) return;
        // Linux's __tcp_close frees the unread data first, so the RST that follows offers the window its buffer now has.
        bool unread = _receiver.DiscardUnread();
        if (LingerZero)
        {
            // Linux's tcp_close: unread data counts as TCPAbortOnClose, else a zero-linger reset as TCPAbortOnData.
            if (State is TcpState.SynReceived or TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait)
            {
                _engine.Counters.Count(unread ? MibCounter.TcpExtTCPAbortOnClose : MibCounter.TcpExtTCPAbortOnData);
            }
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
            case TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.SynReceived when unread:
                IsOrphaned = true;
                ResetAndClose(TcpError.ConnectionAborted, cause == TcpCause.Close ? TcpCause.CloseWithUnreadData : cause);
                return;
        }
        IsOrphaned = true;
        _receiver.ShutdownReceive();
        if (!IsSendShutdown) QueueFin(cause);
        if (State == TcpState.FinWait2) ArmFinWait2(_engine.Now);
    }

    /// <summary>RFC 9293 §3.10.5 ABORT: a RST in synchronized states (and SYN-RECEIVED), then CLOSED.</summary>
    public void Abort()
    {
        if (_timeWait is not null) IsOrphaned = true; // as on Linux, the application's socket no longer owns the TIME-WAIT
        if (State == TcpState.Closed || _timeWait is not null) return;
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

    /// <summary>
    /// A SYN-RECEIVED connection whose listener closed: gone without a RST, as Linux's inet_csk_listen_stop drops
    /// request sockets (the application never saw it, so this is no ABORT of its connection, RFC 9293 §3.10.5).
    /// </summary>
    internal void DropHalfOpen()
    {
        IsOrphaned = true;
        EnterClosed(TcpError.ConnectionAborted, TcpCause.Abort);
    }

    private void QueueFin(TcpCause cause)
    {
        _sender.Buffer.FinQueued = true;
        switch (State)
        {
            case TcpState.Established:
                SetState(TcpState.FinWait1, cause);
                break;
            case TcpState.CloseWait:
                Timers.Cancel(TcpTimer.CloseWait);
                SetState(TcpState.LastAck, cause);
                break;
                // SYN-SENT and SYN-RECEIVED: the FIN waits for ESTABLISHED (RFC 9293 §3.10.4 "queue for processing").
        }
        _engine.MarkPending(this);
    }

    // ───────────────────────────── state changes ─────────────────────────────

    private void SetState(TcpState next, TcpCause cause)
    {
        if (next == State) return;
        TcpState old = State;
        State = next;
        if (old == TcpState.SynReceived) LeftSynReceived(next, cause);
        _engine.Emit(new TcpEvent(_engine.Now, TcpEventKind.StateChanged, Id, old, next, cause));
    }

    private void EnterEstablished(TimeSpan now)
    {
        _establishedAt = now;
        _sender.Ecn = EcnOk; // RFC 3168 §6.1.1: settled by both SYNs
        _sender.OnEstablished();
        _receiver.OnEstablished();
        ArmKeepAlive(now);
        if (IsSendShutdown && State == TcpState.Established) SetState(TcpState.FinWait1, TcpCause.FinQueuedBeforeEstablished);
    }

    private void EnterFinWait2(TimeSpan now)
    {
        SetState(TcpState.FinWait2, TcpCause.AckOfOurFin);
        if (IsOrphaned) ArmFinWait2(now);
    }

    private void EnterTimeWait(TimeSpan now, TcpCause cause)
    {
        SetState(TcpState.TimeWait, cause);
        Timers.CancelAll();
        ArmTimeWait(now);
    }

    private void ResetAndClose(TcpError error, TcpCause cause)
    {
        PendingReset = true;
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
        _sender.Stop();
        _receiver.AckNow = false;
        _receiver.Clear();
        _engine.MarkPending(this); // the engine sends a pending RST, then forgets the connection
    }
}
