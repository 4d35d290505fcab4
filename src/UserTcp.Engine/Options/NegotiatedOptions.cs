using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// What the SYN exchange settled (RFC 9293 §3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK): each
/// option is used only when both SYNs carried it, and only when this connection's configuration allows it.
/// </summary>
internal sealed class NegotiatedOptions
{
    /// <summary>Linux's tcp_min_snd_mss: an MSS option below this would stall or flood, so it is clamped up.</summary>
    public const int MinSendMss = 48;

    private readonly TcpConfig _config;

    public NegotiatedOptions(TcpConfig config)
    {
        _config = config;
        SendMss = 536; // RFC 9293 §3.7.1: the default when the peer sends no MSS option
    }

    /// <summary>
    /// The MSS a path MTU ICMP taught before the SYN exchange ended allows (RFC 1191); null while none has. Our SYN
    /// offers no more (Linux's tcp_advertise_mss takes the route's advmss, which follows its MTU), and we send no more.
    /// </summary>
    public int? PathMss { get; set; }

    /// <summary>Largest payload we send: the peer's MSS (536 without one), capped by ours.</summary>
    public int SendMss { get; private set; }
    /// <summary>Both SYNs carried window scale (RFC 7323 §2.2).</summary>
    public bool WindowScaling { get; private set; }
    /// <summary>Shift applied to windows the peer sends (at most 14, RFC 7323 §2.3).</summary>
    public int SendWindowShift { get; private set; }
    /// <summary>Shift applied to windows we send.</summary>
    public int ReceiveWindowShift { get; private set; }
    /// <summary>Both SYNs carried SACK-permitted (RFC 2018 §2).</summary>
    public bool Sack { get; private set; }
    /// <summary>Both SYNs carried timestamps (RFC 7323 §3.2): every segment then carries them.</summary>
    public bool Timestamps { get; private set; }

    /// <summary>The options our SYN (or, when <paramref name="answering"/>, our SYN-ACK) carries.</summary>
    public TcpOptions Offer(bool answering, TcpTimestamp? timestamp)
    {
        var options = new TcpOptions { MaxSegmentSize = (ushort)Math.Min(_config.Mss, PathMss ?? int.MaxValue) };
        // In a SYN-ACK each option appears only when the peer's SYN carried it (RFC 7323 §2.2, RFC 2018 §2).
        if (answering ? WindowScaling : _config.WindowScaling) options.WindowScale = (byte)(answering ? ReceiveWindowShift : OwnWindowShift());
        if (answering ? Sack : _config.Sack) options.SackPermitted = true;
        if (answering ? Timestamps : _config.Timestamps) options.Timestamp = timestamp;
        return options;
    }

    /// <summary>The path MTU fell (RFC 1191): what we send shrinks to <paramref name="mss"/>, never below Linux's minimum.</summary>
    public void LowerSendMss(int mss) => SendMss = Math.Clamp(mss, MinSendMss, SendMss);

    /// <summary>Path MTU probing settled the size (Connection/TcpConnection.MtuProbe.cs): what we send is <paramref name="mss"/>, within the peer's MSS.</summary>
    public void SetSendMss(int mss) => SendMss = Math.Clamp(mss, MinSendMss, Math.Max(PeerMss, MinSendMss));

    /// <summary>The MSS the peer's SYN offered (536 without one; Linux's rx_opt.mss_clamp): nothing we send is larger.</summary>
    public int PeerMss { get; private set; } = 536;

    /// <summary>Takes the peer's SYN (or SYN-ACK) options.</summary>
    public void TakePeerSyn(in TcpOptions peer)
    {
        // An MSS option of 0 counts as none, as Linux's tcp_parse_options ignores it (mss_clamp keeps the default).
        int peerMss = peer.MaxSegmentSize is ushort mss and > 0 ? mss : 536;
        PeerMss = peerMss;
        SendMss = Math.Clamp(peerMss, MinSendMss, Math.Max(Math.Min(_config.Mss, PathMss ?? int.MaxValue), MinSendMss));
        WindowScaling = _config.WindowScaling && peer.WindowScale is not null;
        SendWindowShift = WindowScaling ? Math.Min((int)peer.WindowScale!.Value, 14) : 0;
        ReceiveWindowShift = WindowScaling ? OwnWindowShift() : 0;
        Sack = _config.Sack && peer.SackPermitted;
        Timestamps = _config.Timestamps && peer.Timestamp is not null;
    }

    /// <summary>The smallest shift that lets the 16-bit field express the largest receive buffer (auto-tuning's maximum, RFC 7323 §2.3).</summary>
    private int OwnWindowShift()
    {
        int shift = 0;
        while (shift < 14 && _config.LargestReceiveBuffer >> shift > ushort.MaxValue) shift++;
        return shift;
    }
}
