namespace UserTcp.Engine;

/// <summary>
/// The largest value seen over the last <c>window</c> units of time (BBR counts round trips), kept in O(1) with the best,
/// second-best and third-best samples of successive sub-windows (Kathleen Nichols' windowed min/max, which Linux's
/// lib/win_minmax.c implements): when the best expires the second takes its place, so no history is stored.
/// </summary>
internal struct WindowedMaxFilter
{
    private (long Time, double Value) _best, _second, _third;

    public readonly double Value => _best.Value;

    public void Reset(long time, double value) => _best = _second = _third = (time, value);

    /// <summary>Takes the sample <paramref name="value"/> at <paramref name="time"/>; samples older than <paramref name="window"/> fall out.</summary>
    public void Update(long window, long time, double value)
    {
        // A new maximum, or nothing in the window is recent: it is the best of every sub-window.
        if (value >= _best.Value || time - _third.Time > window)
        {
            Reset(time, value);
            return;
        }
        if (value >= _second.Value) _second = _third = (time, value);
        else if (value >= _third.Value) _third = (time, value);

        long age = time - _best.Time;
        if (age > window)
        {
            // The best expired: the others move up, and the new sample fills the last place (twice if the second expired too).
            _best = _second;
            _second = _third;
            _third = (time, value);
            if (time - _best.Time > window)
            {
                _best = _second;
                _second = _third;
            }
        }
        else if (_second.Time == _best.Time && age > window / 4)
        {
            // A quarter of the window passed with no second choice: take one, so an expiry does not fall back to nothing.
            _second = _third = (time, value);
        }
        else if (_third.Time == _second.Time && age > window / 2)
        {
            _third = (time, value);
        }
    }
}
