namespace UserTcp.Engine;

/// <summary>
/// The send buffer as Linux counts it (<see cref="SendBufferAccounting.LinuxTruesize"/>): sk_wmem_queued, the data plus
/// a fixed truesize per skb, against sk_sndbuf.
/// </summary>
internal sealed partial class Sender
{
    /// <summary>
    /// What one skb costs beyond its data: SKB_TRUESIZE of the header tcp_stream_alloc_skb allocates (MAX_TCP_HEADER
    /// rounded to its slab, the sk_buff and skb_shared_info). Measured with <c>ss -tm</c> on Linux 6.18 x86-64: a write of
    /// one byte into an empty queue makes sk_wmem_queued 833, and each new skb adds 832.
    /// </summary>
    internal const int SkbOverhead = 832;

    /// <summary>The largest size goal (GSO_LEGACY_MAX_SIZE): how far Linux's accounting lets a write's last chunk pass the limit.</summary>
    internal const int MaxSizeGoal = 64 * 1024;

    private bool LinuxAccounting => _config.SendBufferAccounting == SendBufferAccounting.LinuxTruesize;

    /// <summary>
    /// Linux's sk_wmem_queued as far as the engine can tell it: every byte held, and one <see cref="SkbOverhead"/> per
    /// TSO packet in flight (tso_fragment makes each its own skb) and per <see cref="SizeGoal"/> chunk not yet sent
    /// (tcp_sendmsg_locked fills one skb to the goal before it starts the next).
    /// </summary>
    public long QueuedMemory
    {
        get
        {
            int unsent = NotSentBytes;
            int goal = SizeGoal;
            long unsentChunks = (unsent + (long)goal - 1) / goal;
            return Buffer.Count + (long)SkbOverhead * (_queue.Packets + unsentChunks);
        }
    }

    /// <summary>
    /// sk_stream_memory_free (without TCP_NOTSENT_LOWAT): a write may start another skb while the memory queued is
    /// below sk_sndbuf; whatever size that skb then reaches.
    /// </summary>
    private static bool MayStartChunk(long memory, int limit) => memory < limit;

    /// <summary>
    /// sk_stream_wspace ≥ sk_stream_min_wspace (__sk_stream_is_writeable): the free part of sk_sndbuf is at least half
    /// of what is queued, so a writer that found no room is woken once a third of the limit is free, not at each ACK.
    /// </summary>
    private bool MemoryWritable
    {
        get
        {
            long queued = QueuedMemory; // one reading for both sides of the comparison
            return Buffer.Capacity - queued >= queued / 2;
        }
    }
}
