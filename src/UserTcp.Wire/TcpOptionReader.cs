namespace UserTcp.Wire;

/// <summary>TCP option kinds this stack understands (IANA "TCP Option Kind Numbers").</summary>
public enum TcpOptionKind : byte
{
    /// <summary>End of option list (kind 0).</summary>
    EndOfList = 0,
    /// <summary>No-operation, padding between options (kind 1).</summary>
    NoOperation = 1,
    /// <summary>Maximum segment size (kind 2, RFC 9293 §3.7.1).</summary>
    MaxSegmentSize = 2,
    /// <summary>Window scale (kind 3, RFC 7323 §2).</summary>
    WindowScale = 3,
    /// <summary>SACK permitted (kind 4, RFC 2018).</summary>
    SackPermitted = 4,
    /// <summary>SACK blocks (kind 5, RFC 2018).</summary>
    Sack = 5,
    /// <summary>Timestamps (kind 8, RFC 7323 §3).</summary>
    Timestamps = 8,
    /// <summary>TCP Fast Open cookie (kind 34, RFC 7413 §4.1.1).</summary>
    FastOpen = 34,
    /// <summary>Experimental option (kind 254, RFC 6994); Fast Open used it with magic 0xF989 before kind 34.</summary>
    Experimental = 254,
}

/// <summary>One option as it stands on the wire: its kind and the bytes after kind and length.</summary>
public readonly ref struct TcpOption
{
    /// <summary>An option of <paramref name="kind"/> whose value bytes are <paramref name="data"/>.</summary>
    public TcpOption(TcpOptionKind kind, ReadOnlySpan<byte> data)
    {
        Kind = kind;
        Data = data;
    }

    /// <summary>The option's kind.</summary>
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

    /// <summary>A walk over <paramref name="options"/>, the bytes between the fixed TCP header and the data.</summary>
    public TcpOptionReader(ReadOnlySpan<byte> options)
    {
        _rest = options;
        Current = default;
        Error = WireError.None;
    }

    /// <summary>The option the last <see cref="MoveNext"/> reached.</summary>
    public TcpOption Current { get; private set; }

    /// <summary><see cref="WireError.None"/> unless the walk stopped on a malformed option.</summary>
    public WireError Error { get; private set; }

    /// <summary>The reader itself, so that foreach walks the options.</summary>
    public readonly TcpOptionReader GetEnumerator() => this;

    /// <summary>Steps to the next option; false at the end or when the walk stopped on a malformed option.</summary>
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
