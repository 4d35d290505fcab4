using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// ICMP errors about this connection's segments (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191): validated against the quoted
/// TCP header, then taken as a soft error, a refused connection (SYN-SENT only), or a smaller path MTU.
/// </summary>
public sealed partial class TcpConnection
{
    /// <summary>Linux's net.ipv4.route.min_pmtu: an ICMP message cannot make the path MTU smaller than this.</summary>
    public const int MinPathMtu = 552;

    // RFC 1191 §7: the plateaus to guess from when a router sends no next-hop MTU.
    private static readonly ushort[] MtuPlateaus = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

    // An ICMP soft error and SND.UNA when it came; reported instead of ETIMEDOUT when the connection times out with no
    // progress since (Linux's sk_err_soft, which an ACK of new data clears).
    private (TcpError Error, SeqNumber SndUna)? _softError;

    /// <summary>The path MTU ICMP taught this connection (RFC 1191); null while none has.</summary>
    public int? PathMtu { get; private set; }

    /// <summary>IP_MTU_DISCOVER: whether segments carry Don't Fragment and ICMP may lower <see cref="PathMtu"/>; it may change at any time.</summary>
    public PathMtuDiscovery PathMtuDiscovery { get; set; }

    /// <summary>IP_TOS: the TOS byte of the connection's packets from now on, its two ECN bits cleared (the stack's, RFC 3168 §5, as Linux's).</summary>
    public byte TypeOfService
    {
        get;
        set => field = (byte)(value & ~0x3);
    }

    /// <summary>Linux's ip_dont_fragment: every mode but IP_PMTUDISC_DONT sets DF.</summary>
    internal bool DontFragment => PathMtuDiscovery != PathMtuDiscovery.Dont;

    /// <summary>The error a connection that times out reports: the last ICMP soft error since progress, else ETIMEDOUT.</summary>
    private TcpError TimeoutError => _softError is { } soft && soft.SndUna == SndUna ? soft.Error : TcpError.TimedOut;

    /// <summary>
    /// An ICMP error quoting one of our segments. RFC 5927 §4.1 (Linux's tcp_v4_err): it counts only if the quoted sequence
    /// number lies in SND.UNA..SND.NXT, i.e. names data in flight — else a blind attacker could forge it. Then: port or
    /// protocol unreachable in SYN-SENT refuses the connection (RFC 1122 §4.2.3.9 hard errors; in synchronized states RFC
    /// 5927 §4.1 treats them as soft, as Linux does); fragmentation needed lowers the path MTU; every other is soft.
    /// </summary>
    internal void OnIcmpError(TimeSpan now, IcmpType type, byte code, in QuotedTcpSegment quoted, ushort nextHopMtu)
    {
        SeqNumber seq = quoted.SequenceNumber;
        if (State == TcpState.SynReceived && Listener is not null && !IsFastOpenChild)
        {
            OnIcmpErrorInSynQueue(type, code, seq);
            return;
        }
        // A Fast Open connection before the handshake's ACK counts from its SYN-ACK (Linux's tcp_v4_err: snt_isn for fastopen_rsk).
        if (!((_sender.SynAckOutstanding ? Iss : SndUna) <= seq && seq <= SndMax))
        {
            _engine.Counters.Count(MibCounter.TcpExtOutOfWindowIcmps);
            return;
        }
        var unreachable = (IcmpUnreachableCode)code;
        if (type == IcmpType.DestinationUnreachable && unreachable == IcmpUnreachableCode.FragmentationNeeded)
        {
            OnFragmentationNeeded(nextHopMtu, quoted.TotalLength);
            return;
        }
        if (type == IcmpType.DestinationUnreachable && unreachable is IcmpUnreachableCode.Port or IcmpUnreachableCode.Protocol && State == TcpState.SynSent)
        {
            _engine.Counters.Count(MibCounter.UserTcpIcmpHardErrors);
            EnterClosed(TcpError.ConnectionRefused, TcpCause.IcmpUnreachable);
            return;
        }
        if (State == TcpState.SynReceived && IsFastOpenChild && !Has(ConnectionFlags.FastOpenAccepted))
        {
            // Linux's tcp_v4_err: a Fast Open socket not yet accepted is done with the error (sk_err), and stays in the
            // accept queue with the SYN's data; once accepted it is treated as a connected one (soft).
            _engine.Counters.Count(MibCounter.UserTcpIcmpHardErrors);
            EnterClosed(SoftErrorOf(type, code), TcpCause.IcmpErrorBeforeAccept);
            return;
        }
        _engine.Counters.Count(MibCounter.UserTcpIcmpSoftErrors);
        _softError = (SoftErrorOf(type, code), SndUna);
    }

