namespace UserTcp.Wire;

/// <summary>Why a buffer was refused by a parser. Parsers return this instead of throwing.</summary>
public enum WireError : byte
{
    /// <summary>The buffer parsed; every accessor of the view is safe.</summary>
    None = 0,
    /// <summary>Fewer bytes than a fixed header needs.</summary>
    Truncated,
    /// <summary>IPv4 version field is not 4.</summary>
    BadVersion,
    /// <summary>IPv4 IHL below 5 words or beyond the buffer.</summary>
    BadIhl,
    /// <summary>IPv4 total length shorter than the header or longer than the buffer.</summary>
    BadTotalLength,
    /// <summary>IPv4 header checksum does not verify.</summary>
    BadHeaderChecksum,
    /// <summary>A fragment (MF set or offset non-zero); UserTcp does not reassemble.</summary>
    Fragment,
    /// <summary>IPv4 protocol field is not TCP (6).</summary>
    NotTcp,
    /// <summary>TCP data offset below 5 words or beyond the segment.</summary>
    BadDataOffset,
    /// <summary>A TCP option whose length is missing, too small, runs past the header, or is wrong for its kind.</summary>
    MalformedOption,
    /// <summary>TCP checksum over pseudo-header, header and payload does not verify.</summary>
    BadTcpChecksum,
    /// <summary>IPv4 protocol field is not ICMP (1), where an ICMP message was expected.</summary>
    NotIcmp,
    /// <summary>ICMP checksum over the whole message does not verify (RFC 792).</summary>
    BadIcmpChecksum,
    /// <summary>An ICMP error whose quoted packet is not an IPv4 header and 8 bytes of TCP (RFC 792, RFC 5927 §4.1).</summary>
    BadIcmpQuote,
}

/// <summary>Text for a <see cref="WireError"/>.</summary>
public static class WireErrorExtensions
{
    /// <summary>A short lower-case phrase for logs and counters, e.g. "bad TCP checksum".</summary>
    public static string Describe(this WireError error) => error switch
    {
        WireError.None => "ok",
        WireError.Truncated => "truncated",
        WireError.BadVersion => "bad IP version",
        WireError.BadIhl => "bad IHL",
        WireError.BadTotalLength => "total length mismatch",
        WireError.BadHeaderChecksum => "bad IP header checksum",
        WireError.Fragment => "fragment",
        WireError.NotTcp => "not TCP or ICMP",
        WireError.BadDataOffset => "bad TCP data offset",
        WireError.MalformedOption => "malformed TCP option",
        WireError.BadTcpChecksum => "bad TCP checksum",
        WireError.NotIcmp => "not ICMP",
        WireError.BadIcmpChecksum => "bad ICMP checksum",
        WireError.BadIcmpQuote => "ICMP error quoting no TCP header",
        _ => "unknown error",
    };
}
