using System.CommandLine;
using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Cli;

/// <summary>
/// `connect --fast-open` and `get --fast-open`: TCP Fast Open (RFC 7413) across runs. Each run is a new stack, so the
/// cookies the servers gave are kept in a file (as the kernel keeps them in tcp_metrics): one line per server,
/// "ADDRESS mss MSS cookie HEX|- [exp]", loaded before connecting and written after.
/// </summary>
internal static class FastOpenCookieFile
{
    /// <summary>--fast-open: the option both commands take.</summary>
    public static Option<bool> Option() => new("--fast-open")
    {
        Description = "TCP Fast Open (RFC 7413): the first connection to a server asks for a cookie in its SYN; later ones "
            + "send the cookie and the first data in the SYN. Cookies are kept in $XDG_CACHE_HOME/usertcp/fastopen-cookies "
            + "(~/.cache/usertcp/...) between runs",
    };

    /// <summary>Where the cookies are kept: $XDG_CACHE_HOME/usertcp, else ~/.cache/usertcp.</summary>
    public static string DefaultPath
    {
        get
        {
            string? cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrEmpty(cache)) cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "usertcp", "fastopen-cookies");
        }
    }

    /// <summary>Loads what the file holds into <paramref name="cache"/>; a missing file or a line it cannot read is skipped.</summary>
    public static void Load(FastOpenCache cache, string path)
    {
        if (!File.Exists(path)) return;
        foreach (string line in File.ReadLines(path))
        {
            string[] w = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (w is not [var address, "mss", var mss, "cookie", var cookie, ..] || !Ipv4Address.TryParse(address, out Ipv4Address server)
                || !ushort.TryParse(mss, NumberStyles.None, CultureInfo.InvariantCulture, out ushort givenMss)) continue;
            byte[]? value = cookie == "-" ? null : TryHex(cookie);
            if (cookie != "-" && (value is null || !TcpFastOpenCookie.TryCreate(value, out _))) continue;
            cache.Put(server, new FastOpenCacheEntry(value, w is [.., "exp"], givenMss, 0, default, 0));
        }
    }

    /// <summary>Writes <paramref name="cache"/>'s servers that gave a cookie or an MSS; the directory is made when missing.</summary>
    public static void Save(FastOpenCache cache, string path)
    {
        var lines = new List<string>();
        foreach ((Ipv4Address server, FastOpenCacheEntry entry) in cache.Entries())
        {
            if (entry.Cookie is null && entry.Mss == 0) continue;
            string cookie = entry.Cookie is null ? "-" : Convert.ToHexStringLower(entry.Cookie);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{server} mss {entry.Mss} cookie {cookie}{(entry.CookieExperimental ? " exp" : "")}"));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, lines);
    }

    private static byte[]? TryHex(string text)
    {
        try
        {
            return Convert.FromHexString(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
