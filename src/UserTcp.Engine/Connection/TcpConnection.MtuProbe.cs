using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Path MTU black-hole detection (RFC 2923 §2.1) and packetization-layer path MTU discovery (RFC 4821), as Linux's
/// tcp_mtu_probing sysctl runs them (<see cref="TcpConfig.MtuProbing"/>): the search is <see cref="MtuProbeSearch"/>,
/// the probe itself the sender's (Send/Sender.MtuProbe.cs); here they meet the route, ICMP, timeouts and counters.
/// </summary>
public sealed partial class TcpConnection
{
    /// <summary>
    /// The MTU of the route to the peer (Linux's dst_mtu; <see cref="TcpConfig.Mss"/> + 40 unless set): no segment is
    /// larger, and path MTU probing searches no higher. A lower one shrinks segments at once, as an ICMP would; a higher
    /// one is reached by the search (or by connections made later), as Linux resizes only when it next syncs the MSS.
    /// </summary>
    public int RouteMtu
    {
        get => field == 0 ? _config.Mss + Headers : field;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 68); // RFC 791's minimum MTU
            field = value;
            if (_sender.MtuSearch is { } search) search.PathMtu = PathMtuNow;
            if (!State.IsSynchronized()) return;
            int mss = PathMtuNow - Headers;
            if (mss < _options.SendMss)
            {
                _options.LowerSendMss(mss);
                _sender.LowerMss(_options.SendMss, _options.Timestamps ? TimestampOptionBytes : 0);
                SyncMtuSearch();
                _engine.MarkPending(this);
            }
        }
    }

    private const int Headers = Ipv4Packet.MinHeaderLength + TcpSegment.MinHeaderLength;

    /// <summary>The path's MTU: the route's, or less where ICMP said so (Linux's icsk_pmtu_cookie).</summary>
    private int PathMtuNow => Math.Min(RouteMtu, PathMtu ?? int.MaxValue);

    /// <summary>
    /// Linux's tcp_mtup_init, as the connection is established (tcp_init_transfer): the search runs from the base MSS up
    /// to the peer's MSS. An active open in mode 2 then sends at about the base MSS (its tcp_sync_mss ran with probing
    /// on); a passive one keeps the MSS until it next syncs, as Linux's accepted socket does.
    /// </summary>
    private void StartMtuSearch(TimeSpan now, int peerMss, bool active)
    {
        if (_config.MtuProbing == MtuProbing.Off) return;
        MtuProbeSearch search = _sender.MtuSearch ??= new MtuProbeSearch(_config);
        search.PathMtu = PathMtuNow;
        search.Start(now, peerMss, _options.Timestamps ? TimestampOptionBytes : 0);
        if (!active || !search.Enabled) return;
        // Linux's tcp_sync_mss in SYN-SENT took the base MSS with the header length of the options our SYN offered
        // (tcp_connect_init): without timestamps agreed, the first segments carry the 12 bytes they would have taken.
        int offered = _config.Timestamps ? TimestampOptionBytes : 0;
        int optionBytes = _options.Timestamps ? TimestampOptionBytes : 0;
        // Nothing is in flight yet: the initial window counts segments of this size (Linux's cwnd is in packets).
        _options.SetSendMss(search.MtuToMss(Math.Min(PathMtuNow, search.MssToMtu(_config.BaseMss) + offered - optionBytes)) + optionBytes);
        _sender.SetMss(_options.SendMss, optionBytes);
    }

    /// <summary>Linux's tcp_sync_mss after ICMP or a route lowered the path MTU: the search reaches no higher.</summary>
    private void SyncMtuSearch()
    {
        if (_sender.MtuSearch is not { } search) return;
        search.PathMtu = PathMtuNow;
        search.Sync();
    }

    /// <summary>
    /// RFC 2923 §2.1 black-hole detection, as Linux's tcp_write_timeout runs tcp_mtu_probing: at a retransmission timeout
    /// once the stall has lasted what tcp_retries1 doublings from TCP_RTO_MIN take (retransmits_timed_out), the first
    /// time turns probing on and the segment size falls to tcp_base_mss, each later time to half the last
    /// (icsk_mtup.search_low), never under tcp_mtu_probe_floor; the timeout then resends at that size.
    /// </summary>
    private void SuspectMtuBlackHole(TimeSpan now)
    {
        // The stall began at its first timeout (StallStart): none yet, none to measure.
        if (_sender.MtuSearch is not { } search || _sender.Retries == 0 || now - _sender.StallStart < BlackHoleStall) return;
        search.OnBlackHole(now);
        int optionBytes = _options.Timestamps ? TimestampOptionBytes : 0;
        _options.LowerSendMss(search.Sync() + optionBytes);
        if (_sender.LowerMss(_options.SendMss, optionBytes)) _engine.Counters.Count(MibCounter.UserTcpMtuBlackHoleDecreases);
    }

    // Linux's retransmits_timed_out(sk, tcp_retries1 = 3, 0): ((2 << 3) - 1) × TCP_RTO_MIN.
    private static readonly TimeSpan BlackHoleStall = TimeSpan.FromMilliseconds(200 * ((2 << 3) - 1));

    /// <summary>
    /// Linux's tcp_write_xmit begins with tcp_mtu_probe: the probe goes first when it may. False when the dispatch is to
    /// send nothing more: it waits for room for the probe, or the local queue refused it.
    /// </summary>
    private bool SendMtuProbe(TimeSpan now, ref int sent, ref bool refused)
    {
        if (_sender.MtuSearch is null) return true;
        switch (_sender.TryMtuProbe(now, SackOptionBytes(now), out Transmission probe))
        {
            case MtuProbeStep.Wait:
                return false;
            case MtuProbeStep.Probe:
                // A refused probe ends the pass like any refused segment; it goes again, a probe or not, on the next.
                refused = !SendSegment(now, probe);
                if (refused) return false;
                _sender.OnMtuProbeSent(probe);
                sent++;
                return true;
            default:
                return true;
        }
    }

    /// <summary>Probes the sender found acknowledged or lost, counted as Linux counts them; the segment size follows a success.</summary>
    private void CountMtuProbes()
    {
        if (_sender.MtuSearch is not { } search) return;
        if (search.Successes > 0)
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPMTUPSuccess, search.Successes);
            search.Successes = 0;
            _options.SetSendMss(_sender.Mss + (_options.Timestamps ? TimestampOptionBytes : 0));
        }
        if (search.Failures > 0)
        {
            _engine.Counters.Count(MibCounter.TcpExtTCPMTUPFail, search.Failures);
            search.Failures = 0;
        }
    }
}
