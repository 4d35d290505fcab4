namespace UserTcp.Engine;

/// <summary>Path MTU discovery (RFC 1191): the segment size falls when ICMP says the path carries less.</summary>
internal sealed partial class Sender
{
    /// <summary>
    /// The path now carries segments of at most <paramref name="mss"/> bytes (options included, as the peer's MSS
    /// option counts them): smaller segments from now on, and what is in flight and too large is cut and sent again at
    /// once (RFC 1191 §6.1; Linux's tcp_simple_retransmit — cwnd is left alone, only its units changed). False when the
    /// segment size did not fall.
    /// </summary>
    public bool LowerMss(int mss, int fixedOptionBytes)
    {
        int payload = Math.Max(NegotiatedOptions.MinSendMss, mss - fixedOptionBytes);
        if (payload >= Mss) return false;
        Mss = payload;
        if (_queue.SplitLargerThan(payload) > 0)
        {
            _lossCause = TcpCause.PathMtuReduced;
            _rttSeq = null; // Karn's rule: what is timed may go again
        }
        return true;
    }
}
