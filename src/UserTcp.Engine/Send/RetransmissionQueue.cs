using UserTcp.Wire;

namespace UserTcp.Engine;

/// <summary>What the sender knows about one segment it sent and has not seen cumulatively acknowledged.</summary>
[Flags]
internal enum SegmentMarks : byte
{
    None = 0,
    /// <summary>A SACK block covered it (RFC 2018): the receiver holds it.</summary>
    Sacked = 1,
    /// <summary>Deemed lost (RFC 6675 IsLost, RACK, NewReno, or a timeout); retransmitted when <see cref="Retransmitted"/> is clear.</summary>
    Lost = 2,
    /// <summary>A retransmission of it is in flight (Linux's TCPCB_SACKED_RETRANS).</summary>
    Retransmitted = 4,
    /// <summary>It was retransmitted at least once (Karn's ambiguity; RACK's reordering test).</summary>
    EverRetransmitted = 8,
    /// <summary>It carries our FIN (its last sequence number).</summary>
    Fin = 16,
    /// <summary>It ends a write or record (its own PSH, not the one a TSO packet's end adds); a retransmission keeps it.</summary>
    Push = 32,
    /// <summary>It left while the sender was application-limited (Linux tcp_skb_cb tx.is_app_limited).</summary>
    AppLimited = 64,
    /// <summary>It was the last segment of its TSO packet: a retransmission packet does not reach past it (Linux's skb).</summary>
    PacketEnd = 128,
}

/// <summary>One segment in flight: sequence space [Start, End) (the FIN counts), when it last left, what is known of it.</summary>
internal struct SentSegment
{
    public SeqNumber Start;
    public SeqNumber End;
    public TimeSpan SentAt;
    /// <summary>
    /// Which of the connection's transmissions it last left as: orders two that left at the same <see cref="SentAt"/>
    /// (one pass of the engine shares one instant), where RFC 8985's tie-break by sequence number would put new data
    /// sent before a retransmission after it.
    /// </summary>
    public uint SendOrder;
    public SegmentMarks Marks;
    /// <summary>The delivery state when it last left, for rate samples (<see cref="DeliveryRateEstimator"/>).</summary>
    public DeliverySnapshot Delivery;

    public readonly int Length => End - Start;
    /// <summary>The octets of data, the FIN's sequence number left out.</summary>
    public readonly int DataLength => Length - (Is(SegmentMarks.Fin) ? 1 : 0);
    public readonly bool Is(SegmentMarks mark) => (Marks & mark) != 0;
    /// <summary>Deemed lost and not yet sent again.</summary>
    public readonly bool AwaitsRetransmission => (Marks & (SegmentMarks.Lost | SegmentMarks.Retransmitted | SegmentMarks.Sacked)) == SegmentMarks.Lost;
}

/// <summary>
/// The sender's scoreboard (RFC 6675 §3, Linux's retransmission queue): every segment sent and not cumulatively
/// acknowledged, oldest first, with its SACK, loss and retransmission marks, and running totals of each so the
/// data in flight (RFC 6675 "pipe") costs nothing to compute. A ring that grows by doubling; the engine's
/// <see cref="BufferPool"/> lends its first ring when a segment goes out and takes it back when all is acknowledged,
/// so an idle connection holds none and steady transfer allocates nothing.
/// </summary>
internal sealed class RetransmissionQueue(BufferPool pool)
{
    // Invariant: empty (the shared empty array) exactly while no ring is lent, which is at least whenever Count == 0.
    private SentSegment[] _ring = [];
    // Invariant: the segments are _ring[(_head + i) % Length] for i < Count, contiguous in sequence space.
    private int _head;
    // Transmissions so far, for SentSegment.SendOrder (wraps; compared by difference).
    private uint _sends;

