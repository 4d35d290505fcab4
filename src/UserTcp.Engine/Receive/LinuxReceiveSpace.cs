using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>
/// Linux 6.18's receive window space (<see cref="ReceiveWindowModel.Linux"/>): the buffer is memory (sk_rcvbuf, twice
/// SO_RCVBUF), charged with the truesize of every skb queued in order or out of order (sk_rmem_alloc); the window is
/// that memory scaled by the data's share of truesize arriving segments show (scaling_ratio, tcp_measure_rcv_mss;
/// include/net/tcp.h tcp_win_from_space, tcp_space, tcp_full_space), bounded by window_clamp and grown stepwise through
/// rcv_ssthresh (tcp_init_buffer_space, tcp_grow_window, __tcp_select_window in net/ipv4/tcp_input.c, tcp_output.c).
/// docs/design.md "Linux's receive window".
/// </summary>
internal sealed class LinuxReceiveSpace
{
    /// <summary>TCP_DEFAULT_SCALING_RATIO: half of the memory is taken to be data until a segment shows otherwise.</summary>
    public const int DefaultScalingRatio = 1 << (RatioShift - 1);
    /// <summary>SOCK_MIN_RCVBUF (TCP_SKB_MIN_TRUESIZE): the smallest sk_rcvbuf; window_clamp stays at least half of it.</summary>
    public const int MinBuffer = 2304;
    // TCP_RMEM_TO_WIN_SCALE: scaling_ratio is the data's share of truesize in 1/256ths.
    private const int RatioShift = 8;

    private readonly int _advmss;
    // tcp_rmem[2]: bounds auto-tuning's growth of sk_rcvbuf and tcp_grow_window's estimate.
    private readonly long _maxBuffer;
    // The skbs queued in order before the last, oldest first: the stream offset (bytes delivered in order) just past
    // each and its truesize; freed when the application has read past it (tcp_recvmsg's sk_eat_skb).
    private readonly Queue<(long End, int Truesize)> _queued = new();
    // The last skb queued in order (the receive queue's tail, which later data may be copied into); null when none is.
    private (long End, int Truesize)? _tail;
    // Room left after the data of the last skb queued in order (skb_tailroom): a segment that fits is copied into it
    // and costs no truesize of its own (tcp_try_coalesce, skb_try_coalesce).
    private int _tailroom;
    // The skbs held out of order (tp->out_of_order_queue), by sequence range; made by the first one held.
    private List<(SeqNumber Start, SeqNumber End, int Truesize)>? _outOfOrder;
    // tcp_init_buffer_space has run (once, when the connection is established).
    private bool _established;

    public LinuxReceiveSpace(int buffer, long maxBuffer, int advmss)
    {
        Buffer = Math.Max(buffer, MinBuffer);
        _maxBuffer = Math.Max(maxBuffer, Buffer);
        _advmss = advmss;
    }

    /// <summary>sk_rcvbuf: the memory the receive queues may take (what getsockopt(SO_RCVBUF) reports).</summary>
    public int Buffer { get; private set; }
    /// <summary>scaling_ratio: the data's share of the memory its skbs take, in 1/256ths (1 to 255).</summary>
    public int ScalingRatio { get; private set; } = DefaultScalingRatio;
    /// <summary>window_clamp: the largest window offered; unbounded (only the field's) until established.</summary>
    public long WindowClamp { get; private set; } = long.MaxValue;
    /// <summary>rcv_ssthresh: the window offered while it grows (tcp_grow_window raises it as segments arrive).</summary>
    public long RcvSsthresh { get; private set; }
    /// <summary>
    /// rcvq_space.space as tcp_init_buffer_space sets it (the least of rcv_ssthresh, the SYN's window and ten of our
    /// segments), cut to window_clamp when a ratio lowers it: tcpi_rcv_space of a connection auto-tuning never grew.
    /// </summary>
    public long InitialSpace { get; private set; }
    /// <summary>
    /// icsk_ack.rcv_mss: the peer's segment size as in-order data shows it (tcp_initialize_rcv_mss's at most 536 until
    /// then; out-of-order segments do not count, tcp_measure_rcv_mss running for in-order data only).
    /// </summary>
    public int RcvMss { get; private set; }
    /// <summary>sk_rmem_alloc: the truesize of every skb queued, in order and out of order.</summary>
    public long Allocated { get; private set; }

