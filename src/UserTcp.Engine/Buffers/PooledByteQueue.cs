namespace UserTcp.Engine;

/// <summary>
/// A FIFO of bytes with a logical capacity, stored in chunks from the engine's <see cref="BufferPool"/>: the send and
/// receive buffers. It holds chunks only while it holds bytes — readable ones, or out-of-order ones written ahead of them
/// with <see cref="WriteAt"/> — and each chunk goes back to the pool as soon as the front passes it. An empty queue
/// holds none, so an idle connection (or a half-open one in a SYN flood) costs no buffer (docs/design.md "Security").
/// Allocates nothing once the pool is warm.
/// </summary>
internal sealed class PooledByteQueue
{
    private readonly BufferPool _pool;
    // Invariant: _head is null exactly when no chunk is held; _tail is the last of the chain from _head.
    private BufferChunk? _head;
    private BufferChunk? _tail;
    // Invariant: the first byte is _head.Data[_headOffset], and 0 <= _headOffset < chunk size while a chunk is held.
    private int _headOffset;
    // Bytes the chain holds room for, counted from the first byte.
    private int _covered;
    // How far past the readable bytes WriteAt has written (the receive side's out-of-order data); 0 when nothing.
    private int _ahead;

    public PooledByteQueue(BufferPool pool, int capacity)
    {
        _pool = pool;
        Capacity = capacity;
    }

    /// <summary>The most bytes it may hold (SO_SNDBUF/SO_RCVBUF); memory is taken only for bytes really held.</summary>
    public int Capacity { get; set; }
    public int Count { get; private set; }
    public int Free => Math.Max(0, Capacity - Count);
    /// <summary>Whether any chunk is held (only while bytes are).</summary>
    public bool HoldsMemory => _head is not null;

    /// <summary>
    /// Bytes it could hold from the front within the stack's buffer memory (<see cref="TcpConfig.MaxBufferMemory"/>): the
    /// chunks it holds and those the pool may still lend, whatever the capacity.
    /// </summary>
    public long Storable => _covered + (long)_pool.ChunksAvailable * BufferPool.ChunkSize;

    /// <summary>Free space that memory backs now: what the receive window may offer.</summary>
    public int StorableFree => (int)Math.Clamp(Storable - Count, 0, Free);

