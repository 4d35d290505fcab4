using UserTcp.Link;

namespace UserTcp.Testing;

/// <summary>
/// Two <see cref="IPacketDevice"/> ends joined in memory with no delay: what one writes, the other reads, in order.
/// Lets the real-time runtime run two stacks against each other in tests without root or TUN.
/// </summary>
public sealed class MemoryPacketPipe
{
    private MemoryPacketPipe(int mtu)
    {
        var aToB = new Direction();
        var bToA = new Direction();
        A = new End(mtu, incoming: bToA, outgoing: aToB);
        B = new End(mtu, incoming: aToB, outgoing: bToA);
    }

    public IPacketDevice A { get; }
    public IPacketDevice B { get; }

    public static MemoryPacketPipe Create(int mtu = 1500) => new(mtu);

    /// <summary>One way of the pipe: a queue of packet copies and a signal for the reader.</summary>
    private sealed class Direction
    {
        // Packets not yet read, oldest first; guarded by lock(_packets).
        private readonly Queue<byte[]> _packets = new();
        private bool _closed;

        public void Put(ReadOnlySpan<byte> packet)
        {
            lock (_packets)
            {
                if (_closed) return; // like a wire with nobody at the other end
                _packets.Enqueue(packet.ToArray());
                Monitor.Pulse(_packets);
            }
        }

        public bool WaitReadable(TimeSpan timeout)
        {
            lock (_packets)
            {
                if (_packets.Count > 0 || _closed) return true;
                Monitor.Wait(_packets, timeout);
                return _packets.Count > 0 || _closed;
            }
        }

        public bool TryTake(Span<byte> buffer, out int length)
        {
            lock (_packets)
            {
                ObjectDisposedException.ThrowIf(_closed && _packets.Count == 0, this);
                if (!_packets.TryDequeue(out byte[]? packet))
                {
                    length = 0;
                    return false;
                }
                packet.CopyTo(buffer);
                length = packet.Length;
                return true;
            }
        }

        public void Close()
        {
            lock (_packets)
            {
                _closed = true;
                Monitor.PulseAll(_packets);
            }
        }
    }

    private sealed class End : IPacketDevice
    {
        private readonly Direction _incoming;
        private readonly Direction _outgoing;

        public End(int mtu, Direction incoming, Direction outgoing)
        {
            Mtu = mtu;
            _incoming = incoming;
            _outgoing = outgoing;
        }

        public int Mtu { get; }
        public bool WaitReadable(TimeSpan timeout) => _incoming.WaitReadable(timeout);
        public bool TryRead(Span<byte> packet, out int length) => _incoming.TryTake(packet, out length);

        public void Write(ReadOnlySpan<byte> packet)
        {
            if (packet.Length <= Mtu) _outgoing.Put(packet);
        }

        public void Dispose()
        {
            _incoming.Close();
            _outgoing.Close();
        }
    }
}