    /// <summary>tcp_win_from_space: the window <paramref name="space"/> bytes of memory hold at the current ratio.</summary>
    public long WindowFromSpace(long space) => space * ScalingRatio >> RatioShift;
    /// <summary>tcp_space: the window the memory not yet charged holds (negative when over the buffer).</summary>
    public long Space => WindowFromSpace(Buffer - Allocated);
    /// <summary>tcp_full_space: the window the whole buffer holds.</summary>
    public long FullSpace => WindowFromSpace(Buffer);

    /// <summary>
    /// skb->truesize of a segment of <paramref name="ipLength"/> bytes as it comes through a TUN device (tun_get_user,
    /// tun_alloc_skb on x86-64): under a page with NET_SKB_PAD (64) before it, one kmalloc'd head — the packet and the
    /// skb_shared_info (320) in the next kmalloc size up — plus the sk_buff itself (256); 2304 for 1500 bytes (a 1460-byte
    /// segment) and for 1192 (1152 bytes). Larger, a 512-byte head with the data in whole pages (alloc_skb_with_frags).
    /// </summary>
    public static int Truesize(int ipLength)
    {
        const int pad = 64, sharedInfo = 320, skbStruct = 256, page = 4096;
        if (pad + ipLength < page) return KmallocSize(Align(pad + ipLength, 64) + sharedInfo) + skbStruct;
        return PagedHead + (ipLength + page - 1) / page * page;
    }

    // SKB_TRUESIZE of a paged skb's head: a kmalloc-512 and the sk_buff; the part tcp_grow_window leaves out of a
    // segment whose data lies wholly in pages (truesize_adjust).
    private const int PagedHead = 512 + 256;

    // The data room after the packet in a head-only skb (skb_tailroom); a paged one has none.
    private static int Tailroom(int ipLength) => 64 + ipLength >= 4096 ? 0 : Truesize(ipLength) - 256 - 320 - 64 - ipLength;

    // kmalloc's size classes up to a page pair (KMALLOC_MAX_CACHE_SIZE): powers of two from 512 for what a head needs.
    private static int KmallocSize(int size)
    {
        int bucket = 512;
        while (bucket < size) bucket <<= 1;
        return bucket;
    }

    private static int Align(int value, int to) => (value + to - 1) / to * to;

    /// <summary>
    /// tcp_init_buffer_space, once the connection is established: window_clamp no more than the whole buffer's window
    /// (nor than the field can say at <paramref name="shift"/>), less one segment kept in reserve (tcp_app_win), and
    /// rcv_ssthresh (the SYN's window, tcp_select_initial_window's rcv_wnd) no more than it.
    /// </summary>
    public void Establish(int shift, long synWindow)
    {
        if (_established) return;
        _established = true;
        if (RcvSsthresh == 0) RcvSsthresh = synWindow;
        RcvMss = (int)Math.Max(88, Math.Min(Math.Min(536, _advmss), synWindow / 2)); // tcp_initialize_rcv_mss (TCP_MIN_MSS 88)
        long clamp = Math.Min(WindowClamp, (long)ushort.MaxValue << shift);
        long full = FullSpace;
        if (clamp >= full) clamp = full;
        if (clamp > 2 * _advmss && clamp + _advmss > full) clamp = Math.Max(2 * _advmss, full - _advmss);
        WindowClamp = clamp;
        RcvSsthresh = Math.Min(RcvSsthresh, WindowClamp);
        InitialSpace = Math.Min(Math.Min(RcvSsthresh, synWindow), 10L * _advmss);
    }

    /// <summary>The window our SYN or SYN-ACK offered: rcv_ssthresh starts there (tcp_create_openreq_child, tcp_connect_init).</summary>
    public void OfferedInSyn(long window)
    {
        if (!_established) RcvSsthresh = window;
    }

