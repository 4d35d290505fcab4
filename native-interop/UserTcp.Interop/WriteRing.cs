using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

/// <summary>
/// Writes a batch of frames to one descriptor with one io_uring_enter(2): an IORING_OP_WRITE per frame, submitted
/// together and waited for together. On TUN, write(2) takes one packet per call and writev(2) joins its buffers into
/// one packet, so this is the way to hand the kernel several packets in one system call; each write still runs the
/// kernel's receive path inline, during the enter, on this thread. Not thread-safe: one writer at a time (the caller
/// locks). A queued frame's memory must stay pinned and unchanged until <see cref="Flush"/> returns. The target
/// descriptor is held only while a flush runs, so a device that is never disposed still closes when collected.
/// </summary>
internal sealed unsafe class WriteRing : IDisposable
{
    // <linux/io_uring.h> setup flags Tmds.LibC 0.5.0 lacks.
    private const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;   // keep submitting the batch when one entry fails to start (5.18)
    private const uint IORING_SETUP_COOP_TASKRUN = 1u << 8; // no interrupt to run completion work: we wait for it in enter (5.19)

    private readonly SafeFileDescriptor _target;
    private readonly int _ringFd;
    private readonly int _targetFd;
    private readonly void* _rings;
    private readonly nuint _ringsBytes;
    private readonly void* _cqRing;
    private readonly nuint _cqRingBytes;
    private readonly io_uring_sqe* _sqes;
    private readonly nuint _sqesBytes;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly io_uring_cqe* _cqes;
    // Our copy of the submission tail: entries written but not yet published or submitted.
    private uint _sqTailLocal;
    // Entries published and not yet taken by io_uring_enter; entries submitted whose completion is not yet reaped.
    private uint _unsubmitted;
    private uint _inFlight;
    private bool _disposed;

    private WriteRing(SafeFileDescriptor target, int ringFd, in io_uring_params p, void* rings, nuint ringsBytes,
        void* cqRing, nuint cqRingBytes, void* sqes, nuint sqesBytes)
    {
        _target = target;
        _targetFd = (int)target.DangerousGetHandle();
        _ringFd = ringFd;
        _rings = rings;
        _ringsBytes = ringsBytes;
        _cqRing = cqRing;
        _cqRingBytes = cqRingBytes;
        _sqes = (io_uring_sqe*)sqes;
        _sqesBytes = sqesBytes;
        byte* sq = (byte*)rings;
        _sqHead = (uint*)(sq + p.sq_off.head);
        _sqTail = (uint*)(sq + p.sq_off.tail);
        _sqMask = *(uint*)(sq + p.sq_off.ring_mask);
        _sqEntries = *(uint*)(sq + p.sq_off.ring_entries);
        // The index array maps ring slots to entries one to one, once: an entry is then written in place and published.
        uint* array = (uint*)(sq + p.sq_off.array);
        for (uint i = 0; i < _sqEntries; i++) array[i] = i;
        byte* cq = (byte*)cqRing;
        _cqHead = (uint*)(cq + p.cq_off.head);
        _cqTail = (uint*)(cq + p.cq_off.tail);
        _cqMask = *(uint*)(cq + p.cq_off.ring_mask);
        _cqes = (io_uring_cqe*)(cq + p.cq_off.cqes);
        _sqTailLocal = *_sqTail;
    }

    /// <summary>How many frames one batch may hold.</summary>
    public int Capacity => (int)_sqEntries;