    /// <summary>
    /// Linux's tcp_req_err: a SYN-queue entry believes only an error quoting its SYN-ACK's own sequence number, and is
    /// dropped silently — no RST, the peer is not told — by net or host unreachable, time exceeded or a parameter
    /// problem (those a router sends when the peer cannot be reached); any other leaves it to its SYN-ACK retransmissions.
    /// </summary>
    private void OnIcmpErrorInSynQueue(IcmpType type, byte code, SeqNumber seq)
    {
        if (seq != Iss)
        {
            _engine.Counters.Count(MibCounter.TcpExtOutOfWindowIcmps);
            return;
        }
        bool fatal = type is IcmpType.ParameterProblem or IcmpType.TimeExceeded
            || (type == IcmpType.DestinationUnreachable && (IcmpUnreachableCode)code is IcmpUnreachableCode.Network or IcmpUnreachableCode.Host);
        if (!fatal) return;
        _engine.Counters.Count(MibCounter.TcpExtListenDrops);
        EnterClosed(TcpError.None, TcpCause.IcmpErrorBeforeAccept);
    }

    // Linux's icmp_err_convert, for the errors a socket reports.
    private static TcpError SoftErrorOf(IcmpType type, byte code) => (type, code) switch
    {
        (IcmpType.DestinationUnreachable, 0 or 6 or 9 or 11) => TcpError.NetworkUnreachable,
        (IcmpType.DestinationUnreachable, 2 or 3) => TcpError.ConnectionRefused,
        _ => TcpError.HostUnreachable,
    };

    /// <summary>
    /// RFC 1191 §6: the path carries packets of at most <paramref name="nextHopMtu"/> bytes (a plateau below the quoted
    /// packet's length when the router gave none; never below <see cref="MinPathMtu"/>). Segments shrink to fit, and those
    /// in flight that no longer fit go again at once. Before the handshake completes nothing large is in flight: ignored.
    /// </summary>
    private void OnFragmentationNeeded(ushort nextHopMtu, ushort quotedLength)
    {
        // Linux's tcp_v4_mtu_reduced: not with IP_PMTUDISC_DONT, nor when the path MTU is not to be learnt (ip_sk_accept_pmtu).
        bool synSent = State == TcpState.SynSent;
        if (!(State.IsSynchronized() || synSent) || PathMtuDiscovery is PathMtuDiscovery.Dont or PathMtuDiscovery.Interface or PathMtuDiscovery.Omit) return;
        int mtu = nextHopMtu != 0 ? nextHopMtu : PlateauBelow(quotedLength);
        mtu = Math.Max(mtu, MinPathMtu);
        if (PathMtu is int known && mtu >= known) return;
        if (synSent)
        {
            OnFragmentationNeededInSynSent(mtu);
            return;
        }
        int mss = mtu - Ipv4Packet.MinHeaderLength - TcpSegment.MinHeaderLength;
        if (mss >= _options.SendMss) return;
        PathMtu = mtu;
        _options.LowerSendMss(mss);
        _sender.LowerMss(_options.SendMss, _options.Timestamps ? TimestampOptionBytes : 0);
        SyncMtuSearch();
        _engine.Counters.Count(MibCounter.UserTcpPathMtuDecreases);
        _engine.MarkPending(this);
    }

    /// <summary>
    /// Linux's tcp_v4_mtu_reduced in SYN-SENT: the path MTU is learnt for the MSS our SYN offers and the one we send once
    /// the peer's is known (tcp_sync_mss). A Fast Open SYN too large for the path is lost for sure: it goes again at once
    /// as a plain SYN, its data after the SYN-ACK (tcp_simple_retransmit marks a Fast Open SYN lost whatever its size).
    /// </summary>
    private void OnFragmentationNeededInSynSent(int mtu)
    {
        int mss = mtu - Ipv4Packet.MinHeaderLength - TcpSegment.MinHeaderLength;
        if (mss >= _config.Mss) return;
        PathMtu = mtu;
        _options.PathMss = mss;
        _engine.Counters.Count(MibCounter.UserTcpPathMtuDecreases);
        if (_fastOpen is { FirstSynSent: true } fastOpen && (fastOpen.OptionSent || fastOpen.SynDataLength > 0) && !SynDue)
        {
            SynDue = true;
            _engine.MarkPending(this);
        }
    }

    private static int PlateauBelow(int length)
    {
        foreach (ushort plateau in MtuPlateaus)
        {
            if (plateau < length) return plateau;
        }
        return MtuPlateaus[^1];
    }
}
