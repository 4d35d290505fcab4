using System.Diagnostics;

namespace UserTcp.Testing;

/// <summary>
/// What a stand-in device on the system clock was given to write, each packet with its Stopwatch instant, and a bounded
/// wait for more: for tests of what leaves when in real time (delay lines, timer threads).
/// </summary>
public sealed class ClockedWrites
{
    // Guards the fields below; waiters wait on it (Monitor.Wait), so it is a plain object, not a Lock.
    private readonly object _gate = new();
    private readonly List<(long At, byte[] Packet)> _writes = [];
    // How many writes earlier waits have taken.
    private int _taken;

    /// <summary>Keeps a copy of the packet, stamped now.</summary>
    public void Add(ReadOnlySpan<byte> packet)
    {
        byte[] bytes = packet.ToArray();
        lock (_gate)
        {
            _writes.Add((Stopwatch.GetTimestamp(), bytes));
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Every packet so far, in the order written.</summary>
    public List<(long At, byte[] Packet)> All
    {
        get
        {
            lock (_gate) return [.. _writes];
        }
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> more packets have been written than were waited for before.</summary>
    public bool WaitFor(int count, TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        lock (_gate)
        {
            int target = _taken + count;
            while (_writes.Count < target)
            {
                TimeSpan left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (left <= TimeSpan.Zero)
                {
                    _taken = _writes.Count; // what came meanwhile counts as taken, as a semaphore's permits would
                    return false;
                }
                Monitor.Wait(_gate, left); // woken by a write, or at the deadline: the loop looks again
            }
            _taken = target;
            return true;
        }
    }
}
