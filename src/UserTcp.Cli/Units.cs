using System.Globalization;

namespace UserTcp.Cli;

/// <summary>Sizes and rates as people read them.</summary>
internal static class Units
{
    public static string Bytes(double bytes) => bytes switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes:F0} B"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:F1} kB"),
        < 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F2} GB"),
    };

    public static string Rate(double bytes, TimeSpan time)
    {
        double bitsPerSecond = time > TimeSpan.Zero ? bytes * 8 / time.TotalSeconds : 0;
        return bitsPerSecond switch
        {
            < 1e6 => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e3:F1} kbit/s"),
            < 1e9 => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e6:F1} Mbit/s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{bitsPerSecond / 1e9:F2} Gbit/s"),
        };
    }

    public static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:F3} s");

}
