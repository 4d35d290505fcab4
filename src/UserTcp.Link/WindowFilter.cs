using UserTcp.Wire;

namespace UserTcp.Link;

/// <summary>Which packets a rule looks at by the window they advertise (never a SYN or a RST: their window says nothing about a shut window).</summary>
public enum WindowFilter : byte
{
    /// <summary>Every segment, whatever its window.</summary>
    Any,
    /// <summary>Segments that advertise a zero window (the window field is 0).</summary>
    Zero,
    /// <summary>
    /// The window update: the first segment from one end of a connection with a non-zero window after that end
    /// advertised a zero window (RFC 9293 §3.8.6.2.2's update that the persist timer exists to recover from losing).
    /// </summary>
    Reopens,
}

/// <summary>
/// Which ends of which connections last advertised a zero window, for <see cref="WindowFilter.Reopens"/>: one sender
/// (source and destination, so one direction of one connection) per entry, kept until that end reopens its window or
/// either end resets. Bounded: past <see cref="Capacity"/> ends at zero at once, further ones are not tracked.
/// </summary>
internal sealed class ZeroWindowTracker
{
    /// <summary>The most senders at a zero window tracked at once: a rule serves one test's connections.</summary>
    public const int Capacity = 4096;

    private readonly HashSet<(Ipv4Address, ushort, Ipv4Address, ushort)> _atZero = [];

    /// <summary>Sees one segment; true when it is its sender's first with a non-zero window since that sender advertised zero.</summary>
    public bool Reopens(in TcpSegmentInfo segment)
    {
        var sender = (segment.Source, segment.SourcePort, segment.Destination, segment.DestinationPort);
        if (segment.Has(TcpFlags.Rst))
        {
            // The connection is over: neither end's zero window is waiting for an update any more.
            _atZero.Remove(sender);
            _atZero.Remove((segment.Destination, segment.DestinationPort, segment.Source, segment.SourcePort));
            return false;
        }
        if (!segment.AdvertisesWindow) return false;
        if (segment.Window != 0) return _atZero.Remove(sender);
        if (_atZero.Count < Capacity) _atZero.Add(sender);
        return false;
    }
}