    /// <summary>
    /// A ring of <paramref name="entries"/> writes to <paramref name="target"/>, or null and the errno when the kernel offers
    /// none: io_uring disabled (/proc/sys/kernel/io_uring_disabled, EPERM), filtered by seccomp, or a kernel before 5.7
    /// (no IORING_FEAT_FAST_POLL, which came after IORING_OP_WRITE).
    /// </summary>
    public static WriteRing? TryCreate(SafeFileDescriptor target, uint entries, out int errno)
    {
        var p = new io_uring_params { flags = LibC.IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN };
        int ringFd = LibC.io_uring_setup(entries, &p);
        if (ringFd < 0 && Marshal.GetLastSystemError() == LibC.EINVAL)
        {
            p = new io_uring_params { flags = LibC.IORING_SETUP_CLAMP }; // a kernel before 5.19: without the newer flags
            ringFd = LibC.io_uring_setup(entries, &p);
        }
        if (ringFd < 0)
        {
            errno = Marshal.GetLastSystemError();
            return null;
        }
        void* rings = null, cqRing = null, sqes = null;
        nuint ringsBytes = 0, cqRingBytes = 0, sqesBytes = 0;
        try
        {
            if ((p.features & LibC.IORING_FEAT_FAST_POLL) == 0)
            {
                errno = LibC.ENOSYS;
                return null;
            }
            nuint sqRingBytes = p.sq_off.array + p.sq_entries * sizeof(uint);
            cqRingBytes = p.cq_off.cqes + p.cq_entries * (nuint)sizeof(io_uring_cqe);
            bool single = (p.features & LibC.IORING_FEAT_SINGLE_MMAP) != 0;
            ringsBytes = single ? Math.Max(sqRingBytes, cqRingBytes) : sqRingBytes;
            rings = Map(ringFd, ringsBytes, LibC.IORING_OFF_SQ_RING);
            if (single)
            {
                cqRing = rings;
                cqRingBytes = 0; // unmapped with the submission ring
            }
            else
            {
                cqRing = rings is null ? null : Map(ringFd, cqRingBytes, LibC.IORING_OFF_CQ_RING);
            }
            sqesBytes = p.sq_entries * (nuint)sizeof(io_uring_sqe);
            sqes = cqRing is null ? null : Map(ringFd, sqesBytes, LibC.IORING_OFF_SQES);
            if (sqes is null)
            {
                errno = Marshal.GetLastSystemError();
                return null;
            }
            var ring = new WriteRing(target, ringFd, p, rings, ringsBytes, cqRing, cqRingBytes, sqes, sqesBytes);
            rings = cqRing = sqes = null; // owned by the ring now
            ringFd = -1;
            errno = 0;
            return ring;
        }
        finally
        {
            if (sqes is not null) _ = LibC.munmap(sqes, (size_t)(ulong)sqesBytes);
            if (cqRing is not null && cqRing != rings) _ = LibC.munmap(cqRing, (size_t)(ulong)cqRingBytes);
            if (rings is not null) _ = LibC.munmap(rings, (size_t)(ulong)ringsBytes);
            if (ringFd >= 0) _ = LibC.close(ringFd);
        }
    }

    private static void* Map(int ringFd, nuint bytes, ulong offset)
    {
        void* at = LibC.mmap(null, (size_t)(ulong)bytes, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_POPULATE, ringFd, (long)offset);
        return at == LibC.MAP_FAILED ? null : at;
    }

