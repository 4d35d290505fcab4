using System.Globalization;
using UserTcp.Link;

namespace UserTcp.Testing;

/// <summary>
/// An in-memory wire joining two endpoints, <see cref="A"/> and <see cref="B"/>. A packet transmitted at t arrives
/// at the other end at t + serialization time (when a rate is set) + one-way delay; each direction is first-in
/// first-out and has an unbounded queue. Nothing reads a clock: every instant comes from the caller.
/// Not thread-safe: a simulation drives both endpoints from one thread.
/// </summary>
public sealed class SimulatedLink
{
    // Invariant: _aToB carries what A transmits and B receives; _bToA the reverse.
    private readonly Direction _aToB;
    private readonly Direction _bToA;

    private SimulatedLink(TimeSpan oneWayDelay, int mtu, double bitsPerSecond)
    {
        OneWayDelay = oneWayDelay;
        Mtu = mtu;
        BitsPerSecond = bitsPerSecond;
        _aToB = new Direction(this);
        _bToA = new Direction(this);
        A = new Endpoint(this, outbound: _aToB, inbound: _bToA);
        B = new Endpoint(this, outbound: _bToA, inbound: _aToB);
    }

    /// <summary>
    /// Makes a link. <paramref name="bitsPerSecond"/> 0 means unlimited: packets take no time to serialize.
    /// </summary>
    public static SimulatedLink CreatePair(TimeSpan oneWayDelay, int mtu = 1500, double bitsPerSecond = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(oneWayDelay, TimeSpan.Zero);
        // 20 bytes is the smallest IPv4 packet; 65535 the largest Total Length can describe.
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 20);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, ushort.MaxValue);
        if (!double.IsFinite(bitsPerSecond) || bitsPerSecond < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bitsPerSecond), bitsPerSecond.ToString(CultureInfo.InvariantCulture),
                "the rate must be a finite number of bits per second, or 0 for unlimited");
        }
        return new SimulatedLink(oneWayDelay, mtu, bitsPerSecond);
    }

    public TimeSpan OneWayDelay { get; }
    public int Mtu { get; }
    /// <summary>Serialization rate of each direction; 0 means unlimited.</summary>
    public double BitsPerSecond { get; }

    public ILinkDevice A { get; }
    public ILinkDevice B { get; }

    /// <summary>What A has sent towards B.</summary>
    public LinkCounters AToB => _aToB.Counters;
    /// <summary>What B has sent towards A.</summary>
    public LinkCounters BToA => _bToA.Counters;

    /// <summary>Lets a caller write <c>var (a, b) = SimulatedLink.CreatePair(...)</c>.</summary>
    public void Deconstruct(out ILinkDevice a, out ILinkDevice b)
    {
        a = A;
        b = B;
    }

    /// <summary>One way of the wire: the packets in flight and when each arrives.</summary>
    private sealed class Direction(SimulatedLink link)
    {
        // Invariant: holds exactly the packets sent and not yet delivered, due times never decreasing (FIFO).
        private readonly PacketQueue _inFlight = new(link.Mtu);
        // Invariant: the instant the sender's transmitter finishes the last packet put on the wire (rate-limited links).
        private TimeSpan _transmitterFreeAt = TimeSpan.MinValue;
        // Invariant: the arrival instant of the last packet sent; no later packet arrives before it.
        private TimeSpan _lastArrival = TimeSpan.MinValue;

        public LinkCounters Counters { get; } = new();

        public TimeSpan? NextArrival => _inFlight.NextDue;

        public void Send(ReadOnlySpan<byte> packet, TimeSpan now)
        {
            if (packet.Length > link.Mtu)
            {
                Counters.OversizeDropped++;
                return;
            }
            TimeSpan leavesAt = now;
            if (link.BitsPerSecond > 0)
            {
                // A packet waits for the one before it to finish serializing, then takes length × 8 / rate.
                TimeSpan start = now > _transmitterFreeAt ? now : _transmitterFreeAt;
                _transmitterFreeAt = start + TimeSpan.FromTicks((long)Math.Ceiling(packet.Length * 8.0 * TimeSpan.TicksPerSecond / link.BitsPerSecond));
                leavesAt = _transmitterFreeAt;
            }
            // A caller whose clock stepped back must not make a later packet overtake an earlier one.
            TimeSpan arrival = leavesAt + link.OneWayDelay;
            if (arrival < _lastArrival) arrival = _lastArrival;
            _lastArrival = arrival;
            _inFlight.Enqueue(packet, arrival);
            Counters.PacketsSent++;
            Counters.BytesSent += packet.Length;
        }

        public bool TryTake(Span<byte> buffer, TimeSpan now, out int length)
        {
            length = 0;
            if (!_inFlight.TryPeek(out ReadOnlySpan<byte> packet, out TimeSpan arrival) || arrival > now) return false;
            if (packet.Length > buffer.Length)
            {
                throw new ArgumentException(
                    $"the next packet is {packet.Length} bytes but the buffer holds {buffer.Length}; pass a buffer of at least Mtu ({link.Mtu}) bytes",
                    nameof(buffer));
            }
            packet.CopyTo(buffer);
            length = packet.Length;
            _inFlight.Dequeue();
            Counters.PacketsDelivered++;
            Counters.BytesDelivered += length;
            return true;
        }
    }

    /// <summary>One end of the wire: transmits into one direction and receives from the other.</summary>
    private sealed class Endpoint(SimulatedLink link, Direction outbound, Direction inbound) : ILinkDevice
    {
        public int Mtu => link.Mtu;
        public void Transmit(ReadOnlySpan<byte> packet, TimeSpan now) => outbound.Send(packet, now);
        public bool TryReceive(Span<byte> buffer, TimeSpan now, out int length) => inbound.TryTake(buffer, now, out length);
        public TimeSpan? NextArrival => inbound.NextArrival;
    }
}
