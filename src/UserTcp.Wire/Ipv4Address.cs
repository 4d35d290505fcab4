using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace UserTcp.Wire;

/// <summary>An IPv4 address held as a host-order 32-bit value: no allocation, cheap to compare and hash.</summary>
public readonly record struct Ipv4Address(uint Value) : ISpanFormattable
{
    /// <summary>0.0.0.0, the unspecified address.</summary>
    public static Ipv4Address Any => new(0);

    /// <summary>The address a.b.c.d.</summary>
    public Ipv4Address(byte a, byte b, byte c, byte d) : this((uint)(a << 24 | b << 16 | c << 8 | d)) { }

    /// <summary>Reads four bytes in network order.</summary>
    public static Ipv4Address Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    /// <summary>Writes four bytes in network order.</summary>
    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>Parses dotted-quad text ("10.77.0.2"); throws <see cref="FormatException"/> for anything else.</summary>
    public static Ipv4Address Parse(string text) =>
        TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IPv4 address (expected a.b.c.d)");

    /// <summary>Parses dotted-quad notation strictly: four decimal parts 0..255, nothing else.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out Ipv4Address address)
    {
        address = default;
        if (text is null) return false;
        ReadOnlySpan<char> rest = text;
        uint value = 0;
        for (int part = 0; part < 4; part++)
        {
            int dot = rest.IndexOf('.');
            ReadOnlySpan<char> digits = part < 3 ? (dot < 0 ? default : rest[..dot]) : rest;
            if (part < 3 && dot < 0) return false;
            if (digits.Length is 0 or > 3) return false;
            int octet = 0;
            foreach (char ch in digits)
            {
                if (ch is < '0' or > '9') return false;
                octet = octet * 10 + (ch - '0');
            }
            if (octet > 255) return false;
            value = value << 8 | (uint)octet;
            if (part < 3) rest = rest[(dot + 1)..];
        }
        address = new Ipv4Address(value);
        return true;
    }

    /// <summary>The dotted-quad form, "10.77.0.2".</summary>
    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider) =>
        destination.TryWrite($"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}", out charsWritten);
}
