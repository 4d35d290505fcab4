using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// A connection in TIME-WAIT, shrunk to what TIME-WAIT needs, as Linux's <c>tcp_timewait_sock</c> (issue 10): the
/// engine lets the full <see cref="TcpConnection"/> go once it has acknowledged the peer's FIN, and keeps this record
/// until 2MSL has passed. It re-acknowledges a retransmitted FIN (restarting 2MSL), answers what deserves an ACK, ends
/// on a RST per <see cref="TcpConfig.TimeWaitRst"/>, and lets a newer SYN open a new connection (RFC 6191). An
/// application that still holds the connection sees its state through here.
/// </summary>
public sealed class TimeWaitRecord : TimedEntry
{
    private readonly TcpEngine _engine;
    private readonly TcpConfig _config;
    // TS.Recent and our TSval clock; null when the connection negotiated no timestamps.
    private readonly TimestampState? _timestamps;
    // The window the record's ACKs carry (the field, already scaled down) and the one it accepts segments in.
    private readonly ushort _windowField;
    private readonly uint _window;
    // Linux's tw_last_oow_ack_time: one budget for the limited answers (tcp_oow_rate_limited).
    private InvalidAckLimit _invalidAcks;

    internal TimeWaitRecord(TcpEngine engine, TcpConfig config, FourTuple id, SeqNumber sndNxt, SeqNumber rcvNxt,
        ushort windowField, uint window, TimestampState? timestamps)
    {
        _engine = engine;
        _config = config;
        Id = id;
        SndNxt = sndNxt;
        RcvNxt = rcvNxt;
        _windowField = windowField;
        _window = window;
        _timestamps = timestamps;
    }

    /// <summary>The connection's local and remote endpoints.</summary>
    public FourTuple Id { get; }
    /// <summary>SND.NXT: past our FIN, which the peer has acknowledged.</summary>
    public SeqNumber SndNxt { get; }
    /// <summary>RCV.NXT: past the peer's FIN.</summary>
    public SeqNumber RcvNxt { get; }
    /// <summary>TIME-WAIT until 2MSL has passed (or a RST or a new SYN ended it), then CLOSED.</summary>
    public TcpState State { get; private set; } = TcpState.TimeWait;
    /// <summary>When TIME-WAIT ends; null once it has.</summary>
    public TimeSpan? Deadline { get; private set; }
    /// <summary>TS.Recent, when timestamps are in use.</summary>
    public uint? TsRecent => _timestamps is { HasRecent: true } ts ? ts.Recent : null;

    internal override TimeSpan? NextDeadline => Deadline;

    /// <summary>Takes over the 2MSL timer the connection armed.</summary>
    internal void Start(TimeSpan deadline)
    {
        Deadline = deadline;
        _engine.Timers.Reschedule(this);
    }

    /// <summary>(Re)starts 2MSL from <paramref name="now"/>.</summary>
    internal void Arm(TimeSpan now)
    {
        TimeSpan deadline = now + _config.TimeWait;
        Deadline = deadline;
        if (_engine.Publishes(TcpEventKind.TimerSet)) _engine.Emit(new TcpEvent(now, TcpEventKind.TimerSet, Id, State, State, Timer: TcpTimer.TimeWait, Deadline: deadline));
        _engine.Timers.Reschedule(this);
    }

    /// <summary>The 2MSL timer fired.</summary>
    internal void Expire(TimeSpan now)
    {
        if (_engine.Publishes(TcpEventKind.TimerFired)) _engine.Emit(new TcpEvent(now, TcpEventKind.TimerFired, Id, State, State, Timer: TcpTimer.TimeWait));
        _engine.Counters.Count(MibCounter.TcpExtTW);
        End(now, TcpCause.TimeWaitExpired);
    }

    /// <summary>
    /// RFC 6191 §2 (as Linux's tcp_timewait_state_process): a SYN may start a new connection on this 4-tuple when its
    /// timestamp is newer than TS.Recent, or equal to it with a sequence number beyond RCV.NXT (a peer that reconnects
    /// within its timestamp clock's tick); without timestamps, when its sequence number is beyond RCV.NXT.
    /// </summary>
    internal bool AcceptsNewSyn(in TcpSegment syn)
    {
        if (!syn.Has(TcpFlags.Syn) || (syn.Flags & (TcpFlags.Ack | TcpFlags.Rst)) != 0) return false;
        if (_timestamps is { HasRecent: true } recent && syn.Options.Timestamp is TcpTimestamp ts)
            return recent.IsNewer(ts.Value) || ts.Value == recent.Recent && syn.SequenceNumber > RcvNxt;
        return syn.SequenceNumber > RcvNxt;
    }

    /// <summary>The ISS of the connection that replaces this one: well beyond anything it sent (Linux: SND.NXT + 65537).</summary>
    internal SeqNumber SuccessorIss => SndNxt + 65535 + 2;

    /// <summary>TIME-WAIT is over: CLOSED, out of the engine's table and timers.</summary>
    internal void End(TimeSpan now, TcpCause cause)
    {
        if (State == TcpState.Closed) return;
        State = TcpState.Closed;
        Deadline = null;
        _engine.Emit(new TcpEvent(now, TcpEventKind.StateChanged, Id, TcpState.TimeWait, TcpState.Closed, cause));
        _engine.ForgetTimeWait(this);
    }

