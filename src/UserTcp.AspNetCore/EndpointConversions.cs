using System.Net;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.AspNetCore;

/// <summary>UserTcp's IPv4 values as the System.Net types ASP.NET Core speaks, and back.</summary>
internal static class EndpointConversions
{
    public static IPAddress ToIPAddress(this Ipv4Address address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.Write(bytes);
        return new IPAddress(bytes);
    }

    public static IPEndPoint ToIPEndPoint(this IpEndpoint endpoint) => new(endpoint.Address.ToIPAddress(), endpoint.Port);

    /// <summary>The IPv4 address <paramref name="address"/> names, IPv4-mapped IPv6 included; false for any other IPv6 address.</summary>
    public static bool TryToIpv4(this IPAddress address, out Ipv4Address ipv4)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        ipv4 = address.AddressFamily == AddressFamily.InterNetwork ? Ipv4Address.Read(address.GetAddressBytes()) : default;
        return address.AddressFamily == AddressFamily.InterNetwork;
    }
}