    /// <summary>
    /// Queues a write of <paramref name="frame"/>, whose memory must stay pinned and unchanged until <see cref="Flush"/>
    /// returns; false when the batch is full (flush first).
    /// </summary>
    public bool TryQueue(ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_unsubmitted + _inFlight + (_sqTailLocal - *_sqTail) >= _sqEntries) return false;
        io_uring_sqe* sqe = &_sqes[_sqTailLocal & _sqMask];
        *sqe = default;
        sqe->opcode = LibC.IORING_OP_WRITE;
        sqe->fd = _targetFd;
        fixed (byte* start = frame)
        {
            sqe->addr = (ulong)start; // pinned by the caller until Flush returns
        }
        sqe->len = (uint)frame.Length;
        _sqTailLocal++;
        return true;
    }

    /// <summary>
    /// Submits every queued write with one io_uring_enter (more only when a signal interrupts it; <paramref name="enters"/>
    /// counts them) and waits until all have completed; a single queued write goes by write(2) instead. Counts those the
    /// kernel refused with EAGAIN (<paramref name="dropped"/>: its backlog was full, as for write(2)) and those that failed otherwise (<paramref name="failed"/>, the first one's errno in
    /// <paramref name="firstError"/>). Returns false, with the errno in <paramref name="firstError"/>, when io_uring_enter
    /// itself fails: the ring is then closed (what it still held is lost) and the caller writes without it.
    /// </summary>
    public bool Flush(out int dropped, out int failed, out int firstError, out int enters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        dropped = failed = firstError = enters = 0;
        uint published = _sqTailLocal - *_sqTail;
        if (published == 0 && _inFlight == 0 && _unsubmitted == 0) return true;
        // The target stays open while its writes are in flight (as Syscalls holds a descriptor for each call).
        bool added = false;
        _target.DangerousAddRef(ref added);
        try
        {
            if (published == 1 && _inFlight == 0 && _unsubmitted == 0)
            {
                // A batch of one (a request/response answer): write(2) costs no more than io_uring_enter, and the entry,
                // never published, is simply taken back.
                _sqTailLocal--;
                WriteOne(&_sqes[_sqTailLocal & _sqMask], ref dropped, ref failed, ref firstError);
                return true;
            }
            return Submit(published, ref dropped, ref failed, ref firstError, ref enters);
        }
        finally
        {
            if (added) _target.DangerousRelease();
        }
    }

    private bool Submit(uint published, ref int dropped, ref int failed, ref int firstError, ref int enters)
    {
        Volatile.Write(ref *_sqTail, _sqTailLocal); // release: the entries are written before the kernel sees the tail
        _unsubmitted += published;
        while (_unsubmitted > 0 || _inFlight > 0)
        {
            int submitted = LibC.io_uring_enter(_ringFd, _unsubmitted, _unsubmitted + _inFlight, LibC.IORING_ENTER_GETEVENTS, null);
            enters++;
            if (submitted >= 0)
            {
                _unsubmitted -= (uint)submitted;
                _inFlight += (uint)submitted;
            }
            else
            {
                int errno = Marshal.GetLastSystemError();
                // Interrupted, or completions to reap first: reap and enter again.
                if (errno != LibC.EINTR && errno != LibC.EAGAIN && errno != LibC.EBUSY)
                {
                    firstError = errno;
                    Dispose();
                    return false;
                }
            }
            Reap(ref dropped, ref failed, ref firstError);
        }
        return true;
    }

    private void WriteOne(io_uring_sqe* entry, ref int dropped, ref int failed, ref int firstError)
    {
        while (LibC.write(_targetFd, (void*)entry->addr, entry->len) < 0)
        {
            int errno = Marshal.GetLastSystemError();
            if (errno == LibC.EINTR) continue;
            Count(-errno, ref dropped, ref failed, ref firstError);
            return;
        }
    }

    private static void Count(int result, ref int dropped, ref int failed, ref int firstError)
    {
        if (result >= 0) return;
        if (-result == LibC.EAGAIN)
        {
            dropped++;
        }
        else if (failed++ == 0)
        {
            firstError = -result;
        }
    }

    private void Reap(ref int dropped, ref int failed, ref int firstError)
    {
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // acquire: the entries up to the tail are complete
        for (; head != tail; head++)
        {
            _inFlight--;
            Count(_cqes[head & _cqMask].res, ref dropped, ref failed, ref firstError);
        }
        Volatile.Write(ref *_cqHead, head);
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    // A ring never disposed (its device was not) still gives back its mappings and descriptor.
    ~WriteRing() => Release();

    private void Release()
    {
        if (_disposed) return;
        _disposed = true;
        // Closing the ring drops what it still held; the writes already submitted have completed (Flush waits for them).
        _ = LibC.munmap(_sqes, (size_t)(ulong)_sqesBytes);
        if (_cqRingBytes != 0) _ = LibC.munmap(_cqRing, (size_t)(ulong)_cqRingBytes);
        _ = LibC.munmap(_rings, (size_t)(ulong)_ringsBytes);
        _ = LibC.close(_ringFd);
    }
}