    /// <summary>
    /// A segment for this 4-tuple, in the order a connection takes it (RFC 9293 §3.10.7.4, RFC 7323 §5). Any segment but a
    /// RST that carries an ACK or fails PAWS restarts 2MSL, as Linux's tcp_timewait_state_process does ("we must reset the
    /// TIMEWAIT timer"), where RFC 9293 restarts it only for a retransmitted FIN: an old duplicate still arriving says the
    /// network still holds the connection's segments (docs/design.md "The engine", TIME-WAIT restarts).
    /// </summary>
    internal void OnSegment(TimeSpan now, in TcpSegment seg)
    {
        bool pawsRejected = Respond(now, seg);
        if (State == TcpState.TimeWait && !seg.Has(TcpFlags.Rst) && (seg.Has(TcpFlags.Ack) || seg.Has(TcpFlags.Fin) || pawsRejected)) Arm(now);
    }

    // Answers the segment; true when PAWS rejected it.
    private bool Respond(TimeSpan now, in TcpSegment seg)
    {
        SeqNumber seq = seg.SequenceNumber;
        int segLen = seg.SegmentLength;
        bool rst = seg.Has(TcpFlags.Rst);

        // A retransmitted FIN is re-acknowledged (and restarts the 2MSL timer: RFC 9293 §3.10.7.4 eighth).
        if (seg.Has(TcpFlags.Fin) && !rst && seq + segLen == RcvNxt)
        {
            SendAck(now);
            return false;
        }
        // PAWS (RFC 7323 §5.3 R1): an old TSval is a duplicate from long ago; ACK it (a RST is exempt, as Linux).
        TcpTimestamp? timestamp = _timestamps is null ? null : seg.Options.Timestamp;
        if (timestamp is TcpTimestamp old && !rst && _timestamps!.IsOld(old.Value, now))
        {
            Drop(now, seg, TcpCause.PawsRejected, ack: Unacceptable(now, seg));
            return true;
        }
        if (!IsAcceptable(seq, segLen))
        {
            Drop(now, seg, rst ? TcpCause.ResetOutsideWindow : TcpCause.OutsideWindow, ack: !rst && Unacceptable(now, seg));
            return false;
        }
        if (rst)
        {
            // RFC 5961 §3.2: only an exact match counts; then RFC 1337 or Linux's policy decides.
            if (seq != RcvNxt) Drop(now, seg, TcpCause.ResetNotExact, ack: Challenge(now));
            else if (_config.TimeWaitRst == TimeWaitRstPolicy.Ignore) Drop(now, seg, TcpCause.ResetIgnoredInTimeWait, ack: false);
            else End(now, TcpCause.ResetReceived);
            return false;
        }
        if (seg.Has(TcpFlags.Syn))
        {
            Drop(now, seg, TcpCause.SynInSynchronizedState, ack: Challenge(now)); // a challenge ACK (RFC 5961 §4)
            return false;
        }
        if (!seg.Has(TcpFlags.Ack))
        {
            Drop(now, seg, TcpCause.NoAck, ack: false);
            return false;
        }
        if (seg.AcknowledgmentNumber > SndNxt)
        {
            // RFC 5961 §5.2: a challenge ACK, within §7's limits as in the connection (TcpConnection.AckIsAcceptable).
            Drop(now, seg, TcpCause.AckOfUnsentData, ack: Challenge(now));
            return false;
        }
        // RFC 7323 §4.3 R3: TS.Recent follows segments that start at or before Last.ACK.sent (RCV.NXT here).
        if (timestamp is TcpTimestamp recent && seq <= RcvNxt) _timestamps!.TakeRecent(recent.Value, now);
        // The peer sent its FIN already, so text is a duplicate: acknowledge it.
        if (seg.Payload.Length > 0 || seg.Has(TcpFlags.Fin)) SendAck(now);
        return false;
    }

    // RFC 9293 §3.10.7.4, the four cases, in the window last advertised.
    private bool IsAcceptable(SeqNumber seq, int segLen)
    {
        if (segLen == 0) return _window == 0 ? seq == RcvNxt : seq.IsInRange(RcvNxt, _window);
        if (_window == 0) return seq == RcvNxt;
        return seq.IsInRange(RcvNxt, _window) || (seq + (segLen - 1)).IsInRange(RcvNxt, _window);
    }

    // The connection's limits (TcpConnection.Challenges.cs): a challenge ACK within the per-connection interval and the
    // stack-wide budget (RFC 5961 §7); a duplicate ACK always for data or a FIN, otherwise within the interval.
    private bool Challenge(TimeSpan now)
    {
        if (!_invalidAcks.TryTake(now, _config.InvalidAckInterval) || !_engine.ChallengeAcks.TryTake(now))
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPACKSkippedChallenge);
            return false;
        }
        _engine.Counters.Count(MibCounter.TcpExtTCPChallengeACK);
        return true;
    }

    private bool Unacceptable(TimeSpan now, in TcpSegment seg) =>
        seg.SegmentLength > 0 && !seg.Has(TcpFlags.Syn) || _invalidAcks.TryTake(now, _config.InvalidAckInterval);

    private void Drop(TimeSpan now, in TcpSegment seg, TcpCause cause, bool ack)
    {
        _engine.Emit(new TcpEvent(now, TcpEventKind.Dropped, Id, State, State, cause, SegmentSummary.From(seg)));
        _engine.Counters.SegmentsDroppedByState++;
        if (ack) SendAck(now);
    }

    /// <summary>&lt;SEQ=SND.NXT&gt;&lt;ACK=RCV.NXT&gt;&lt;CTL=ACK&gt;, with timestamps when in use (no SACK blocks: nothing is held).</summary>
    private void SendAck(TimeSpan now)
    {
        var options = new TcpOptions();
        if (_timestamps is not null) options.Timestamp = new TcpTimestamp(_timestamps.Value(now), _timestamps.Recent);
        var repr = new TcpRepr
        {
            SequenceNumber = SndNxt,
            AcknowledgmentNumber = RcvNxt,
            Flags = TcpFlags.Ack,
            Window = _windowField,
            Options = options,
        };
        _engine.TransmitFor(Id, repr);
    }
}
