using UserTcp.Wire;

namespace UserTcp.Engine.Tests.FastOpen;

/// <summary>The client's cookie cache: per server, bounded, flushed.</summary>
public sealed class FastOpenCacheTests
{
    private static readonly byte[] Cookie = [1, 2, 3, 4];

    [Fact]
    public void It_remembers_at_most_its_capacity_and_forgets_the_server_used_longest_ago()
    {
        var cache = new FastOpenCache(capacity: 2);
        var a = new Ipv4Address(10, 0, 0, 1);
        var b = new Ipv4Address(10, 0, 0, 2);
        var c = new Ipv4Address(10, 0, 0, 3);
        cache.Set(a, 1460, Cookie, false, false, 0, TimeSpan.Zero);
        cache.Set(b, 1460, Cookie, false, false, 0, TimeSpan.Zero);
        Assert.NotNull(cache.Get(a)); // a is now the more recently used
        cache.Set(c, 1460, Cookie, false, false, 0, TimeSpan.Zero);
        Assert.Equal(2, cache.Count);
        Assert.Null(cache.Get(b));
        Assert.NotNull(cache.Get(a));
        Assert.NotNull(cache.Get(c));
    }

    [Fact]
    public void A_flush_forgets_every_server()
    {
        var cache = new FastOpenCache();
        cache.Set(new Ipv4Address(10, 0, 0, 1), 1460, Cookie, false, false, 0, TimeSpan.Zero);
        cache.Flush();
        Assert.Equal(0, cache.Count);
        Assert.Null(cache.Get(new Ipv4Address(10, 0, 0, 1)));
    }

    [Fact]
    public void A_syn_ack_without_a_cookie_keeps_the_cookie_held_and_an_mss_of_zero_keeps_the_mss()
    {
        var cache = new FastOpenCache();
        var a = new Ipv4Address(10, 0, 0, 1);
        cache.Set(a, 940, Cookie, false, false, 0, TimeSpan.Zero);
        cache.Set(a, 0, default, false, synLost: true, tryExperimental: 1, TimeSpan.FromSeconds(1));
        FastOpenCacheEntry entry = cache.Get(a)!;
        Assert.Equal(Cookie, entry.Cookie);
        Assert.Equal(940, entry.Mss);
        Assert.Equal(0, entry.TryExperimental); // no fallback to the experimental option while a cookie is held
        Assert.Equal(1, entry.SynLosses);
        cache.Set(a, 0, default, false, synLost: false, tryExperimental: 0, TimeSpan.FromSeconds(2));
        Assert.Equal(0, cache.Get(a)!.SynLosses);
    }
}
