namespace UserTcp.AspNetCore;

/// <summary>Connection ids in the style of Kestrel's: 13 base-32 digits of a counter that starts at the clock, unique per process.</summary>
internal static class ConnectionIds
{
    private const string Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long s_last = DateTime.UtcNow.Ticks;

    public static string Next() => string.Create(13, Interlocked.Increment(ref s_last), static (chars, id) =>
    {
        for (int i = chars.Length - 1; i >= 0; i--, id >>= 5) chars[i] = Digits[(int)(id & 31)];
    });
}
