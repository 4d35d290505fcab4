namespace UserTcp.Engine;

/// <summary>
/// The one place a connection's timers live (docs/design.md "The engine", timers: deadlines, not threads): one deadline per
/// <see cref="TcpTimer"/>, armed, cancelled and fired only through this class. Every change is reported to the
/// engine's <see cref="TimerHeap"/>, which finds the earliest deadline across connections.
/// </summary>
internal sealed class ConnectionTimers : TimedEntry
{
    private const int Count = (int)TcpTimer.UserTimeout + 1;

    // The order in which due timers fire: the ones that end the connection first, the ACK-related last.
    private static readonly TcpTimer[] FiringOrder =
    [
        TcpTimer.TimeWait, TcpTimer.FinWait2, TcpTimer.UserTimeout, TcpTimer.Retransmission, TcpTimer.ReorderTimeout, TcpTimer.LossProbe,
        TcpTimer.Persist, TcpTimer.DelayedAck, TcpTimer.KeepAlive, TcpTimer.CloseWait,
    ];

    private readonly TcpConnection _owner;
    private readonly TcpEngine _engine;
    // Invariant: _deadlines[(int)t] is the armed deadline of timer t in ticks, or Unarmed; index 0 (TcpTimer.None) stays
    // Unarmed. Ticks, not TimeSpan?: half the bytes, and the scan for the earliest compares longs only. Inside this object,
    // not an array of its own: 32 bytes less per connection (issue 10's 2 KB).
    private Deadlines _deadlines;
    private const long Unarmed = long.MaxValue;
    // The earliest of _deadlines in ticks, kept as timers change (it is read on every arm and every pass; the scan was ~3 %
    // of a request's managed time): NoneArmed when none is, Stale when the earliest deadline itself moved later or went
    // (a long, not a TimeSpan? and a flag: 8 bytes per connection rather than 24).
    private long _next = NoneArmed;
    private const long NoneArmed = long.MaxValue;
    private const long Stale = long.MinValue;

    public ConnectionTimers(TcpConnection owner, TcpEngine engine)
    {
        _owner = owner;
        _engine = engine;
        ((Span<long>)_deadlines).Fill(Unarmed);
    }

    [System.Runtime.CompilerServices.InlineArray(Count)]
    private struct Deadlines
    {
        private long _first;
    }

    /// <summary>The connection whose timers these are.</summary>
    public TcpConnection Owner => _owner;

    public TimeSpan? Deadline(TcpTimer timer) => _deadlines[(int)timer] is long at and not Unarmed ? TimeSpan.FromTicks(at) : null;

    public bool IsArmed(TcpTimer timer) => _deadlines[(int)timer] != Unarmed;

    internal override TimeSpan? NextDeadline => Next;

    /// <summary>The earliest armed deadline's ticks when one is armed and known without a scan; otherwise long.MinValue, which no deadline has.</summary>
    internal long KnownNextTicks => _next == NoneArmed ? Stale : _next;

    /// <summary>The earliest armed deadline; null when none is.</summary>
    public TimeSpan? Next
    {
        get
        {
            if (_next == Stale) _next = Earliest();
            return _next == NoneArmed ? null : TimeSpan.FromTicks(_next);
        }
    }

    private long Earliest()
    {
        long next = NoneArmed; // == Unarmed
        foreach (long at in _deadlines)
        {
            if (at < next) next = at;
        }
        return next;
    }

    /// <summary>The one write of a deadline: keeps <see cref="Next"/> without a scan unless the earliest deadline moved later or went.</summary>
    private void Set(TcpTimer timer, long at)
    {
        ref long deadline = ref _deadlines[(int)timer];
        long old = deadline;
        deadline = at;
        if (_next == Stale) return;
        if (at < _next) _next = at;
        else if (old == _next && old != at && old != Unarmed) _next = Stale;
    }

    /// <summary>Arms (or re-arms) <paramref name="timer"/> for <paramref name="at"/>.</summary>
    public void Arm(TcpTimer timer, TimeSpan at)
    {
        Set(timer, at.Ticks);
        if (_engine.Publishes(TcpEventKind.TimerSet)) _engine.Emit(new TcpEvent(_engine.Now, TcpEventKind.TimerSet, _owner.Id, _owner.State, _owner.State, Timer: timer, Deadline: at));
        _engine.Timers.OnArmed(this, at);
    }

    /// <summary>Arms <paramref name="timer"/> unless it is armed already.</summary>
    public void ArmIfIdle(TcpTimer timer, TimeSpan at)
    {
        if (_deadlines[(int)timer] == Unarmed) Arm(timer, at);
    }

    /// <summary>Disarms <paramref name="timer"/>; the queue drops its entry lazily.</summary>
    public void Cancel(TcpTimer timer) => Set(timer, Unarmed);

    public void CancelAll()
    {
        ((Span<long>)_deadlines).Fill(Unarmed);
        _next = NoneArmed;
    }

    /// <summary>Fires every timer due at <paramref name="now"/>, in <see cref="FiringOrder"/>, until the connection closes.</summary>
    public void FireDue(TimeSpan now)
    {
        foreach (TcpTimer timer in FiringOrder)
        {
            if (_deadlines[(int)timer] > now.Ticks) continue; // Unarmed is later than any now
            Set(timer, Unarmed);
            if (_engine.Publishes(TcpEventKind.TimerFired)) _engine.Emit(new TcpEvent(now, TcpEventKind.TimerFired, _owner.Id, _owner.State, _owner.State, Timer: timer));
            _owner.OnTimer(timer, now);
            if (_owner.State == TcpState.Closed) return;
        }
    }
}