    public int Count { get; private set; }
    /// <summary>Transmissions so far: the <see cref="SentSegment.SendOrder"/> of the latest (wraps; compared by difference).</summary>
    public uint Transmissions => _sends;
    /// <summary>Segments marked <see cref="SegmentMarks.PacketEnd"/>: the TSO packets in flight, Linux's skbs in its retransmission queue.</summary>
    public int Packets { get; private set; }
    /// <summary>Whether a ring is lent (only while segments are in flight).</summary>
    public bool HoldsRing => _ring.Length != 0;
    /// <summary>Sequence space of segments marked <see cref="SegmentMarks.Sacked"/>.</summary>
    public int SackedBytes { get; private set; }
    /// <summary>Segments marked <see cref="SegmentMarks.Sacked"/>.</summary>
    public int SackedSegments { get; private set; }
    /// <summary>Sequence space of segments marked lost (retransmitted again or not), not SACKed.</summary>
    public int LostBytes { get; private set; }
    /// <summary>Sequence space of retransmissions in flight (of lost segments, and tail loss probes of segments that are not).</summary>
    public int RetransmittedBytes { get; private set; }
    /// <summary>Sequence space of segments deemed lost and waiting to be sent again.</summary>
    public int AwaitingBytes { get; private set; }
    /// <summary>
    /// Retransmissions deemed lost again (a segment already deemed lost, its resend in flight, marked lost once more), not
    /// yet taken by <see cref="TakeLostRetransmissions"/>: Linux's tcp_mark_skb_lost counts them as TCPLostRetransmit.
    /// </summary>
    public int LostRetransmissions { get; private set; }
    /// <summary>The highest SACKed sequence number plus one (RFC 6675 HighSACK; RACK.fack); valid when SackedBytes > 0.</summary>
    public SeqNumber HighestSacked { get; private set; }

    public ref SentSegment this[int index] => ref _ring[(_head + index) % _ring.Length];

    public ref SentSegment Last => ref this[Count - 1];

    public void Append(SeqNumber start, SeqNumber end, TimeSpan now, SegmentMarks marks, in DeliverySnapshot delivery = default)
    {
        if (_ring.Length == 0)
        {
            _ring = pool.RentRing();
        }
        else if (Count == _ring.Length)
        {
            SentSegment[] grown = pool.RentRing(_ring.Length * 2);
            for (int i = 0; i < Count; i++) grown[i] = this[i];
            pool.ReturnRing(_ring);
            _ring = grown;
            _head = 0;
        }
        _ring[(_head + Count) % _ring.Length] = new SentSegment { Start = start, End = end, SentAt = now, SendOrder = ++_sends, Marks = marks, Delivery = delivery };
        Count++;
        if ((marks & SegmentMarks.PacketEnd) != 0) Packets++;
    }

