namespace UserTcp.Engine;

/// <summary>TCP_NOTSENT_LOWAT: how much of a write the send queue takes, and when the connection counts as writable.</summary>
internal sealed partial class Sender
{
    /// <summary>
    /// Linux's size goal (tcp_xmit_size_goal): the chunk a write fills before it starts another — half the largest
    /// window the peer has offered, at most 64 KiB (GSO_LEGACY_MAX_SIZE), in whole segments and at least one.
    /// </summary>
    public int SizeGoal
    {
        get
        {
            long goal = MaxSndWnd > 536 ? MaxSndWnd / 2 : MaxSndWnd; // tcp_bound_to_half_wnd
            goal = Math.Min(goal, 64 * 1024);
            return (int)Math.Max(goal / Mss * Mss, Mss);
        }
    }

    /// <summary>
    /// How many of <paramref name="requested"/> bytes a write queues under the low-water mark <paramref name="lowWatermark"/>,
    /// as Linux's tcp_sendmsg does: what the windows let go at once is sent while the write copies, and does not count;
    /// the rest fills chunks of <see cref="SizeGoal"/>, and a new chunk is started only while fewer than
    /// <paramref name="lowWatermark"/> bytes wait unsent (tcp_stream_memory_free). The send buffer's room is checked by the caller.
    /// </summary>
    public int WriteAllowance(int requested, uint lowWatermark)
    {
        long unsent = NotSentBytes;
        if (unsent + requested < lowWatermark) return requested; // the mark cannot be reached: no chunk is refused
        long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
        long goesNow = Math.Min(CwndRoom, peerRoom);
        long accepted = Math.Max(0, goesNow - unsent);
        long notSent = Math.Max(0, unsent - goesNow);
        int goal = SizeGoal;
        long tailRoom = notSent % goal == 0 ? 0 : goal - notSent % goal;
        while (accepted < requested)
        {
            if (tailRoom == 0)
            {
                if (notSent >= lowWatermark) break;
                tailRoom = goal;
            }
            long take = Math.Min(requested - accepted, tailRoom);
            accepted += take;
            notSent += take;
            tailRoom -= take;
        }
        return (int)Math.Min(accepted, requested);
    }

    /// <summary>
    /// Linux's __sk_stream_is_writeable with wake set (what poll and the write-space wakeup ask): the free room is at
    /// least half of what is queued (sk_stream_min_wspace), and twice the unsent bytes are below the low-water mark.
    /// </summary>
    public bool IsWritable(uint lowWatermark) => Buffer.Free >= Buffer.Count / 2 && 2L * NotSentBytes < lowWatermark;

    /// <summary>
    /// Data waits that cwnd would let go but the peer's window does not admit (Linux's tcp_snd_wnd_test failing in
    /// tcp_write_xmit, after tcp_cwnd_test passed): the first segment of it does not fit the window.
    /// </summary>
    public bool ReceiveWindowLimited
    {
        get
        {
            int unsent = NotSentBytes;
            if (unsent == 0 || CwndRoom == 0) return false;
            long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
            return peerRoom < Math.Min(unsent, Mss);
        }
    }

    /// <summary>cwnd was the limit of the last dispatch, or is full now (Linux's is_cwnd_limited).</summary>
    public bool CwndLimitedNow => CwndLimited || InFlight >= CongestionWindow;
}
