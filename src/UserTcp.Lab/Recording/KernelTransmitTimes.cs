using System.Diagnostics;
using UserTcp.Link;
using UserTcp.Tun;
using UserTcp.Wire;
using UserTcp.Interop;

namespace UserTcp.Lab;

/// <summary>
/// When the kernel sent each packet to UserTcp, by the kernel's own clock. UserTcp's tap can stamp a packet only when
/// its reader takes it from the TUN device, which on a busy machine may be milliseconds later, and two retransmissions
/// the kernel sent 200 ms apart then look bunched. A <see cref="KernelPacketSocket"/> in the lab's namespace sees every
/// packet the kernel transmits with the kernel's timestamp, which a thread of its own records in stack time;
/// <see cref="Apply"/> then gives each packet the tap recorded from the kernel that instant, keeping the read instant
/// beside it. (A live capture file drains the same socket as it writes instead: LiveStackBuilder.)
/// </summary>
public sealed class KernelTransmitTimes : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly KernelPacketSocket _socket;
    private readonly Lock _gate = new();
    private readonly List<KernelTransmission> _sent = [];
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _received;

    private KernelTransmitTimes(KernelPacketSocket socket)
    {
        _socket = socket;
        _thread = new Thread(Loop) { IsBackground = true, Name = "kernel transmit times" };
    }

    /// <summary>Why the kernel's times are missing or incomplete, if they are; the tap's read instants stand then.</summary>
    public string? Failure { get; private set; }

    /// <summary>
    /// Starts recording what the kernel in <paramref name="ns"/> sends to <paramref name="userTcp"/> out of the TUN
    /// interface <paramref name="interfaceName"/>, in the time of <paramref name="stackClock"/> (the live stack's
    /// <c>Now</c>). Null, with <paramref name="failure"/> saying why, when the namespace gives no packet socket (not root).
    /// </summary>
    public static KernelTransmitTimes? Start(ScratchNamespace ns, string interfaceName, Ipv4Address userTcp, Func<TimeSpan> stackClock, out string? failure)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(interfaceName);
        ArgumentNullException.ThrowIfNull(stackClock);
        // On the TUN interface alone: the socket's queue then holds only the kernel's packets to UserTcp (not loopback's).
        KernelPacketSocket? socket = KernelPacketSocket.Open(userTcp, ns.Name, interfaceName, out failure);
        if (socket is null)
        {
            failure += ": packets are timed when UserTcp read them";
            return null;
        }
        socket.Calibrate(stackClock);
        var times = new KernelTransmitTimes(socket);
        times._thread.Start();
        return times;
    }

    /// <summary>Every packet the kernel sent to UserTcp so far, in the order it sent them.</summary>
    public IReadOnlyList<KernelTransmission> Sent
    {
        get
        {
            lock (_gate) return [.. _sent];
        }
    }

    /// <summary>Waits (at most 500 ms) until the socket has had nothing new for 20 ms: what the kernel sent before this call is recorded.</summary>
    public void Settle()
    {
        var quiet = Stopwatch.StartNew();
        var bound = Stopwatch.StartNew();
        long seen = Interlocked.Read(ref _received);
        while (quiet.ElapsedMilliseconds < 20 && bound.ElapsedMilliseconds < 500 && !_stop && Failure is null)
        {
            Thread.Sleep(2);
            long now = Interlocked.Read(ref _received);
            if (now == seen) continue;
            seen = now;
            quiet.Restart();
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(PollInterval * 4);
        _socket.Dispose();
    }

    /// <summary>
    /// The tap's packets with each one from the kernel stamped with the instant the kernel sent it (its read instant kept
    /// as <see cref="WirePacket.ReadAt"/>). The tap's packets from the kernel and <paramref name="sent"/> are the same
    /// packets in the same order (one TUN queue is first in, first out); a transmission the tap never saw (the kernel's
    /// queue to the device overflowed) is skipped by matching the TCP fields. A kernel instant later than the read (the
    /// clocks' conversion failed) is not used.
    /// </summary>
    public static IReadOnlyList<WirePacket> Apply(IReadOnlyList<WirePacket> packets, IReadOnlyList<KernelTransmission> sent)
    {
        ArgumentNullException.ThrowIfNull(packets);
        ArgumentNullException.ThrowIfNull(sent);
        var matcher = new KernelTransmissionMatcher();
        foreach (KernelTransmission transmission in sent) matcher.Add(transmission);
        var timed = new List<WirePacket>(packets.Count);
        foreach (WirePacket p in packets)
        {
            timed.Add(!p.ToKernel && matcher.Take(p.Segment, p.At) is TimeSpan at ? p with { At = at, ReadAt = p.At } : p);
        }
        return timed;
    }

    private void Loop()
    {
        Renice.CurrentThread(); // the kernel stamps the packets; this thread only has to keep the socket's queue short
        try
        {
            while (!_stop)
            {
                if (!_socket.WaitReadable(PollInterval, out string? failure))
                {
                    if (failure is null) continue;
                    Failure = failure;
                    return;
                }
                KernelPacketRead read = _socket.TryRead(out KernelTransmission transmission, out failure);
                if (read == KernelPacketRead.Failed)
                {
                    Failure = failure;
                    return;
                }
                if (read == KernelPacketRead.Empty) continue;
                Interlocked.Increment(ref _received);
                if (read == KernelPacketRead.Transmission) lock (_gate) _sent.Add(transmission);
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed under the loop: the run is over.
        }
    }
}
