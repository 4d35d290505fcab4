namespace UserTcp.Engine;

/// <summary>
/// RFC 7323 timestamps for one connection: our TSval clock (milliseconds, as Linux's, plus a per-connection
/// offset), TS.Recent (§4.3) and the PAWS test (§5.3).
/// </summary>
internal sealed class TimestampState
{
    /// <summary>RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness (the clock may have wrapped past it).</summary>
    private static readonly TimeSpan RecentLifetime = TimeSpan.FromDays(24);

    private readonly uint _offset;

    public TimestampState(uint offset) => _offset = offset;

    /// <summary>TS.Recent: the TSval to echo (RFC 7323 §4.3); valid once <see cref="HasRecent"/>.</summary>
    public uint Recent { get; private set; }
    public bool HasRecent { get; private set; }
    /// <summary>When TS.Recent was last set (RFC 7323 §5.5 "TS.Recent.Age").</summary>
    public TimeSpan RecentAge { get; private set; }

    /// <summary>Our TSval at <paramref name="now"/>: a millisecond clock (RFC 7323 §5.4 allows 1 ms to 1 s ticks).</summary>
    public uint Value(TimeSpan now) => unchecked((uint)(now.Ticks / TimeSpan.TicksPerMillisecond) + _offset);

    /// <summary>
    /// The time since we sent the TSval a peer echoes (RFC 7323 §4.1 RTTM), at sub-millisecond precision on our side;
    /// null when the echo is not one of ours (zero, or from the future).
    /// </summary>
    public TimeSpan? Elapsed(TimeSpan now, uint echoed)
    {
        uint ticks = unchecked(Value(now) - echoed);
        if (echoed == 0 || ticks > int.MaxValue) return null;
        TimeSpan sinceTick = TimeSpan.FromTicks(now.Ticks % TimeSpan.TicksPerMillisecond);
        return sinceTick + TimeSpan.FromMilliseconds(ticks);
    }

    /// <summary>
    /// RFC 7323 §5.3 R1 (PAWS): a segment whose TSval is older than TS.Recent is a duplicate from an earlier
    /// incarnation of the sequence space; unless TS.Recent has gone stale (§5.5).
    /// </summary>
    public bool IsOld(uint tsVal, TimeSpan now) =>
        HasRecent && unchecked((int)(tsVal - Recent)) < 0 && now - RecentAge <= RecentLifetime;

    /// <summary>Records the TSval of a segment that may set TS.Recent (the caller checks SEG.SEQ ≤ Last.ACK.sent).</summary>
    public void TakeRecent(uint tsVal, TimeSpan now)
    {
        if (HasRecent && unchecked((int)(tsVal - Recent)) < 0 && now - RecentAge <= RecentLifetime) return;
        Recent = tsVal;
        RecentAge = now;
        HasRecent = true;
    }

    /// <summary>RFC 6191: a new SYN may reuse TIME-WAIT when its TSval is newer than TS.Recent.</summary>
    public bool IsNewer(uint tsVal) => HasRecent && unchecked((int)(tsVal - Recent)) > 0;
}
