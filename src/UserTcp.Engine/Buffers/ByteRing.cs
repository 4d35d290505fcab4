namespace UserTcp.Engine;

/// <summary>
/// A fixed-capacity FIFO of bytes: the send and receive buffers. The array is allocated by the first write, so a
/// connection that never carries data — a half-open one in a SYN flood — costs no buffer (docs/design.md "Security");
/// after that it never allocates.
/// </summary>
internal sealed class ByteRing
{
    private readonly int _capacity;
    // Null until the first write; then Length == _capacity.
    private byte[]? _buffer;
    // Invariant: 0 <= _head < capacity and 0 <= Count <= capacity; the bytes are _buffer[_head..] then wrapped.
    private int _head;
    // How far past the readable bytes WriteAt has written (the receive side's out-of-order data); 0 when nothing.
    private int _ahead;

    public ByteRing(int capacity) => _capacity = capacity;

    public int Capacity => _capacity;
    public int Count { get; private set; }
    public int Free => _capacity - Count;
    /// <summary>Bytes of memory the ring holds: its capacity once written to, zero before.</summary>
    public int Allocated => _buffer?.Length ?? 0;

    /// <summary>Appends as much of <paramref name="data"/> as fits; returns how much.</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, Free);
        if (n == 0) return 0;
        _ahead = Math.Max(0, _ahead - n); // in-order bytes cover the front of what WriteAt held
        byte[] buffer = _buffer ??= new byte[_capacity];
        int tail = (_head + Count) % buffer.Length;
        int first = Math.Min(n, buffer.Length - tail);
        data[..first].CopyTo(buffer.AsSpan(tail));
        data[first..n].CopyTo(buffer);
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
        byte[] buffer = _buffer ??= new byte[_capacity];
        int at = (_head + Count + offset) % buffer.Length;
        int first = Math.Min(data.Length, buffer.Length - at);
        data[..first].CopyTo(buffer.AsSpan(at));
        data[first..].CopyTo(buffer);
        _ahead = Math.Max(_ahead, offset + data.Length);
        return true;
    }

    /// <summary>Whether <paramref name="length"/> bytes fit <paramref name="offset"/> bytes past the readable ones.</summary>
    public bool CanWriteAt(int offset, int length) => offset >= 0 && offset + length <= Free;

    /// <summary>Makes the next <paramref name="count"/> bytes written by <see cref="WriteAt"/> readable.</summary>
    public void Commit(int count)
    {
        count = Math.Min(count, Free);
        Count += count;
        _ahead = Math.Max(0, _ahead - count);
    }

    /// <summary>Forgets what <see cref="WriteAt"/> wrote beyond the readable bytes.</summary>
    public void ForgetAhead() => _ahead = 0;

    /// <summary>Copies bytes starting <paramref name="offset"/> from the front, without removing them.</summary>
    public int Peek(int offset, Span<byte> destination)
    {
        int n = Math.Min(destination.Length, Count - offset);
        if (n <= 0 || _buffer is not byte[] buffer) return 0;
        int start = (_head + offset) % buffer.Length;
        int first = Math.Min(n, buffer.Length - start);
        buffer.AsSpan(start, first).CopyTo(destination);
        buffer.AsSpan(0, n - first).CopyTo(destination[first..]);
        return n;
    }

    /// <summary>The bytes at <paramref name="offset"/> as one span when they do not wrap; empty otherwise.</summary>
    public ReadOnlySpan<byte> Contiguous(int offset, int length)
    {
        if (_buffer is not byte[] buffer) return default;
        int start = (_head + offset) % buffer.Length;
        return start + length <= buffer.Length ? buffer.AsSpan(start, length) : default;
    }

    /// <summary>Removes up to <paramref name="count"/> bytes from the front.</summary>
    public void Discard(int count)
    {
        count = Math.Min(count, Count);
        if (count <= 0 || _buffer is not byte[] buffer) return;
        _head = (_head + count) % buffer.Length;
        Count -= count;
        if (Count == 0 && _ahead == 0) _head = 0; // back to the start while nothing is held, so spans wrap less
    }

    public int Read(Span<byte> destination)
    {
        int n = Peek(0, destination);
        Discard(n);
        return n;
    }
}