    /// <summary>
    /// tcp_measure_rcv_mss: an in-order segment of <paramref name="length"/> bytes, at least <see cref="RcvMss"/>, makes
    /// it the new estimate (up to our MSS); when it differs, its truesize sets the ratio, and a new ratio moves
    /// window_clamp to the buffer's window (tcp_set_window_clamp).
    /// </summary>
    public void MeasureSegment(int length, int truesize, long lastWindow)
    {
        if (length < RcvMss) return;
        bool differs = length != RcvMss;
        RcvMss = Math.Min(length, _advmss);
        if (!differs) return;
        int ratio = (int)Math.Clamp(((long)length << RatioShift) / truesize, 1, 255);
        if (ratio == ScalingRatio) return;
        ScalingRatio = ratio;
        SetWindowClamp(WindowFromSpace(Buffer), lastWindow);
        InitialSpace = Math.Min(InitialSpace, WindowClamp);
    }

    // tcp_set_window_clamp: at least half the smallest buffer; a smaller clamp cuts rcv_ssthresh, a larger one lets it
    // reach the window last offered.
    private void SetWindowClamp(long clamp, long lastWindow)
    {
        clamp = Math.Max(clamp, MinBuffer / 2);
        if (clamp == WindowClamp) return;
        bool smaller = clamp < WindowClamp;
        WindowClamp = clamp;
        RcvSsthresh = smaller ? Math.Min(RcvSsthresh, clamp) : Math.Max(Math.Min(lastWindow, clamp), RcvSsthresh);
    }

    /// <summary>
    /// An in-order segment was queued (tcp_queue_rcv): its truesize is charged, unless its data fits the room left in
    /// the last skb still queued, which takes it for nothing (tcp_try_coalesce). <paramref name="streamEnd"/> is the
    /// count of in-order bytes with it.
    /// </summary>
    public void Queue(long streamEnd, int length, int ipLength)
    {
        if (TryCoalesce(streamEnd, length)) return;
        int truesize = Truesize(ipLength);
        Append(streamEnd, truesize);
        Allocated += truesize;
        _tailroom = Tailroom(ipLength);
    }

    // The receive queue's tail takes a segment whose data fits its room: it now ends where the segment does.
    private bool TryCoalesce(long streamEnd, int length)
    {
        if (_tail is not (long, int Truesize) tail || length > _tailroom) return false;
        _tail = (streamEnd, tail.Truesize);
        _tailroom -= length;
        return true;
    }

    private void Append(long streamEnd, int truesize)
    {
        if (_tail is (long, int) tail) _queued.Enqueue(tail);
        _tail = (streamEnd, truesize);
    }

    /// <summary>
    /// tcp_grow_window, for a segment of <paramref name="length"/> bytes (Linux grows for 128 or more): while the window
    /// could still grow (min(window_clamp, tcp_space) above rcv_ssthresh), a segment whose data is a fair share of its
    /// truesize — a share that would fill the window once the buffer holds skbs like it — raises rcv_ssthresh by two of
    /// our segments (twice its length, if more). Returns whether it grew: Linux then acknowledges at once (quick |= 1).
    /// </summary>
    public bool Grow(int length, int ipLength)
    {
        if (length < 128) return false;
        long room = Math.Min(WindowClamp, Space) - RcvSsthresh;
        if (room <= 0) return false;
        int truesize = Truesize(ipLength);
        // truesize_adjust: a segment whose data is all in pages counts only them.
        if (64 + ipLength >= 4096) truesize -= PagedHead;
        long increment;
        if (WindowFromSpace(truesize) <= length)
        {
            increment = 2 * _advmss;
        }
        else
        {
            // __tcp_grow_window: the smaller a segment's share, the lower rcv_ssthresh must be for it to count.
            increment = 0;
            long share = WindowFromSpace(truesize) >> 1;
            long window = WindowFromSpace(_maxBuffer) >> 1;
            while (RcvSsthresh <= window)
            {
                if (share <= length)
                {
                    increment = 2 * RcvMss;
                    break;
                }
                share >>= 1;
                window >>= 1;
            }
        }
        if (increment == 0) return false;
        RcvSsthresh += Math.Min(room, Math.Max(increment, 2L * length));
        return true;
    }

