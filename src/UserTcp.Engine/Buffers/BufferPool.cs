namespace UserTcp.Engine;

/// <summary>A piece of a connection's send or receive buffer, lent by a <see cref="BufferPool"/>; chained in order.</summary>
internal sealed class BufferChunk(int size)
{
    public readonly byte[] Data = new byte[size];
    /// <summary>The chunk that holds the bytes after this one's; null for the last.</summary>
    public BufferChunk? Next;
}

/// <summary>
/// The engine's store of buffer memory (memory on demand, issue 10): connections take chunks as data arrives and give
/// them back when drained, so an idle connection holds none; likewise the first ring of a retransmission queue. Single-owner like the engine. It keeps at most
/// <see cref="MaxRetained"/> free chunks for reuse (steady traffic allocates nothing) and lets the rest go to the GC.
/// </summary>
internal sealed class BufferPool
{
    /// <summary>Bytes per chunk: eleven 1460-byte segments, so about one in eleven crosses into the next chunk.</summary>
    public const int ChunkSize = 16 * 1024;
    /// <summary>Free chunks kept for reuse: 8 MiB.</summary>
    public const int MaxRetained = 512;

    /// <summary>Segments a retransmission queue's first ring holds; it doubles when full.</summary>
    public const int RingSize = 64;
    /// <summary>Ring sizes pooled: 64 to 64 &lt;&lt; 11 segments; larger ones go to the GC.</summary>
    private const int RingClasses = 12;

    private readonly EngineCounters? _counters;
    private readonly Stack<BufferChunk> _free = new();
    // _freeRings[k] holds free rings of RingSize << k segments.
    private readonly Stack<SentSegment[]>[] _freeRings = [.. Enumerable.Range(0, RingClasses).Select(_ => new Stack<SentSegment[]>())];

    /// <summary>A pool that lends at most <paramref name="maxBytes"/> (<see cref="TcpConfig.MaxBufferMemory"/>); pressure is counted in <paramref name="counters"/>.</summary>
    public BufferPool(long maxBytes = long.MaxValue, EngineCounters? counters = null)
    {
        MaxChunks = (int)Math.Clamp(maxBytes / ChunkSize, 1, int.MaxValue);
        _counters = counters;
    }

    /// <summary>Chunks lent out now.</summary>
    public int ChunksInUse { get; private set; }
    /// <summary>The most chunks lent out at once.</summary>
    public int PeakChunksInUse { get; private set; }
    /// <summary>The stack's budget, in chunks: writers check <see cref="ChunksAvailable"/> before they take more.</summary>
    public int MaxChunks { get; }
    /// <summary>Chunks the budget still allows.</summary>
    public int ChunksAvailable => Math.Max(0, MaxChunks - ChunksInUse);
    /// <summary>
    /// A writer found the budget used up; cleared once use falls to three quarters of it (Linux leaves memory pressure
    /// below tcp_mem[0], three quarters of tcp_mem[1]), so each episode counts once (TcpExtTCPMemoryPressures).
    /// </summary>
    public bool UnderPressure { get; private set; }

    /// <summary>A writer could not store all it was given for want of chunks.</summary>
    public void NoteShortage()
    {
        if (UnderPressure) return;
        UnderPressure = true;
        _counters?.Count(MibCounter.TcpExtTCPMemoryPressures);
    }
    /// <summary>Free chunks held for reuse.</summary>
    public int ChunksRetained => _free.Count;

    /// <summary>A chunk, always: the budget is the writers' to check (<see cref="ChunksAvailable"/>), so bytes already promised a place get it.</summary>
    public BufferChunk Rent()
    {
        ChunksInUse++;
        if (ChunksInUse > PeakChunksInUse) PeakChunksInUse = ChunksInUse;
        _counters?.SetBufferMemory(ChunksInUse * (long)ChunkSize, PeakChunksInUse * (long)ChunkSize);
        return _free.TryPop(out BufferChunk? chunk) ? chunk : new BufferChunk(ChunkSize);
    }

    public void Return(BufferChunk chunk)
    {
        ChunksInUse--;
        _counters?.SetBufferMemory(ChunksInUse * (long)ChunkSize, PeakChunksInUse * (long)ChunkSize);
        if (UnderPressure && ChunksInUse <= MaxChunks / 4 * 3) UnderPressure = false;
        chunk.Next = null;
        if (_free.Count < MaxRetained) _free.Push(chunk);
    }

    /// <summary>A ring of at least <paramref name="segments"/> (a power of two times <see cref="RingSize"/>) for a retransmission queue.</summary>
    public SentSegment[] RentRing(int segments = RingSize)
    {
        int size = RingSize;
        while (size < segments) size *= 2;
        int k = RingClass(size);
        return k < RingClasses && _freeRings[k].TryPop(out SentSegment[]? ring) ? ring : new SentSegment[size];
    }

    /// <summary>Takes a ring back. Each size keeps a few (4096 of the smallest, 1.5 KiB each; a quarter as many of each doubling).</summary>
    public void ReturnRing(SentSegment[] ring)
    {
        int k = RingClass(ring.Length);
        if (k < RingClasses && _freeRings[k].Count < Math.Max(4, 4096 >> (2 * k))) _freeRings[k].Push(ring);
    }

    private static int RingClass(int size) => System.Numerics.BitOperations.Log2((uint)(size / RingSize));
}
