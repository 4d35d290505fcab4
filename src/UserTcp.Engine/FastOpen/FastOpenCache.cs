using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What a TCP Fast Open client remembers of one server (RFC 7413 §4.1.1; Linux keeps it in tcp_metrics as
/// tcp_fastopen_metrics): the cookie, the MSS the server's SYN-ACK gave, and the marks of SYN loss and of a
/// server that ignored the RFC's option (try the experimental one once).
/// </summary>
/// <param name="Cookie">The cookie the server gave (4 to 16 bytes), or null before one came.</param>
/// <param name="CookieExperimental">The cookie came in the experimental option (kind 254, magic 0xF989): it goes back in that one.</param>
/// <param name="Mss">The MSS option of the server's last SYN-ACK to a Fast Open SYN; 0 before one.</param>
/// <param name="SynLosses">Consecutive Fast Open SYNs whose data the server seems never to have seen (Linux's syn_loss).</param>
/// <param name="LastSynLoss">When the last of them was marked.</param>
/// <param name="TryExperimental">Linux's try_exp: 1 after a cookie request went unanswered (ask in the experimental option next), 2 after that went unanswered too (back to RFC 7413's for good).</param>
public sealed record FastOpenCacheEntry(byte[]? Cookie, bool CookieExperimental, ushort Mss, int SynLosses, TimeSpan LastSynLoss, byte TryExperimental);

/// <summary>
/// The client's cookie cache, per server address (RFC 7413 §4.1.1 "cache keyed by server IP"), shared by the shards of
/// one stack. Bounded: past <see cref="Capacity"/> servers the entry used longest ago goes (Linux reclaims the oldest
/// tcp_metrics entry of a hash chain), so a flood of destinations cannot grow it. Thread-safe: touched only at an
/// active open and at its SYN-ACK, under its own lock.
/// </summary>
public sealed class FastOpenCache
{
    /// <summary>The servers remembered by default.</summary>
    public const int DefaultCapacity = 1024;

    private readonly Lock _lock = new();
    private readonly Dictionary<Ipv4Address, LinkedListNode<(Ipv4Address Server, FastOpenCacheEntry Entry)>> _entries = [];
    // Most recently used first.
    private readonly LinkedList<(Ipv4Address Server, FastOpenCacheEntry Entry)> _order = new();

    /// <summary>A cache that remembers at most <paramref name="capacity"/> servers.</summary>
    public FastOpenCache(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>The most servers remembered at once.</summary>
    public int Capacity { get; }

    /// <summary>Servers remembered now.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    /// <summary>What is remembered of <paramref name="server"/>, or null (Linux's tcp_fastopen_cache_get).</summary>
    public FastOpenCacheEntry? Get(Ipv4Address server)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(server, out var node)) return null;
            _order.Remove(node);
            _order.AddFirst(node);
            return node.Value.Entry;
        }
    }

    /// <summary>
    /// Takes what a SYN-ACK said (Linux's tcp_fastopen_cache_set): <paramref name="mss"/> when non-zero; the
    /// <paramref name="cookie"/> when one came; otherwise <paramref name="tryExperimental"/> when it moves the mark on and no
    /// cookie is held; a SYN loss counted when <paramref name="synLost"/>, the count cleared when not.
    /// </summary>
    public void Set(Ipv4Address server, ushort mss, ReadOnlySpan<byte> cookie, bool cookieExperimental, bool synLost, byte tryExperimental, TimeSpan now)
    {
        lock (_lock)
        {
            FastOpenCacheEntry entry = _entries.TryGetValue(server, out var node) ? node.Value.Entry : new FastOpenCacheEntry(null, false, 0, 0, default, 0);
            if (mss != 0) entry = entry with { Mss = mss };
            if (!cookie.IsEmpty) entry = entry with { Cookie = cookie.ToArray(), CookieExperimental = cookieExperimental };
            else if (tryExperimental > entry.TryExperimental && entry.Cookie is null && !entry.CookieExperimental) entry = entry with { TryExperimental = tryExperimental };
            entry = synLost ? entry with { SynLosses = entry.SynLosses + 1, LastSynLoss = now } : entry with { SynLosses = 0 };
            Store(server, entry, node);
        }
    }

    /// <summary>Remembers <paramref name="entry"/> for <paramref name="server"/> as it is (a cache saved and loaded again).</summary>
    public void Put(Ipv4Address server, FastOpenCacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        lock (_lock) Store(server, entry, _entries.GetValueOrDefault(server));
    }

    /// <summary>Every server remembered, most recently used first.</summary>
    public IReadOnlyList<KeyValuePair<Ipv4Address, FastOpenCacheEntry>> Entries()
    {
        lock (_lock) return [.. _order.Select(e => KeyValuePair.Create(e.Server, e.Entry))];
    }

    /// <summary>Forgets every server (<c>ip tcp_metrics flush</c>).</summary>
    public void Flush()
    {
        lock (_lock)
        {
            _entries.Clear();
            _order.Clear();
        }
    }

    private void Store(Ipv4Address server, FastOpenCacheEntry entry, LinkedListNode<(Ipv4Address, FastOpenCacheEntry)>? node)
    {
        if (node is not null)
        {
            _order.Remove(node);
            node.Value = (server, entry);
            _order.AddFirst(node);
            return;
        }
        if (_entries.Count >= Capacity)
        {
            LinkedListNode<(Ipv4Address Server, FastOpenCacheEntry Entry)> oldest = _order.Last!;
            _order.RemoveLast();
            _entries.Remove(oldest.Value.Server);
        }
        _entries[server] = _order.AddFirst((server, entry));
    }
}
