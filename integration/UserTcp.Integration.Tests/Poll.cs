using System.Diagnostics;

namespace UserTcp.Integration.Tests;

/// <summary>Bounded waiting for conditions no event announces (kernel state seen through ss, files, processes).</summary>
internal static class Poll
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(5);

    /// <summary>Checks <paramref name="condition"/> every few milliseconds; false if it never held within <paramref name="timeout"/>.</summary>
    public static bool Until(Func<bool> condition, TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) > timeout)
            {
                return false;
            }
            Thread.Sleep(Interval);
        }
        return true;
    }
}
