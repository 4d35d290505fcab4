using System.Security.Cryptography;

namespace UserTcp.Engine;

/// <summary>
/// The secrets one engine keys its hashes with, drawn once per engine: from the operating system's cryptographic
/// generator by default, so two stacks (or two runs) never share them; from a seed only when the configuration asks
/// for one (<see cref="TcpConfig.RandomSeed"/>), for simulations and scripts that must repeat exactly.
/// </summary>
internal sealed class StackSecrets
{
    public StackSecrets(int? seed)
    {
        // The Fast Open key comes last, so a seed's other keys stay what they were before it existed.
        Span<byte> bytes = stackalloc byte[7 * 16];
        if (seed is int fixedSeed) new Random(fixedSeed).NextBytes(bytes);
        else RandomNumberGenerator.Fill(bytes);
        Isn = SipKey.Read(bytes);
        TimestampOffset = SipKey.Read(bytes[16..]);
        PortOffset = SipKey.Read(bytes[32..]);
        PortTable = SipKey.Read(bytes[48..]);
        CookieTuple = SipKey.Read(bytes[64..]);
        CookieCount = SipKey.Read(bytes[80..]);
        FastOpenKey = new FastOpenKey(bytes[96..]);
        Random = seed is int s ? new Random(unchecked(s * 31 + 7)) : new Random();
        IsSeeded = seed is not null;
    }

    /// <summary>
    /// The keys of <paramref name="shared"/> with a generator of its own: another shard of the same stack agrees on ISNs,
    /// TSval offsets, port walks and SYN cookies, while each shard's thread draws from its own <see cref="Random"/>.
    /// </summary>
    public StackSecrets(StackSecrets shared, int shard)
    {
        Isn = shared.Isn;
        TimestampOffset = shared.TimestampOffset;
        PortOffset = shared.PortOffset;
        PortTable = shared.PortTable;
        CookieTuple = shared.CookieTuple;
        CookieCount = shared.CookieCount;
        FastOpenKey = shared.FastOpenKey;
        IsSeeded = shared.IsSeeded;
        Random = IsSeeded ? new Random(shared.Random.Next() ^ shard) : new Random();
    }

    /// <summary>F() of RFC 6528 §3: initial sequence numbers.</summary>
    public SipKey Isn { get; }
    /// <summary>TSval offsets per address pair (RFC 7323 §5.4, Linux's secure_tcp_ts_off).</summary>
    public SipKey TimestampOffset { get; }
    /// <summary>F() of RFC 6056 §3.3.4: where a destination's walk through the ephemeral range starts.</summary>
    public SipKey PortOffset { get; }
    /// <summary>G() of RFC 6056 §3.3.4: which counter of the table a destination uses.</summary>
    public SipKey PortTable { get; }
    /// <summary>SYN cookies: the hash of the 4-tuple and the peer's ISN.</summary>
    public SipKey CookieTuple { get; }
    /// <summary>SYN cookies: the hash that also covers the minute counter.</summary>
    public SipKey CookieCount { get; }
    /// <summary>The stack's Fast Open key when the configuration names none (Linux draws one per namespace, tcp_fastopen_init_key_once).</summary>
    public FastOpenKey FastOpenKey { get; }
    /// <summary>For choices that need to be unpredictable but not secret (increments, per-second budgets).</summary>
    public Random Random { get; }
    /// <summary>The secrets came from a fixed seed (tests and scripts), not from the cryptographic generator.</summary>
    public bool IsSeeded { get; }
}
