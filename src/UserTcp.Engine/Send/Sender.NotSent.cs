namespace UserTcp.Engine;

/// <summary>TCP_NOTSENT_LOWAT: how much of a write the send queue takes, and when the connection counts as writable.</summary>
internal sealed partial class Sender
{
    /// <summary>
    /// Linux's size goal (tcp_xmit_size_goal): the chunk a write fills before it starts another — half the largest
    /// window the peer has offered, at most 64 KiB (GSO_LEGACY_MAX_SIZE), in whole segments of <see cref="SegmentMss"/>
    /// and at least one.
    /// </summary>
    public int SizeGoal
    {
        get
        {
            long goal = Math.Min(HalfWindowCutoff, 64 * 1024); // tcp_bound_to_half_wnd
            int mss = SegmentMss; // Linux's mss_now
            return (int)Math.Max(goal / mss * mss, mss);
        }
    }

    /// <summary>
    /// How many of <paramref name="requested"/> bytes a write queues under the low-water mark <paramref name="lowWatermark"/>,
    /// as Linux's tcp_sendmsg does: what the windows let go at once is sent while the write copies, and does not count;
    /// the rest fills chunks of <see cref="SizeGoal"/>, and a new chunk is started only while fewer than
    /// <paramref name="lowWatermark"/> bytes wait unsent (tcp_stream_memory_free). Under Linux's accounting a chunk, sent
    /// at once or not, is also started only while <see cref="QueuedMemory"/> is below the limit (sk_stream_memory_free),
    /// so the last one may pass it. The send buffer's room is checked by the caller.
    /// </summary>
    public int WriteAllowance(int requested, uint lowWatermark)
    {
        bool linux = LinuxAccounting;
        long unsent = NotSentBytes;
        if (!linux && unsent + requested < lowWatermark) return requested; // the mark cannot be reached: no chunk is refused
        long peerRoom = Math.Max(0, (long)SndWnd - (SndMax - SndUna));
        long goesNow = Math.Min(CwndRoom, peerRoom);
        int goal = SizeGoal;
        int limit = Buffer.Capacity;
        long memory = linux ? QueuedMemory : 0;
        long accepted = 0;
        long notSent = Math.Max(0, unsent - goesNow);
        long tailRoom = notSent % goal == 0 ? 0 : goal - notSent % goal;
        // What leaves during the write: Linux pushes each skb as it fills (tcp_push_one), and what goes is its own skb
        // (tso_fragment). An skb the windows cut leaves its rest as a new skb at the tail, which the write fills to the
        // goal again without asking for memory: only a new skb is checked.
        for (long leaving = Math.Max(0, goesNow - unsent); leaving > 0 && accepted < requested;)
        {
            if (linux && !MayStartChunk(memory, limit)) return (int)accepted;
            long take = Math.Min(Math.Min(leaving, goal), requested - accepted);
            accepted += take;
            leaving -= take;
            memory += take + SkbOverhead;
            if (linux && take < goal && accepted < requested)
            {
                tailRoom = goal;
                memory += SkbOverhead;
            }
        }
        while (accepted < requested)
        {
            if (tailRoom == 0)
            {
                if (notSent >= lowWatermark) break;
                if (linux && !MayStartChunk(memory, limit)) break;
                tailRoom = goal;
                memory += SkbOverhead;
            }
            long take = Math.Min(requested - accepted, tailRoom);
            accepted += take;
            notSent += take;
            tailRoom -= take;
            memory += take;
        }
        return (int)Math.Min(accepted, requested);
    }

    /// <summary>
    /// Linux's __sk_stream_is_writeable with wake set (what poll and the write-space wakeup ask): the free room is at
    /// least half of what is queued (sk_stream_min_wspace), and twice the unsent bytes are below the low-water mark.
    /// Under Linux's accounting both sides are <see cref="QueuedMemory"/>.
    /// </summary>
    public bool IsWritable(uint lowWatermark) =>
        (LinuxAccounting ? MemoryWritable : Buffer.Free >= Buffer.Count / 2) && 2L * NotSentBytes < lowWatermark;

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

    /// <summary>
    /// cwnd is the limit, as tcp_cwnd_validate asks before it starts the sndbuf-limited clock (tcp_is_cwnd_limited): the
    /// last dispatch or this window was cwnd-limited, or cwnd is full now, or in slow start cwnd is under twice the most in flight.
    /// </summary>
    public bool CwndLimitedNow => CwndLimited || InFlight >= CongestionWindow;
}
