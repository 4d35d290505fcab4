using System.Diagnostics;
using System.Globalization;

namespace UserTcp.Cli.Commands;

/// <summary>A one-line progress bar on stderr, redrawn at most every 100 ms, only when stderr is a terminal.</summary>
internal sealed class ProgressBar(long? total)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly bool _visible = !Console.IsErrorRedirected;
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _lastDraw;

    public long Bytes { get; private set; }

    public void Report(long bytes)
    {
        Bytes = bytes;
        long now = Stopwatch.GetTimestamp();
        if (!_visible || Stopwatch.GetElapsedTime(_lastDraw, now) < Interval) return;
        _lastDraw = now;
        string rate = Units.Rate(bytes, Stopwatch.GetElapsedTime(_started, now));
        string text;
        if (total is long all && all > 0)
        {
            double fraction = Math.Min(1, (double)bytes / all);
            int filled = (int)(fraction * 30);
            text = string.Create(CultureInfo.InvariantCulture,
                $"{fraction * 100,3:F0}% [{new string('#', filled)}{new string('.', 30 - filled)}] {Units.Bytes(bytes)} / {Units.Bytes(all)}  {rate}");
        }
        else
        {
            text = $"{Units.Bytes(bytes)}  {rate}";
        }
        Console.Error.Write($"\r{text,-78}");
    }

    public void Clear()
    {
        if (_visible && _lastDraw != 0) Console.Error.Write($"\r{new string(' ', 78)}\r");
    }
}
