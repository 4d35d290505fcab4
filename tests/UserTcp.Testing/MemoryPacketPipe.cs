using UserTcp.Link;

namespace UserTcp.Testing;

/// <summary>
/// Two <see cref="IPacketDevice"/> ends joined in memory with no delay: what one writes, the other reads, in order.
/// Lets the runtime run two stacks against each other in tests without root or TUN, on threads (<c>NetStack.Start</c>) or
/// pumped by the test (<c>NetStack.Create</c>). A steady flow allocates nothing: packet copies live in reused arrays.
/// </summary>
public sealed class MemoryPacketPipe
{
    private MemoryPacketPipe(int mtu)
    {
        var aToB = new Direction(mtu);
        var bToA = new Direction(mtu);
        A = new End(mtu, incoming: bToA, outgoing: aToB);
        B = new End(mtu, incoming: aToB, outgoing: bToA);
    }

    public IPacketDevice A { get; }
    public IPacketDevice B { get; }

    public static MemoryPacketPipe Create(int mtu = 1500) => new(mtu);

    /// <summary>One way of the pipe: a queue of packet copies and a signal for the reader.</summary>
    private sealed class Direction(int mtu)
    {
        // Packets not yet read, oldest first; guarded by lock(_packets).
        private readonly Queue<(byte[] Buffer, int Length)> _packets = new();
        // MTU-sized arrays no queued packet uses, so a steady flow allocates nothing; guarded by lock(_packets).
        private readonly Stack<byte[]> _free = new();
        private bool _closed;

        public void Put(ReadOnlySpan<byte> packet)
        {
            lock (_packets)
            {
                if (_closed) return; // like a wire with nobody at the other end
                byte[] copy = _free.TryPop(out byte[]? reused) ? reused : new byte[mtu];
                packet.CopyTo(copy);
                _packets.Enqueue((copy, packet.Length));
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
                if (!_packets.TryDequeue(out (byte[] Buffer, int Length) packet))
                {
                    length = 0;
                    return false;
                }
                packet.Buffer.AsSpan(0, packet.Length).CopyTo(buffer);
                length = packet.Length;
                _free.Push(packet.Buffer);
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