    /// <summary>Appends as much of <paramref name="data"/> as fits in the capacity and the stack's buffer memory; returns how much.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int room = Math.Min(data.Length, Free);
        int n = (int)Math.Min(room, Math.Max(0, Storable - Count));
        if (n < room) _pool.NoteShortage();
        if (n == 0) return 0;
        CopyIn(Count, data[..n]);
        _ahead = Math.Max(0, _ahead - n); // in-order bytes cover the front of what WriteAt held
        Count += n;
        return n;
    }

    /// <summary>
    /// Writes <paramref name="data"/> <paramref name="offset"/> bytes past the readable ones, without making it readable
    /// (out-of-order data at its place in the window); false, writing nothing, when it does not fit in the free space.
    /// </summary>
    public bool WriteAt(int offset, ReadOnlySpan<byte> data)
    {
        if (!CanWriteAt(offset, data.Length)) return false;
        if (data.IsEmpty) return true;
        CopyIn(Count + offset, data);
        _ahead = Math.Max(_ahead, offset + data.Length);
        return true;
    }

    /// <summary>Whether <paramref name="length"/> bytes fit <paramref name="offset"/> bytes past the readable ones.</summary>
    public bool CanWriteAt(int offset, int length) => offset >= 0 && offset + length <= Free;

    /// <summary>Whether the stack's buffer memory holds <paramref name="length"/> bytes <paramref name="offset"/> past the readable ones (noted as a shortage when not).</summary>
    public bool HasMemoryFor(int offset, int length)
    {
        if ((long)Count + offset + length <= Storable) return true;
        _pool.NoteShortage();
        return false;
    }

    /// <summary>Makes the next <paramref name="count"/> bytes written by <see cref="WriteAt"/> readable.</summary>
    public void Commit(int count)
    {
        count = Math.Min(count, Free);
        while (_covered < Count + count) AppendChunk();
        Count += count;
        _ahead = Math.Max(0, _ahead - count);
    }

    /// <summary>Forgets what <see cref="WriteAt"/> wrote beyond the readable bytes.</summary>
    public void ForgetAhead()
    {
        _ahead = 0;
        if (Count == 0) ReleaseAll();
    }

    // Copies data to the position `at` bytes from the front, taking chunks until the chain covers it.
    private void CopyIn(int at, ReadOnlySpan<byte> data)
    {
        while (_covered < at + data.Length) AppendChunk();
        (BufferChunk? chunk, int index) = Locate(at);
        for (int copied = 0; copied < data.Length; chunk = chunk.Next, index = 0)
        {
            int take = Math.Min(data.Length - copied, chunk!.Data.Length - index);
            data.Slice(copied, take).CopyTo(chunk.Data.AsSpan(index));
            copied += take;
        }
    }

    private void AppendChunk()
    {
        BufferChunk chunk = _pool.Rent();
        if (_tail is null)
        {
            _head = chunk;
            _headOffset = 0;
            _covered = chunk.Data.Length;
        }
        else
        {
            _tail.Next = chunk;
            _covered += chunk.Data.Length;
        }
        _tail = chunk;
    }

    /// <summary>Copies bytes starting <paramref name="offset"/> from the front, without removing them.</summary>
    public int Peek(int offset, Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Count - offset);
        if (n <= 0) return 0;
        (BufferChunk? chunk, int at) = Locate(offset);
        for (int copied = 0; copied < n; chunk = chunk.Next, at = 0)
        {
            int take = Math.Min(n - copied, chunk!.Data.Length - at);
            chunk.Data.AsSpan(at, take).CopyTo(destination[copied..]);
            copied += take;
        }
        return n;
    }

    /// <summary>The bytes at <paramref name="offset"/> as one span when they lie in one chunk; empty otherwise.</summary>
    public ReadOnlySpan<byte> Contiguous(int offset, int length)
    {
        if (length <= 0 || offset < 0 || offset + length > Count) return default;
        (BufferChunk? chunk, int at) = Locate(offset);
        return at + length <= chunk!.Data.Length ? chunk.Data.AsSpan(at, length) : default;
    }

    // The chunk holding the byte at offset (< _covered) from the front, and its index there.
    private (BufferChunk? Chunk, int At) Locate(int offset)
    {
        // Appends land in the last chunk: found at once, so a large buffer (auto-tuning grows one to megabytes, hundreds
        // of chunks) costs no walk per arriving segment. The last chunk starts _covered - its length from the front.
        if (_tail is not null && offset >= _covered - _tail.Data.Length) return (_tail, offset - (_covered - _tail.Data.Length));
        BufferChunk? chunk = _head;
        int at = _headOffset + offset;
        while (chunk is not null && at >= chunk.Data.Length)
        {
            at -= chunk.Data.Length;
            chunk = chunk.Next;
        }
        return (chunk, at);
    }

    /// <summary>Removes up to <paramref name="count"/> bytes from the front; chunks the front passes go back to the pool.</summary>
    public void Discard(int count)
    {
        count = Math.Min(count, Count);
        if (count <= 0) return;
        Count -= count;
        if (Count == 0 && _ahead == 0)
        {
            ReleaseAll();
            return;
        }
        _headOffset += count;
        _covered -= count;
        while (_head is not null && _headOffset >= _head.Data.Length)
        {
            _headOffset -= _head.Data.Length;
            BufferChunk passed = _head;
            _head = passed.Next;
            if (_head is null) _tail = null;
            _pool.Return(passed);
        }
        if (_head is null)
        {
            _headOffset = 0;
            _covered = 0;
        }
    }

    private void ReleaseAll()
    {
        while (_head is not null)
        {
            BufferChunk emptied = _head;
            _head = emptied.Next;
            _pool.Return(emptied);
        }
        _tail = null;
        _headOffset = 0;
        _covered = 0;
    }

    public int Read(Span<byte> destination)
    {
        int n = Peek(0, destination);
        Discard(n);
        return n;
    }
}
