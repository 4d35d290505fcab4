namespace UserTcp.Engine;

/// <summary>
/// The per-connection limit on ACKs sent in answer to unacceptable segments, as Linux's __tcp_oow_rate_limited: at most
/// one per <see cref="TcpConfig.InvalidAckInterval"/> (tcp_invalid_ratelimit, 500 ms), shared by challenge ACKs (RFC 5961
/// §7 "per connection") and the duplicate ACKs that answer out-of-window or PAWS-rejected segments without data — so a
/// blind attacker, or two stacks that disagree, cannot start an ACK storm. Segments with data are always answered:
/// they cannot be part of an ACK loop (Linux's tcp_oow_rate_limited).
/// </summary>
internal struct InvalidAckLimit
{
    // When the last limited ACK was allowed; null before the first.
    private TimeSpan? _lastSent;

    /// <summary>True (and the instant remembered) when an ACK may go out at <paramref name="now"/>.</summary>
    public bool TryTake(TimeSpan now, TimeSpan interval)
    {
        if (_lastSent is TimeSpan last && now >= last && now - last < interval) return false;
        _lastSent = now;
        return true;
    }
}

/// <summary>
/// The stack-wide challenge-ACK limit of RFC 5961 §7, as Linux's tcp_send_challenge_ack: each second a budget drawn at
/// random between half the limit and one and a half times it (so an attacker cannot count what others used up, the
/// side channel of CVE-2016-5696). <see cref="int.MaxValue"/> turns it off, which is Linux's default since 6.0
/// (net.ipv4.tcp_challenge_ack_limit = 2147483647); the per-connection limit (<see cref="InvalidAckLimit"/>) stays.
/// </summary>
internal sealed class ChallengeAckLimiter
{
    private readonly int _limit;
    private readonly Random _random;
    private long _second = -1;
    private int _left;

    public ChallengeAckLimiter(int limitPerSecond, Random random)
    {
        _limit = limitPerSecond;
        _random = random;
    }

    public bool TryTake(TimeSpan now)
    {
        if (_limit == int.MaxValue) return true;
        long second = (long)now.TotalSeconds;
        if (second != _second)
        {
            _second = second;
            int half = (int)(((long)_limit + 1) / 2);
            _left = _random.Next(half, (int)Math.Min(int.MaxValue, (long)_limit + half));
        }
        if (_left <= 0) return false;
        _left--;
        return true;
    }
}
