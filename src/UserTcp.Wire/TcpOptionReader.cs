namespace UserTcp.Wire;

/// <summary>TCP option kinds this stack understands (IANA "TCP Option Kind Numbers").</summary>
public enum TcpOptionKind : byte
{
    EndOfList = 0,
    NoOperation = 1,
    MaxSegmentSize = 2,
    WindowScale = 3,
    SackPermitted = 4,
    Sack = 5,
    Timestamps = 8,
}

/// <summary>One option as it stands on the wire: its kind and the bytes after kind and length.</summary>
public readonly ref struct TcpOption
{
    public TcpOption(TcpOptionKind kind, ReadOnlySpan<byte> data)
    {
        Kind = kind;
        Data = data;
    }

    public TcpOptionKind Kind { get; }
    /// <summary>The option's value bytes (empty for EOL, NOP and SACK-permitted).</summary>
    public ReadOnlySpan<byte> Data { get; }
}

/// <summary>
/// Walks the options area in wire order (RFC 9293 §3.2). Unknown kinds are yielded and skipped by their length;
/// a missing or impossible length, or a known kind with the wrong length, stops the walk with
/// <see cref="WireError.MalformedOption"/> in <see cref="Error"/>. End-of-list is yielded once and ends the walk.
/// </summary>
public ref struct TcpOptionReader
{
    private ReadOnlySpan<byte> _rest;

    public TcpOptionReader(ReadOnlySpan<byte> options)
    {
        _rest = options;
        Current = default;
        Error = WireError.None;
    }

    public TcpOption Current { get; private set; }

    /// <summary><see cref="WireError.None"/> unless the walk stopped on a malformed option.</summary>
    public WireError Error { get; private set; }

    public readonly TcpOptionReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_rest.IsEmpty) return false;
        var kind = (TcpOptionKind)_rest[0];
        if (kind == TcpOptionKind.EndOfList)
        {
            Current = new TcpOption(kind, default);
            _rest = default;
            return true;
        }
        if (kind == TcpOptionKind.NoOperation)
        {
            Current = new TcpOption(kind, default);
            _rest = _rest[1..];
            return true;
        }
        // Every other option carries a length that counts kind and length bytes (RFC 9293 §3.2).
        if (_rest.Length < 2 || _rest[1] < 2 || _rest[1] > _rest.Length || !HasValidLength(kind, _rest[1]))
        {
            Error = WireError.MalformedOption;
            _rest = default;
            return false;
        }
        int length = _rest[1];
        Current = new TcpOption(kind, _rest[2..length]);
        _rest = _rest[length..];
        return true;
    }

    private static bool HasValidLength(TcpOptionKind kind, int length) => kind switch
    {
        TcpOptionKind.MaxSegmentSize => length == 4,     // RFC 9293 §3.2
        TcpOptionKind.WindowScale => length == 3,        // RFC 7323 §2.2
        TcpOptionKind.SackPermitted => length == 2,      // RFC 2018 §2
        TcpOptionKind.Sack => length >= 10 && (length - 2) % 8 == 0, // RFC 2018 §3: one or more 8-byte blocks
        TcpOptionKind.Timestamps => length == 10,        // RFC 7323 §3.2
        _ => true,
    };
}
