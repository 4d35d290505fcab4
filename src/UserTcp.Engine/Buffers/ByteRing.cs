namespace UserTcp.Engine;

/// <summary>A fixed-capacity FIFO of bytes: the send and receive buffers. Never allocates after construction.</summary>
internal sealed class ByteRing
{
    private readonly byte[] _buffer;
    // Invariant: 0 <= _head < capacity and 0 <= Count <= capacity; the bytes are _buffer[_head..] then wrapped.
    private int _head;

    public ByteRing(int capacity) => _buffer = new byte[capacity];

    public int Capacity => _buffer.Length;
    public int Count { get; private set; }
    public int Free => _buffer.Length - Count;

    /// <summary>Appends as much of <paramref name="data"/> as fits; returns how much.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        int tail = (_head + Count) % _buffer.Length;
        int first = Math.Min(n, _buffer.Length - tail);
        data[..first].CopyTo(_buffer.AsSpan(tail));
        data[first..n].CopyTo(_buffer);
        Count += n;
        return n;
    }

    /// <summary>Copies bytes starting <paramref name="offset"/> from the front, without removing them.</summary>
    public int Peek(int offset, Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Count - offset);
        if (n <= 0) return 0;
        int start = (_head + offset) % _buffer.Length;
        int first = Math.Min(n, _buffer.Length - start);
        _buffer.AsSpan(start, first).CopyTo(destination);
        _buffer.AsSpan(0, n - first).CopyTo(destination[first..]);
        return n;
    }

    /// <summary>The bytes at <paramref name="offset"/> as one span when they do not wrap; empty otherwise.</summary>
    public ReadOnlySpan<byte> Contiguous(int offset, int length)
    {
        int start = (_head + offset) % _buffer.Length;
        return start + length <= _buffer.Length ? _buffer.AsSpan(start, length) : default;
    }

    /// <summary>Removes up to <paramref name="count"/> bytes from the front.</summary>
    public void Discard(int count)
    {
        count = Math.Min(count, Count);
        _head = (_head + count) % _buffer.Length;
        Count -= count;
        if (Count == 0) _head = 0;
    }

    public int Read(Span<byte> destination)
    {
        int n = Peek(0, destination);
        Discard(n);
        return n;
    }
}
