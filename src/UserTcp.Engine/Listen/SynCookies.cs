using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What <see cref="TcpConfig.SynCookies"/> allows (Linux net.ipv4.tcp_syncookies).</summary>
public enum SynCookieMode : byte
{
    /// <summary>Never: a SYN that finds the SYN queue full is dropped (tcp_syncookies = 0).</summary>
    Off,
    /// <summary>Once a listener's SYN queue is full, as Linux by default (tcp_syncookies = 1).</summary>
    WhenSynQueueFull,
    /// <summary>For every SYN, queue or not (tcp_syncookies = 2; for tests).</summary>
    Always,
}

/// <summary>The options a SYN cookie carried through the handshake.</summary>
internal readonly record struct CookieOptions(ushort Mss, byte? WindowScale, bool Sack, bool Timestamps, bool Ecn = false);

/// <summary>
/// SYN cookies as Linux makes them (net/ipv4/syncookies.c, after Bernstein's design): a SYN that finds the SYN queue
/// full is answered by a SYN-ACK whose ISS encodes what we need to know, and nothing is kept; the peer's ACK gives it
/// back as SEG.ACK − 1 and the connection is made then. The ISS is
/// <c>H(4-tuple, key₁) + peer's ISN + (count &lt;&lt; 24) + (H(4-tuple, count, key₂) + MSS index) mod 2²⁴</c>, count a
/// minute counter: a cookie is good for the minute it was made and the next, and cannot be forged without the keys.
/// The MSS index picks one of 536, 1300, 1440, 1460. With timestamps, the low six bits of our TSval hold the peer's window
/// scale (0–14, 15 for none), its SACK-permitted bit and whether we agreed to ECN, and come back in the ACK's TSecr;
/// without timestamps a cookie connection has none of them (and our SYN-ACK offers none), as in Linux. Keyed with
/// SipHash like Linux's.
/// </summary>
internal sealed class SynCookies
{
    /// <summary>Linux's msstab for IPv4: the MSS values a cookie can carry.</summary>
    public static readonly ushort[] MssTable = [536, 1300, 1440, 1460];
    /// <summary>Linux's TCP_SYNCOOKIE_VALID: ACKs are checked for cookies only this long after a cookie was sent.</summary>
    public static readonly TimeSpan ValidAfterLastCookie = TimeSpan.FromMinutes(2);

    private const int CookieBits = 24;
    private const uint CookieMask = (1u << CookieBits) - 1;
    // Linux's MAX_SYNCOOKIE_AGE: the current minute and the one before.
    private const uint MaxAge = 2;
    private const int TimestampBits = 6;
    private const uint TimestampMask = (1u << TimestampBits) - 1;
    private const uint NoWindowScale = 0xF;
    private const uint SackBit = 1 << 4;
    // Linux's TS_OPT_ECN: the cookie SYN-ACK agreed to ECN (RFC 3168 §6.1.1).
    private const uint EcnBit = 1 << 5;

    private readonly StackSecrets _secrets;

    public SynCookies(StackSecrets secrets) => _secrets = secrets;

    /// <summary>The cookie for a SYN from <paramref name="peerIsn"/> on <paramref name="id"/>, carrying <paramref name="mssIndex"/>.</summary>
    public uint Make(FourTuple id, SeqNumber peerIsn, TimeSpan now, int mssIndex)
    {
        uint count = Minute(now);
        return unchecked(Hash(_secrets.CookieTuple, id, 0) + peerIsn.Value + (count << CookieBits)
            + ((Hash(_secrets.CookieCount, id, count) + (uint)mssIndex) & CookieMask));
    }

    /// <summary>The MSS index a valid <paramref name="cookie"/> carries (the peer's ACK minus one); null when it is not ours or too old.</summary>
    public int? Check(FourTuple id, SeqNumber peerIsn, uint cookie, TimeSpan now)
    {
        uint count = Minute(now);
        uint rest = unchecked(cookie - (Hash(_secrets.CookieTuple, id, 0) + peerIsn.Value));
        uint age = unchecked(count - (rest >> CookieBits)) & (uint.MaxValue >> CookieBits);
        if (age >= MaxAge) return null;
        uint mssIndex = unchecked(rest - Hash(_secrets.CookieCount, id, count - age)) & CookieMask;
        return mssIndex < MssTable.Length ? (int)mssIndex : null;
    }

    /// <summary>The largest table entry the peer's MSS allows (the smallest when it is below all, as Linux rounds).</summary>
    public static int MssIndex(int mss)
    {
        int index = MssTable.Length - 1;
        while (index > 0 && mss < MssTable[index]) index--;
        return index;
    }

    /// <summary>
    /// Our TSval for a cookie SYN-ACK (Linux's cookie_init_timestamp): the clock's value with its low six bits replaced by
    /// the peer's window scale, SACK and ECN bits, never ahead of the clock. <paramref name="clock"/> is the raw millisecond
    /// count; the caller adds the connection's offset.
    /// </summary>
    public static uint EncodeTimestamp(uint clock, byte? peerWindowScale, bool sack, bool ecn = false)
    {
        uint options = (peerWindowScale is byte ws ? Math.Min(ws, (byte)14) : NoWindowScale) | (sack ? SackBit : 0) | (ecn ? EcnBit : 0);
        uint ts = (clock & ~TimestampMask) | options;
        return ts > clock ? ts - (1u << TimestampBits) : ts;
    }

    /// <summary>
    /// The options an ACK's TSecr (less our offset) brings back; null when they cannot be ours (a scale above 14, or an
    /// option this configuration does not allow). Without a timestamp: no window scale, no SACK, no timestamps.
    /// </summary>
    public static CookieOptions? DecodeOptions(ushort mss, TcpTimestamp? timestamp, uint timestampOffset, TcpConfig config)
    {
        if (timestamp is not TcpTimestamp ts) return new CookieOptions(mss, null, false, false);
        if (!config.Timestamps) return null;
        uint options = unchecked(ts.EchoReply - timestampOffset) & TimestampMask;
        bool sack = (options & SackBit) != 0;
        if (sack && !config.Sack) return null;
        // Linux's cookie_ecn_ok: the bit says we agreed; ECN turned off since only leaves it out.
        bool ecn = (options & EcnBit) != 0 && config.Ecn != EcnMode.Off;
        uint scale = options & NoWindowScale;
        if (scale == NoWindowScale) return new CookieOptions(mss, null, sack, true, ecn);
        if (scale > 14 || !config.WindowScaling) return null;
        return new CookieOptions(mss, (byte)scale, sack, true, ecn);
    }

    /// <summary>The peer options a cookie SYN-ACK answers: without timestamps there is nowhere to keep window scale and SACK.</summary>
    public static TcpOptions Answerable(in TcpOptions peer, TcpConfig config)
    {
        TcpOptions options = peer;
        if (options.Timestamp is null || !config.Timestamps)
        {
            options.WindowScale = null;
            options.SackPermitted = false;
        }
        options.ClearSackBlocks();
        return options;
    }

    private static uint Minute(TimeSpan now) => (uint)(now.Ticks / TimeSpan.TicksPerMinute);

    private static uint Hash(SipKey key, FourTuple id, uint count) =>
        (uint)SipHash.Hash(key, IsnGenerator.PackAddresses(id), IsnGenerator.PackPorts(id) << 32 | count);
}
