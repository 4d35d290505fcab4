using System.Diagnostics;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>Reads packets from a TUN device with a deadline, for tests that wait for one particular packet.</summary>
internal static class Packets
{
    public delegate bool Match(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Reads until a packet matches and returns a copy of it; fails the test, listing what did arrive,
    /// when none matches within <paramref name="timeout"/>.
    /// </summary>
    public static byte[] ReadUntil(TunDevice device, TimeSpan timeout, Match match)
    {
        var buffer = new byte[device.FrameCapacity];
        var seen = new List<string>();
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero || !device.WaitReadable(left))
            {
                string arrived = seen.Count == 0 ? "nothing" : string.Join("\n", seen);
                throw new TimeoutException($"no matching packet on {device.Name} within {timeout.TotalSeconds} s; arrived: {arrived}");
            }
            ReadOnlySpan<byte> packet = buffer.AsSpan(0, device.Read(buffer));
            if (match(packet))
            {
                return packet.ToArray();
            }
            seen.Add(PacketFormatter.Format(packet));
        }
    }

    /// <summary>True for a valid TCP segment to <paramref name="port"/> carrying exactly the given control bits.</summary>
    public static bool IsTcp(ReadOnlySpan<byte> packet, TcpFlags flags, ushort port) =>
        Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None
        && TcpSegment.TryParse(ip, out TcpSegment tcp) == WireError.None
        && tcp.DestinationPort == port
        && tcp.Flags == flags;

    /// <summary>True for an ICMP echo request (type 8).</summary>
    public static bool IsEchoRequest(ReadOnlySpan<byte> packet) =>
        Ipv4Packet.TryParse(packet, out Ipv4Packet ip) == WireError.None
        && ip.Protocol == Ipv4Packet.ProtocolIcmp
        && ip.Payload.Length >= 8
        && ip.Payload[0] == 8;
}
