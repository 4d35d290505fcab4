using System.Text;
using UserTcp.Link;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A device that hands the reader garbage packets (counted and dropped by the stack) only when the test says so, and
/// counts and logs the reader's calls: P a poll that found packets, R a packet read, E a read that found none, W a packet
/// written.
/// </summary>
internal sealed class OnePacketAtATimeDevice : IPacketDevice
{
    private readonly object _gate = new(); // Monitor.Wait/Pulse
    private readonly StringBuilder _log = new();
    private int _ready;
    private bool _waiting;
    private bool _disposed;

    public int Mtu => 1500;
    public long PacketsRead { get; private set; }
    public long EmptyReads { get; private set; }
    /// <summary>Waits that ended with a packet to read (the polls that were not timeouts).</summary>
    public long ReadyWaits { get; private set; }

    /// <summary>The calls so far, one letter each (see the class).</summary>
    public string Log
    {
        get
        {
            lock (_gate) return _log.ToString();
        }
    }

    public bool WaitReadable(TimeSpan timeout)
    {
        lock (_gate)
        {
            _waiting = true;
            Monitor.PulseAll(_gate);
            if (_ready == 0 && !_disposed) Monitor.Wait(_gate, timeout);
            _waiting = false;
            if (_ready > 0)
            {
                ReadyWaits++;
                _log.Append('P');
            }
            return _ready > 0;
        }
    }

    public bool TryRead(Span<byte> packet, out int length)
    {
        lock (_gate)
        {
            length = 0;
            if (_ready == 0)
            {
                EmptyReads++;
                _log.Append('E');
                return false;
            }
            _ready--;
            PacketsRead++;
            _log.Append('R');
            packet[..40].Clear(); // version 0: not IPv4, dropped
            length = 40;
            return true;
        }
    }

    public void Write(ReadOnlySpan<byte> packet)
    {
        lock (_gate) _log.Append('W');
    }

    /// <summary>Queues <paramref name="packets"/> at once, then waits (bounded) until the reader waits again with all of them taken.</summary>
    public bool DeliverAndWait(int packets = 1)
    {
        lock (_gate)
        {
            _ready += packets;
            Monitor.PulseAll(_gate);
        }
        return WaitUntilWaiting();
    }

    /// <summary>Waits (bounded) until the reader waits for the device with every delivered packet taken.</summary>
    public bool WaitUntilWaiting()
    {
        DateTime end = DateTime.UtcNow.AddSeconds(30);
        lock (_gate)
        {
            while (!_waiting || _ready > 0)
            {
                TimeSpan left = end - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_gate, left);
            }
            return true;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
    }
}
