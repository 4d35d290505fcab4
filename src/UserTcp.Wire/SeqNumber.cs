namespace UserTcp.Wire;

/// <summary>
/// A TCP sequence number: arithmetic modulo 2^32 and comparison by signed distance
/// (RFC 9293 §3.4, "the comparison ... must use modulo 2^32 arithmetic").
/// Ordering is only meaningful for numbers less than 2^31 apart, as in every TCP.
/// </summary>
public readonly struct SeqNumber : IEquatable<SeqNumber>, ISpanFormattable
{
    public SeqNumber(uint value) => Value = value;

    /// <summary>The raw 32-bit value as carried on the wire.</summary>
    public uint Value { get; }

    public static SeqNumber operator +(SeqNumber seq, int delta) => new(unchecked(seq.Value + (uint)delta));
    public static SeqNumber operator -(SeqNumber seq, int delta) => new(unchecked(seq.Value - (uint)delta));

    /// <summary>Signed distance a - b; positive when a is after b.</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a.Value - b.Value));

    public static bool operator <(SeqNumber a, SeqNumber b) => a - b < 0;
    public static bool operator >(SeqNumber a, SeqNumber b) => a - b > 0;
    public static bool operator <=(SeqNumber a, SeqNumber b) => a - b <= 0;
    public static bool operator >=(SeqNumber a, SeqNumber b) => a - b >= 0;
    public static bool operator ==(SeqNumber a, SeqNumber b) => a.Value == b.Value;
    public static bool operator !=(SeqNumber a, SeqNumber b) => a.Value != b.Value;

    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a > b ? a : b;
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a < b ? a : b;

    /// <summary>True when start &lt;= this &lt; start + length (a window check with wraparound).</summary>
    public bool IsInRange(SeqNumber start, uint length) => unchecked(Value - start.Value) < length;

    public bool Equals(SeqNumber other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is SeqNumber other && Equals(other);
    public override int GetHashCode() => (int)Value;
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    public string ToString(string? format, IFormatProvider? formatProvider) => Value.ToString(format, formatProvider);
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        Value.TryFormat(destination, out charsWritten, format, provider);
}