    /// <summary>Index of the first segment ending after <paramref name="seq"/> (Count when none does).</summary>
    public int IndexEndingAfter(SeqNumber seq)
    {
        int low = 0, high = Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (this[middle].End > seq) high = middle;
            else low = middle + 1;
        }
        return low;
    }

    /// <summary>Removes the segments <paramref name="ack"/> covers; a segment it cuts keeps its unacknowledged tail.</summary>
    public void RemoveAcknowledged(SeqNumber ack)
    {
        while (Count > 0)
        {
            ref SentSegment first = ref this[0];
            if (first.End <= ack)
            {
                if (first.Is(SegmentMarks.PacketEnd)) Packets--;
                Unmark(ref first, first.Marks);
                _head = (_head + 1) % _ring.Length;
                Count--;
                continue;
            }
            if (first.Start < ack)
            {
                SegmentMarks marks = first.Marks;
                Unmark(ref first, marks);
                first.Start = ack;
                Mark(ref first, marks);
            }
            break;
        }
        if (Count == 0) Release();
    }

    /// <summary>Gives the ring back to the pool: when empty, or the connection is done.</summary>
    public void Release()
    {
        if (_ring.Length != 0) pool.ReturnRing(_ring);
        _ring = [];
        _head = 0;
        Count = Packets = 0;
        SackedBytes = SackedSegments = LostBytes = RetransmittedBytes = AwaitingBytes = 0;
    }

    public void MarkSacked(ref SentSegment segment)
    {
        if (segment.Is(SegmentMarks.Sacked)) return;
        // A SACKed segment is neither lost nor in flight any more (Linux tcp_sacktag_one).
        Unmark(ref segment, segment.Marks & (SegmentMarks.Lost | SegmentMarks.Retransmitted));
        Mark(ref segment, SegmentMarks.Sacked);
        if (SackedSegments == 1 || segment.End > HighestSacked) HighestSacked = segment.End;
    }

    /// <summary>Marks a segment lost; a retransmission of it that was in flight is deemed lost too.</summary>
    public void MarkLost(ref SentSegment segment)
    {
        if (segment.Is(SegmentMarks.Sacked)) return;
        if ((segment.Marks & (SegmentMarks.Lost | SegmentMarks.Retransmitted)) == (SegmentMarks.Lost | SegmentMarks.Retransmitted)) LostRetransmissions++;
        Unmark(ref segment, segment.Marks & SegmentMarks.Retransmitted);
        Mark(ref segment, SegmentMarks.Lost);
    }

    /// <summary>The retransmissions deemed lost again since the last call (for the TCPLostRetransmit counter).</summary>
    public int TakeLostRetransmissions()
    {
        int lost = LostRetransmissions;
        LostRetransmissions = 0;
        return lost;
    }

    /// <summary>
    /// A copy of the segment left at <paramref name="now"/>. A probe of a segment not deemed lost (RFC 8985 §7.3) is not
    /// marked lost: it is in flight twice until either copy is acknowledged, as Linux counts a TLP (retrans_out).
    /// </summary>
    public void MarkRetransmitted(ref SentSegment segment, TimeSpan now)
    {
        segment.SentAt = now;
        segment.SendOrder = ++_sends;
        Mark(ref segment, SegmentMarks.Retransmitted | SegmentMarks.EverRetransmitted);
    }

    /// <summary>A resend of the segment was tried and the local queue refused it: still lost, not in flight, but ever retransmitted (Linux's TCPCB_EVER_RETRANS).</summary>
    public void MarkEverRetransmitted(ref SentSegment segment) => Mark(ref segment, SegmentMarks.EverRetransmitted);

    /// <summary>A retransmission timeout: every segment not SACKed is lost (Linux tcp_timeout_mark_lost).</summary>
    public void MarkAllLost()
    {
        for (int i = 0; i < Count; i++) MarkLost(ref this[i]);
    }

    /// <summary>A timeout proved spurious: nothing is deemed lost any more (Linux's tcp_undo_cwnd_reduction); retransmissions stay in flight.</summary>
    public void UnmarkAllLost()
    {
        for (int i = 0; i < Count && LostBytes > 0; i++) Unmark(ref this[i], this[i].Marks & SegmentMarks.Lost);
    }

    /// <summary>The receiver dropped data it had SACKed (reneging, RFC 2018 §8): forget every SACK mark.</summary>
    public void ClearSacks()
    {
        for (int i = 0; i < Count; i++) Unmark(ref this[i], this[i].Marks & SegmentMarks.Sacked);
    }

    /// <summary>
    /// Cuts every segment longer than <paramref name="mss"/> (its FIN aside) into pieces no longer, each keeping the
    /// original's marks and send time, the FIN and PSH on the last piece; the pieces of a cut segment not SACKed are
    /// marked lost, to go again at the new size (RFC 1191 §6.1, Linux's tcp_simple_retransmit). Returns how many were cut.
    /// </summary>
    public int SplitLargerThan(int mss) => Split(mss, markLost: true, only: -1);

    /// <summary>Cuts the segment at <paramref name="index"/> into pieces of at most <paramref name="mss"/>, each keeping its marks (Linux's tcp_fragment before a resend).</summary>
    public void SplitSegment(int index, int mss) => Split(mss, markLost: false, only: index);

    private int Split(int mss, bool markLost, int only)
    {
        int cut = 0;
        for (int i = 0; i < Count; i++)
        {
            SentSegment s = this[i];
            if ((only < 0 || i == only) && s.DataLength > mss) cut++;
        }
        if (cut == 0) return 0;
        var pieces = new List<SentSegment>(Count + cut * 2);
        for (int i = 0; i < Count; i++)
        {
            SentSegment s = this[i];
            int data = s.DataLength;
            if (data <= mss || only >= 0 && i != only)
            {
                pieces.Add(s);
                continue;
            }
            SegmentMarks tailOnly = SegmentMarks.Fin | SegmentMarks.Push | SegmentMarks.PacketEnd; // the pieces go again as one packet (tcp_retransmit_skb)
            for (SeqNumber start = s.Start; start < s.End;)
            {
                int length = Math.Min(mss, (s.Start + data) - start);
                bool last = start + length >= s.Start + data;
                SeqNumber end = last ? s.End : start + length;
                SegmentMarks marks = last ? s.Marks : s.Marks & ~tailOnly;
                if (markLost && (marks & SegmentMarks.Sacked) == 0) marks = (marks | SegmentMarks.Lost) & ~SegmentMarks.Retransmitted;
                pieces.Add(new SentSegment { Start = start, End = end, SentAt = s.SentAt, SendOrder = s.SendOrder, Marks = marks, Delivery = s.Delivery });
                start = end;
            }
        }
        _ring = new SentSegment[Math.Max(64, (int)BitOperationsCeiling(pieces.Count))];
        _head = 0;
        Count = Packets = 0;
        SackedBytes = SackedSegments = LostBytes = RetransmittedBytes = AwaitingBytes = 0; // Mark below counts the pieces again
        foreach (SentSegment piece in pieces)
        {
            SegmentMarks marks = piece.Marks;
            if ((marks & SegmentMarks.PacketEnd) != 0) Packets++;
            _ring[Count] = piece with { Marks = SegmentMarks.None };
            Mark(ref _ring[Count], marks);
            Count++;
        }
        return cut;
    }

    private static uint BitOperationsCeiling(int count) => System.Numerics.BitOperations.RoundUpToPowerOf2((uint)count);

    /// <summary>Index of the first segment deemed lost and not yet sent again; -1 when none is.</summary>
    public int FirstAwaitingRetransmission()
    {
        if (AwaitingBytes == 0) return -1;
        for (int i = 0; i < Count; i++)
        {
            if (this[i].AwaitsRetransmission) return i;
        }
        return -1;
    }

    private void Mark(ref SentSegment segment, SegmentMarks marks)
    {
        SegmentMarks added = marks & ~segment.Marks;
        bool awaited = segment.AwaitsRetransmission;
        segment.Marks |= added;
        int length = segment.Length;
        AwaitingBytes += (segment.AwaitsRetransmission ? length : 0) - (awaited ? length : 0);
        if ((added & SegmentMarks.Sacked) != 0)
        {
            SackedBytes += length;
            SackedSegments++;
        }
        if ((added & SegmentMarks.Lost) != 0) LostBytes += length;
        if ((added & SegmentMarks.Retransmitted) != 0) RetransmittedBytes += length;
    }

    private void Unmark(ref SentSegment segment, SegmentMarks marks)
    {
        SegmentMarks removed = marks & segment.Marks;
        bool awaited = segment.AwaitsRetransmission;
        segment.Marks &= ~removed;
        int length = segment.Length;
        AwaitingBytes += (segment.AwaitsRetransmission ? length : 0) - (awaited ? length : 0);
        if ((removed & SegmentMarks.Sacked) != 0)
        {
            SackedBytes -= length;
            SackedSegments--;
        }
        if ((removed & SegmentMarks.Lost) != 0) LostBytes -= length;
        if ((removed & SegmentMarks.Retransmitted) != 0) RetransmittedBytes -= length;
    }
}
