using System.Buffers.Binary;
using UserTcp.Wire;

namespace UserTcp.Script;

/// <summary>Inbound ICMP lines: the message packetdrill builds (icmp_packet.c), sent to UserTcp.</summary>
internal sealed partial class ScriptExecution
{
    /// <summary>What an ICMP error quotes of TCP: ports and sequence number (RFC 792), as packetdrill's ICMP_ECHO_BYTES.</summary>
    private const int QuotedTcpBytes = 8;

    /// <summary>
    /// An ICMPv4 message from the script's address, quoting a segment of the connection under test as packetdrill
    /// quotes one: a 20-byte IPv4 header from UserTcp to the script (length 40 plus the line's payload length, ID, flags
    /// and TOS 0) and the first 8 bytes of TCP, whose sequence number is the line's counted from UserTcp's ISN
    /// (packetdrill's map_inbound_icmp_tcp_packet); the MTU goes in bytes 6-7, an echo id in bytes 4-5.
    /// </summary>
    private void InjectIcmp(IcmpEvent e)
    {
        IcmpSpec spec = e.Icmp;
        byte[] quoted = new byte[Ipv4Packet.MinHeaderLength + QuotedTcpBytes];
        var quotedIp = new Ipv4Repr(_localIp, _remoteIp) { DontFragment = false };
        PacketWriter.WriteIpv4Header(quoted, quotedIp, TcpSegment.MinHeaderLength + spec.PayloadLength);
        Span<byte> tcp = quoted.AsSpan(Ipv4Packet.MinHeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, _localPort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], _remotePort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], unchecked(spec.Seq + _localBase));

        var ip = new Ipv4Repr(_remoteIp, _localIp) { DontFragment = false };
        if (spec.Ip is { } annotation) ip = WithAnnotation(ip, annotation, e.Line);
        uint restOfHeader = (uint)spec.EchoId << 16 | (spec.Mtu ?? 0);
        byte[] packet = new byte[PacketWriter.Ipv4IcmpLength(quoted.Length)];
        PacketWriter.TryWriteIpv4Icmp(packet, ip, (IcmpType)spec.Type, spec.Code, restOfHeader, quoted, out _);

        Trace($"{Seconds(_now)} line {e.Line}: {spec}");
        _device.Inject(packet);
        _stack.Pump();
        AfterEngine();
    }
}
