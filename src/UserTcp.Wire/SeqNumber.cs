namespace UserTcp.Wire;

/// <summary>
/// A TCP sequence number: arithmetic modulo 2^32 and comparison by signed distance
/// (RFC 9293 §3.4, "the comparison ... must use modulo 2^32 arithmetic").
/// Ordering is only meaningful for numbers less than 2^31 apart, as in every TCP.
/// </summary>
public readonly struct SeqNumber : IEquatable<SeqNumber>, ISpanFormattable
{
    /// <summary>The sequence number <paramref name="value"/>.</summary>
    public SeqNumber(uint value) => Value = value;

    /// <summary>The raw 32-bit value as carried on the wire.</summary>
    public uint Value { get; }

    /// <summary>The sequence number <paramref name="delta"/> bytes later, modulo 2^32.</summary>
    public static SeqNumber operator +(SeqNumber seq, int delta) => new(unchecked(seq.Value + (uint)delta));
    /// <summary>The sequence number <paramref name="delta"/> bytes earlier, modulo 2^32.</summary>
    public static SeqNumber operator -(SeqNumber seq, int delta) => new(unchecked(seq.Value - (uint)delta));

    /// <summary>Signed distance a - b; positive when a is after b.</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a.Value - b.Value));

    /// <summary>True when <paramref name="a"/> comes before <paramref name="b"/> in sequence space (RFC 9293 §3.4, modulo 2^32).</summary>
    public static bool operator <(SeqNumber a, SeqNumber b) => a - b < 0;
    /// <summary>True when <paramref name="a"/> comes after <paramref name="b"/> in sequence space (RFC 9293 §3.4, modulo 2^32).</summary>
    public static bool operator >(SeqNumber a, SeqNumber b) => a - b > 0;
    /// <summary>True when <paramref name="a"/> is <paramref name="b"/> or comes before it in sequence space.</summary>
    public static bool operator <=(SeqNumber a, SeqNumber b) => a - b <= 0;
    /// <summary>True when <paramref name="a"/> is <paramref name="b"/> or comes after it in sequence space.</summary>
    public static bool operator >=(SeqNumber a, SeqNumber b) => a - b >= 0;
    /// <summary>True when both are the same 32-bit number.</summary>
    public static bool operator ==(SeqNumber a, SeqNumber b) => a.Value == b.Value;
    /// <summary>True when the 32-bit numbers differ.</summary>
    public static bool operator !=(SeqNumber a, SeqNumber b) => a.Value != b.Value;

    /// <summary>The later of two sequence numbers, in sequence space.</summary>
    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a > b ? a : b;
    /// <summary>The earlier of two sequence numbers, in sequence space.</summary>
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a < b ? a : b;

    /// <summary>True when start &lt;= this &lt; start + length (a window check with wraparound).</summary>
    public bool IsInRange(SeqNumber start, uint length) => unchecked(Value - start.Value) < length;

    /// <inheritdoc/>
    public bool Equals(SeqNumber other) => Value == other.Value;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SeqNumber other && Equals(other);
    /// <inheritdoc/>
    public override int GetHashCode() => (int)Value;
    /// <summary>The number in decimal.</summary>
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => Value.ToString(format, formatProvider);
    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        Value.TryFormat(destination, out charsWritten, format, provider);
}
