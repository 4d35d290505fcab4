using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace UserTcp.Tun;

/// <summary>An IPv4 address with its prefix length, as in 10.77.0.1/24.</summary>
public readonly record struct InterfaceAddress
{
    /// <summary><paramref name="address"/>/<paramref name="prefixLength"/>, an IPv4 address and its prefix length (0 to 32).</summary>
    public InterfaceAddress(IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        Address = address;
        PrefixLength = prefixLength;
    }

    /// <summary>The address.</summary>
    public IPAddress Address { get; }

    /// <summary>0 to 32.</summary>
    public int PrefixLength { get; }

    /// <summary>The netmask the prefix length stands for, e.g. 255.255.255.0 for /24.</summary>
    public IPAddress Netmask
    {
        get
        {
            uint mask = PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);
            return new IPAddress([(byte)(mask >> 24), (byte)(mask >> 16), (byte)(mask >> 8), (byte)mask]);
        }
    }

    /// <summary>Parses a.b.c.d/n strictly: four decimal parts and a prefix length 0 to 32.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out InterfaceAddress result)
    {
        result = default;
        int slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (text is null || slash < 0)
        {
            return false;
        }
        string host = text[..slash];
        string prefix = text[(slash + 1)..];
        // IPAddress.TryParse also takes shorthand such as "10.1"; a.b.c.d is all we accept.
        if (host.Count(c => c == '.') != 3
            || !IPAddress.TryParse(host, out IPAddress? address)
            || address.AddressFamily != AddressFamily.InterNetwork
            || prefix.Length is 0 or > 2
            || !prefix.All(char.IsAsciiDigit)
            || !int.TryParse(prefix, NumberStyles.None, CultureInfo.InvariantCulture, out int prefixLength)
            || prefixLength > 32)
        {
            return false;
        }
        result = new InterfaceAddress(address, prefixLength);
        return true;
    }

    /// <summary>Parses "a.b.c.d/n"; throws <see cref="FormatException"/> saying how to write it.</summary>
    public static InterfaceAddress Parse(string text) =>
        TryParse(text, out InterfaceAddress result)
            ? result
            : throw new FormatException($"'{text}' is not an IPv4 address with a prefix length (expected a.b.c.d/n, e.g. 10.77.0.1/24)");

    /// <summary>"a.b.c.d/n".</summary>
    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";
}
