namespace UserTcp.Engine;

/// <summary>
/// The window we offer, chosen by Linux 6.18's rules (net/ipv4/tcp_output.c): <see cref="Initial"/> is
/// tcp_select_initial_window (a SYN's or SYN-ACK's window), <see cref="Select(long, long, int, int, long)"/> is __tcp_select_window (every later
/// segment), and the receiver applies tcp_select_window's "never shrink" to it (RFC 9293 §3.8.6.2.2).
/// Linux's tcp_space and tcp_full_space are here the buffer's free bytes and its size (the default model); Linux's own,
/// memory scaled by skb overhead (scaling_ratio) and grown through rcv_ssthresh, is <see cref="LinuxReceiveSpace"/>.
/// </summary>
internal static class ReceiveWindow
{
    /// <summary>
    /// tcp_select_initial_window: the space, when larger than the MSS, rounded down to a multiple of it (BSD's habit, which
    /// Linux keeps "for smooth operation"), then at most 65535, the SYN's field being unscaled (RFC 7323 §2.2).
    /// <paramref name="mss"/> is the MSS we advertise; for a SYN-ACK that will carry timestamps, 12 bytes less (Linux's
    /// tcp_openreq_init_rwin; its active SYN, tcp_connect_init, takes the advertised MSS whole).
    /// </summary>
    public static ushort Initial(long space, int mss)
    {
        space = Math.Max(0, space);
        if (mss > 0 && space > mss) space -= space % mss;
        return (ushort)Math.Min(space, ushort.MaxValue);
    }

    /// <summary>
    /// The MSS a passive open's SYN-ACK window is rounded to: the one we advertise, less the 12 bytes of timestamps when
    /// they were negotiated (Linux's tcp_openreq_init_rwin), for the connection's own SYN-ACK and a cookie's alike.
    /// </summary>
    public static int SynAckMss(int advertisedMss, bool timestamps) => advertisedMss - (timestamps ? TcpConnection.TimestampOptionBytes : 0);

    /// <summary>
    /// __tcp_select_window for the default model, in bytes and before "never shrink": <paramref name="free"/> is the space
    /// free for data (tcp_space), <paramref name="allowed"/> the buffer's size (tcp_full_space), <paramref name="rcvMss"/>
    /// the peer's segment size as we estimate it (Linux's icsk_ack.rcv_mss: 536 until data comes, then the largest segment
    /// up to our MSS; Linux uses it, not the MSS either side advertised, because it is what fills the window), and
    /// <paramref name="lastWindow"/> the window chosen for the last segment (tp->rcv_wnd, from RCV.NXT as it was then).
    /// window_clamp is what the field can say, and there is no rcv_ssthresh stage: the free space is bounded by the full
    /// one. With a shift the granularity is 1 &lt;&lt; shift, rounded down (Linux rounds up and grows its buffer to
    /// match; ours is fixed).
    /// </summary>
    public static long Select(long free, long allowed, int shift, int rcvMss, long lastWindow)
    {
        long clamp = (long)ushort.MaxValue << shift;
        return Select(free, allowed, clamp, shift, rcvMss, lastWindow, rcvSsthresh: Math.Min(allowed, clamp), roundUp: false, out _);
    }

    /// <summary>
    /// __tcp_select_window: the free space within <paramref name="clamp"/> (window_clamp); with less than half of it free,
    /// receiver SWS avoidance (RFC 1122 §4.2.3.3: nothing new below the peer's segment size or 1/16 of the buffer's
    /// window) and <paramref name="belowHalf"/> (Linux then ends quick-ACK mode); otherwise at most
    /// <paramref name="rcvSsthresh"/>. With a window scale rounded to the field's unit (up when <paramref name="roundUp"/>,
    /// as Linux's own; else down); without, to the segment size.
    /// </summary>
    public static long Select(long free, long allowed, long clamp, int shift, long rcvMss, long lastWindow, long rcvSsthresh, bool roundUp,
        out bool belowHalf)
    {
        belowHalf = false;
        long full = Math.Min(allowed, clamp);
        long mss = Math.Min(rcvMss, full);
        if (mss <= 0) return 0;
        if (free < full / 2)
        {
            belowHalf = true;
            free = free >> shift << shift;
            if (free < allowed / 16 || free < mss) return 0;
        }
        free = Math.Min(free, rcvSsthresh);
        if (shift > 0)
        {
            long unit = 1L << shift;
            return roundUp ? (free + unit - 1) / unit * unit : free >> shift << shift;
        }
        // Without one: keep the last window while it is within one MSS below the free space, else the largest multiple of
        // the MSS the free space holds; a buffer no bigger than one segment opens whole once half of it is free.
        if (lastWindow <= free - mss || lastWindow > free) return free - free % mss;
        if (mss == full && free > lastWindow + full / 2) return free;
        return lastWindow;
    }
}
