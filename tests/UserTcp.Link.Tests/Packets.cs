namespace UserTcp.Link.Tests;

/// <summary>Hand-built TCP/IPv4 packets and helpers to drain a device.</summary>
internal static class Packets
{
    public static readonly Ipv4Address Client = Ipv4Address.Parse("10.0.0.1");
    public static readonly Ipv4Address Server = Ipv4Address.Parse("10.0.0.2");

    /// <summary>A segment from the client, or from the server when <paramref name="fromServer"/> (addresses swapped, ports as given); <paramref name="ecn"/> is its IP ECN field.</summary>
    public static byte[] Tcp(TcpFlags flags, uint seq = 1000, uint ack = 0, int payloadLength = 0, ushort sourcePort = 40000, ushort destinationPort = 80,
        bool fromServer = false, ushort window = 64240, EcnCodepoint ecn = EcnCodepoint.NotEct)
    {
        byte[] payload = new byte[payloadLength];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)('a' + i % 26);
        var tcp = new TcpRepr
        {
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            SequenceNumber = new SeqNumber(seq),
            AcknowledgmentNumber = new SeqNumber(ack),
            Flags = flags,
            Window = window,
            Payload = payload,
        };
        byte[] buffer = new byte[PacketWriter.Ipv4TcpLength(tcp)];
        Ipv4Repr ip = fromServer ? new Ipv4Repr(Server, Client) : new Ipv4Repr(Client, Server);
        ip.TypeOfService = (byte)ecn;
        Assert.True(PacketWriter.TryWriteIpv4Tcp(buffer, ip, tcp, out int length));
        Assert.Equal(buffer.Length, length);
        return buffer;
    }

    /// <summary>A data segment whose sequence number tells packets apart.</summary>
    public static byte[] Data(uint seq, int payloadLength = 10) => Tcp(TcpFlags.Ack | TcpFlags.Psh, seq, ack: 1, payloadLength);

    public static uint Seq(byte[] packet)
    {
        Assert.True(TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo info));
        return info.SequenceNumber.Value;
    }

    /// <summary>Everything <paramref name="device"/> has received by <paramref name="now"/>.</summary>
    public static List<byte[]> Drain(ILinkDevice device, TimeSpan now)
    {
        var received = new List<byte[]>();
        byte[] buffer = new byte[device.Mtu];
        while (device.TryReceive(buffer, now, out int length)) received.Add(buffer[..length]);
        return received;
    }

    /// <summary>
    /// Runs the harness protocol until nothing is in flight or held: wake at the earliest NextArrival of the devices,
    /// drain every one, repeat. Returns each packet with the instant it was received and the device that took it.
    /// </summary>
    public static List<(TimeSpan At, int Device, byte[] Packet)> RunUntilQuiet(params ILinkDevice[] devices)
    {
        var received = new List<(TimeSpan, int, byte[])>();
        byte[] buffer = new byte[devices.Max(device => device.Mtu)];
        while (devices.Select(device => device.NextArrival).Where(at => at is not null).Min() is TimeSpan now)
        {
            for (int i = 0; i < devices.Length; i++)
            {
                while (devices[i].TryReceive(buffer, now, out int length)) received.Add((now, i, buffer[..length]));
            }
        }
        return received;
    }

    public static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