    /// <summary>
    /// A segment held out of order (tcp_data_queue_ofo): one that an skb held already covers is dropped (free), one
    /// that covers skbs held replaces them; the rest are charged. Linux grows the window for it first, with SACK only.
    /// </summary>
    public void Hold(SeqNumber start, SeqNumber end, int ipLength)
    {
        _outOfOrder ??= [];
        foreach ((SeqNumber s, SeqNumber e, _) in _outOfOrder)
        {
            if (s <= start && end <= e) return;
        }
        for (int i = _outOfOrder.Count - 1; i >= 0; i--)
        {
            (SeqNumber s, SeqNumber e, int t) = _outOfOrder[i];
            if (start <= s && e <= end)
            {
                Allocated -= t;
                _outOfOrder.RemoveAt(i);
            }
        }
        int truesize = Truesize(ipLength);
        _outOfOrder.Add((start, end, truesize));
        Allocated += truesize;
    }

    /// <summary>
    /// RCV.NXT moved from <paramref name="from"/> to <paramref name="rcvNxt"/> over held data (tcp_ofo_queue): each skb
    /// now in order moves to the receive queue with its truesize (or into the last skb's room, its own freed), and one
    /// wholly below where the queue had reached is freed as a duplicate. <paramref name="streamEnd"/> counts the in-order
    /// bytes up to <paramref name="rcvNxt"/>.
    /// </summary>
    public void TakeHeld(SeqNumber from, SeqNumber rcvNxt, long streamEnd)
    {
        if (_outOfOrder is null) return;
        _outOfOrder.Sort(static (a, b) => a.Start == b.Start ? 0 : a.Start < b.Start ? -1 : 1);
        SeqNumber reached = from;
        int i = 0;
        for (; i < _outOfOrder.Count && _outOfOrder[i].Start <= reached; i++)
        {
            (_, SeqNumber end, int truesize) = _outOfOrder[i];
            if (end <= reached)
            {
                Allocated -= truesize;
                continue;
            }
            long length = end - reached;
            long at = streamEnd - (rcvNxt - end);
            if (TryCoalesce(at, (int)Math.Min(length, int.MaxValue)))
            {
                Allocated -= truesize;
            }
            else
            {
                Append(at, truesize);
                _tailroom = 0; // held segments are taken as a whole skb; a later copy into it is not modelled
            }
            reached = end;
        }
        _outOfOrder.RemoveRange(0, i);
    }

    /// <summary>The application has read <paramref name="totalRead"/> bytes in all: the skbs it consumed are freed.</summary>
    public void OnRead(long totalRead)
    {
        while (_queued.Count > 0 && _queued.Peek().End <= totalRead) Allocated -= _queued.Dequeue().Truesize;
        if (_queued.Count > 0 || _tail is not (long end, int truesize) || end > totalRead) return;
        Allocated -= truesize;
        _tail = null;
    }

    /// <summary>Everything queued is gone (the connection closed with data unread): nothing is charged.</summary>
    public void Clear()
    {
        _queued.Clear();
        _tail = null;
        _outOfOrder?.Clear();
        Allocated = 0;
    }

    /// <summary>
    /// tcp_rcvbuf_grow: auto-tuning wants room for <paramref name="window"/> bytes of data; sk_rcvbuf grows to the memory
    /// that takes at the current ratio (up to tcp_rmem[2]) and window_clamp follows it.
    /// </summary>
    public void GrowBuffer(long window)
    {
        long buffer = Math.Min((window << RatioShift) / ScalingRatio, _maxBuffer);
        if (buffer <= Buffer) return;
        Buffer = (int)Math.Min(buffer, int.MaxValue);
        WindowClamp = WindowFromSpace(Buffer);
    }

    /// <summary>
    /// __tcp_select_window (<see cref="ReceiveWindow.Select(long, long, long, int, long, long, long, bool, out bool)"/>) with
    /// Linux's space: the free memory's window (tcp_space) within window_clamp, at most rcv_ssthresh, rounded up to the
    /// field's unit with a window scale; <paramref name="endQuickAcks"/> when less than half of it is free.
    /// </summary>
    public long Select(int shift, long lastWindow, out bool endQuickAcks) =>
        ReceiveWindow.Select(Space, FullSpace, WindowClamp, shift, RcvMss, lastWindow, RcvSsthresh, roundUp: true, out endQuickAcks);
}
