namespace UserTcp.Engine.Tests;

/// <summary>The simple statistics the unpredictability tests use.</summary>
internal static class Statistics
{
    /// <summary>Pearson's correlation coefficient of two equally long series.</summary>
    public static double Correlation(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>
    /// How linearly each value follows from the previous one and from its index: the larger of |r(v[i], v[i+1])| and
    /// |r(i, v[i])|. Near 0 for independent values (about 1/√n by chance); near 1 for a counter or a fixed stride.
    /// </summary>
    public static double LinearDependence(IReadOnlyList<double> values)
    {
        double[] previous = [.. values.Take(values.Count - 1)];
        double[] next = [.. values.Skip(1)];
        double[] index = [.. Enumerable.Range(0, values.Count).Select(i => (double)i)];
        return Math.Max(Math.Abs(Correlation(previous, next)), Math.Abs(Correlation(index, values)));
    }
}

/// <summary>Records what an engine transmits, parsed, for tests that look at headers only.</summary>
internal sealed class SegmentCatcher : IPacketTransmitter
{
    public List<(Wire.Ipv4Address Destination, ushort SourcePort, ushort DestinationPort, uint Seq, uint Ack, Wire.TcpFlags Flags)> Segments { get; } = [];
    public List<byte[]> Packets { get; } = [];

    public void Transmit(ReadOnlySpan<byte> packet)
    {
        Packets.Add(packet.ToArray());
        if (Wire.Ipv4Packet.TryParse(packet, out Wire.Ipv4Packet ip) != Wire.WireError.None) return;
        if (Wire.TcpSegment.TryParse(ip, out Wire.TcpSegment tcp) != Wire.WireError.None) return;
        Segments.Add((ip.Destination, tcp.SourcePort, tcp.DestinationPort, tcp.SequenceNumber.Value, tcp.AcknowledgmentNumber.Value, tcp.Flags));
    }
}
