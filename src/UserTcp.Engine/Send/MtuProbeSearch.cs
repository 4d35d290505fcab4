using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// RFC 4821's search for the path MTU, as Linux keeps it in icsk_mtup: the range of packet sizes (IPv4 and TCP
/// headers, options and payload) still in question, the probe in flight, and when the search began. Allocated only for a
/// connection with <see cref="TcpConfig.MtuProbing"/> on, so others pay nothing.
/// </summary>
internal sealed class MtuProbeSearch(TcpConfig config)
{
    private const int Headers = 40; // IPv4 and TCP headers without options

    /// <summary>Probing is on: from the start (mode 2) or since black-hole detection first fired (Linux's icsk_mtup.enabled).</summary>
    public bool Enabled { get; private set; }
    /// <summary>The largest packet known to get through (Linux's search_low).</summary>
    public int SearchLow { get; private set; }
    /// <summary>The smallest packet size not known to get through, less one (Linux's search_high).</summary>
    public int SearchHigh { get; private set; }
    /// <summary>The packet size of the probe in flight; 0 when none is (Linux's probe_size).</summary>
    public int ProbeSize { get; private set; }
    /// <summary>The probe's sequence range (Linux's mtu_probe.probe_seq_start/end), meaningful while <see cref="ProbeSize"/> is not 0.</summary>
    public SeqNumber ProbeStart { get; private set; }
    public SeqNumber ProbeEnd { get; private set; }
    /// <summary>
    /// The path's MTU as the route and ICMP have it (Linux's icsk_pmtu_cookie): the search reaches no higher from the
    /// next <see cref="Sync"/> (Linux caps search_high only in tcp_sync_mss, so an accepted connection searches up to the
    /// peer's MSS until then).
    /// </summary>
    public int PathMtu { get; set; }
    /// <summary>Probes acknowledged and probes lost, not yet counted (TcpExtTCPMTUPSuccess, TcpExtTCPMTUPFail).</summary>
    public int Successes, Failures;
    // When the search began or last started over (Linux's probe_timestamp): tcp_probe_interval counts from it.
    private TimeSpan _stamp;
    // The peer's MSS, options included (Linux's rx_opt.mss_clamp): no size maps to more.
    private int _clamp;
    // Option bytes every segment carries (timestamps): a packet carries this much less payload.
    private int _optionBytes;

    /// <summary>
    /// Linux's tcp_mtup_init, when the connection is established (tcp_init_transfer): the search runs from
    /// <see cref="TcpConfig.BaseMss"/> up to the peer's MSS; mode 2 turns probing on now.
    /// </summary>
    public void Start(TimeSpan now, int peerMss, int optionBytes)
    {
        _clamp = peerMss;
        _optionBytes = optionBytes;
        Enabled = config.MtuProbing == MtuProbing.Always;
        SearchHigh = peerMss + Headers;
        SearchLow = MssToMtu(config.BaseMss);
        ProbeSize = 0;
        if (Enabled) _stamp = now;
    }

    /// <summary>Linux's tcp_mss_to_mtu: the packet that carries <paramref name="mss"/> bytes of payload.</summary>
    public int MssToMtu(int mss) => mss + _optionBytes + Headers;

    /// <summary>Linux's tcp_mtu_to_mss: the payload a packet of <paramref name="mtu"/> bytes carries, within the peer's MSS and never under 48 bytes.</summary>
    public int MtuToMss(int mtu) => Math.Max(Math.Min(mtu - Headers, _clamp), NegotiatedOptions.MinSendMss) - _optionBytes;

    /// <summary>
    /// Linux's tcp_sync_mss with the path's MTU (<see cref="PathMtu"/>): the search reaches no higher, and while probing
    /// is on the segment size is no more than <see cref="SearchLow"/> carries. Returns the payload segments carry.
    /// </summary>
    public int Sync()
    {
        if (SearchHigh > PathMtu) SearchHigh = PathMtu;
        int mss = MtuToMss(PathMtu);
        return Enabled ? Math.Min(mss, MtuToMss(SearchLow)) : mss;
    }

    /// <summary>
    /// Linux's tcp_mtu_probing, at a timeout that suspects a black hole: the first turns probing on (the segment size then
    /// falls to <see cref="SearchLow"/>, the base MSS); each later one halves the known-good size, never above the base
    /// MSS nor under 48 bytes (tcp_mtu_probe_floor, tcp_min_snd_mss).
    /// </summary>
    public void OnBlackHole(TimeSpan now)
    {
        if (!Enabled)
        {
            Enabled = true;
            _stamp = now;
            return;
        }
        int mss = Math.Max(Math.Min(config.BaseMss, MtuToMss(SearchLow) >> 1), NegotiatedOptions.MinSendMss);
        SearchLow = MssToMtu(mss);
    }

    /// <summary>
    /// The payload of the next probe: the middle of the range (Linux's tcp_mtu_probe); 0 when the search is over — the
    /// range is narrower than tcp_probe_threshold, or the middle maps to more than the top — after starting it over from
    /// <paramref name="currentMss"/> once tcp_probe_interval has passed (tcp_mtu_check_reprobe).
    /// </summary>
    public int NextProbe(TimeSpan now, int currentMss)
    {
        int probe = MtuToMss((SearchHigh + SearchLow) >> 1);
        if (probe <= MtuToMss(SearchHigh) && SearchHigh - SearchLow >= config.MtuProbeThreshold) return probe;
        if (now - _stamp >= config.MtuProbeInterval)
        {
            // Linux starts the next round on a later send; so does this (the probe waits for the next dispatch).
            SearchHigh = _clamp + Headers;
            SearchLow = MssToMtu(currentMss);
            _stamp = now;
        }
        return 0;
    }

    /// <summary>A probe of <paramref name="length"/> bytes left, covering [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public void OnProbeSent(int length, SeqNumber start, SeqNumber end)
    {
        ProbeSize = MssToMtu(length);
        ProbeStart = start;
        ProbeEnd = end;
    }

    /// <summary>Linux's tcp_mtup_probe_success: the probe's size gets through, and is the new bottom of the search (a success to count).</summary>
    public void OnProbeAcknowledged()
    {
        SearchLow = ProbeSize;
        ProbeSize = 0;
        Successes++;
    }

    /// <summary>Linux's __tcp_retransmit_skb: a retransmission leaves the probe inconclusive, forgotten with the search as it was (nothing counted).</summary>
    public void OnProbeInconclusive() => ProbeSize = 0;

    /// <summary>Linux's tcp_mtup_probe_failed: the probe's size does not get through, and the top falls below it (a failure to count).</summary>
    public void OnProbeLost()
    {
        SearchHigh = ProbeSize - 1;
        ProbeSize = 0;
        Failures++;
    }
}
