namespace UserTcp.Sockets.Runtime;

/// <summary>
/// How the reader takes packets, learned from what its reads found (docs/design.md "Runtime", reading): how many packets
/// before a pass, and whether to poll before the next read. Owned by the reader thread; a value type that never allocates.
/// <para>
/// Draining (the default): read until the device is empty or the batch is full, one pass, then poll unless the batch
/// stopped full. A burst costs one read per packet, one pass and one poll. But when every batch is a single packet — a
/// request/response exchange, where the peer waits for our answer before it sends again — the read that finds the
/// device empty is a third more syscalls per request.
/// </para>
/// <para>
/// One packet per pass: after <see cref="SingleBatchesToSwitch"/> drained one-packet batches in a row, the reader takes
/// one packet, runs its pass (which writes the answer) and then reads again without polling: when the peer shares our
/// CPU, writing the answer woke it, it ran, and its next request is already queued when the write returns, so a
/// request costs one read and one write (lwIP's loop, which reads until empty with each packet processed as it is read,
/// gets there the same way). A read that finds nothing costs a poll; when most of them do (<see cref="MissesToPollFirst"/>
/// of the last <see cref="MissWindow"/>: the peer is on another CPU, still answering), the reader polls before each read instead — a poll, a read and a write per request — and tries reading first again every
/// <see cref="ProbeInterval"/> passes. That probe read drains: packets queued behind each other (two or more) send the
/// reader back to draining, where a burst costs one pass and one poll rather than one of each per packet.
/// </para>
/// </summary>
internal struct AdaptiveReadLimit
{
    /// <summary>Drained batches of exactly one packet, in a row, after which the reader takes one packet per pass.</summary>
    public const int SingleBatchesToSwitch = 2;

    /// <summary>In one-packet mode, every this many passes the read drains (and is tried before any poll).</summary>
    public const int ProbeInterval = 32;

    /// <summary>Of the last <see cref="MissWindow"/> reads right after a pass, how many must have found nothing before the reader polls before each read.</summary>
    public const int MissesToPollFirst = 12;

    /// <summary>How many of the latest reads right after a pass <see cref="MissesToPollFirst"/> counts over.</summary>
    public const int MissWindow = 16;

    // Draining: drained one-packet batches in a row. One packet per pass: passes since the last probe.
    private int _streak;
    // One packet per pass: reads right after a pass found nothing lately, so each read waits for a poll first.
    private bool _pollFirst;
    // One packet per pass, reading first: the latest reads right after a pass, one bit each (1: found nothing), newest lowest.
    private uint _misses;

    /// <summary>The reader takes one packet per pass (until a draining probe finds packets queued).</summary>
    public bool OnePacketPerPass { get; private set; }

    /// <summary>The reader's next step is to poll, and only then read (false: read at once).</summary>
    public bool PollNext { get; private set; }

    /// <summary>The most packets the next read takes before its pass.</summary>
    public readonly int Limit => OnePacketPerPass && _streak < ProbeInterval - 1 ? 1 : ReceiveBatch.MaxPackets;

    /// <summary>
    /// What the read with <paramref name="limit"/> found: <paramref name="count"/> packets, and whether it stopped because
    /// the device was empty (<paramref name="drained"/>) rather than at the limit. Decides <see cref="PollNext"/>.
    /// </summary>
    public void Record(int limit, int count, bool drained)
    {
        bool polled = PollNext;
        if (count == 0)
        {
            // A read right after a pass found nothing (after a poll: a timeout, nothing learned): poll now. When most of the
            // latest such reads did (or a probe did while polling first already), the peer is not that quick — it is on
            // another CPU — so poll first for a while. A miss now and then is our write not running the peer at once (the
            // scheduler's choice); polling before every read for it would cost a poll per request for nothing.
            if (OnePacketPerPass && !polled && (_pollFirst || NoteReadAfterPass(missed: true) >= MissesToPollFirst))
            {
                _pollFirst = true;
                _misses = 0;
                _streak = 0;
            }
            PollNext = true;
            return;
        }
        if (OnePacketPerPass && !polled && !_pollFirst) NoteReadAfterPass(missed: false);
        if (limit == 1)
        {
            _streak++;
        }
        else if (count > 1 || !drained)
        {
            // Packets queued behind each other: one pass and one poll for all of them beats one of each per packet.
            OnePacketPerPass = false;
            _streak = 0;
            PollNext = drained;
            return;
        }
        else if (OnePacketPerPass)
        {
            // The probe found just the one: no queue. Read before a poll was tried, and it found the packet.
            _streak = 0;
            if (!polled) _pollFirst = false;
        }
        else if (++_streak >= SingleBatchesToSwitch)
        {
            OnePacketPerPass = true;
            _streak = 0;
            _pollFirst = false; // try reading right after each pass
            _misses = 0;
        }
        else
        {
            PollNext = true; // the batch emptied the device: a read now would find nothing
            return;
        }
        // One packet per pass, after its pass: the next probe reads before any poll; otherwise as learned.
        PollNext = _pollFirst && _streak < ProbeInterval - 1;
    }

    /// <summary>Records whether a read right after a pass found nothing; returns how many of the latest <see cref="MissWindow"/> did.</summary>
    private int NoteReadAfterPass(bool missed)
    {
        _misses = ((_misses << 1) | (missed ? 1u : 0u)) & ((1u << MissWindow) - 1);
        return System.Numerics.BitOperations.PopCount(_misses);
    }
}
