using System.Diagnostics;
using System.Runtime.InteropServices;
using UserTcp.Interop;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>A TCP packet the kernel sent to UserTcp, at the instant the kernel handed it to the TUN device (stack time).</summary>
public readonly record struct KernelTransmission(TimeSpan At, TcpSegmentInfo Segment);

/// <summary>
/// When the kernel sent each packet to UserTcp, by the kernel's own clock. UserTcp's tap can stamp a packet only when
/// its reader takes it from the TUN device, which on a busy machine may be milliseconds later, and two retransmissions
/// the kernel sent 200 ms apart then look bunched. A packet socket (packet(7)) in the lab's namespace sees every packet
/// the kernel transmits with the kernel's software timestamp (SO_TIMESTAMPNS, taken as the packet reaches the device's
/// taps), which a thread of its own records, converted to stack time; <see cref="Apply"/> then gives each packet the
/// tap recorded from the kernel that instant, keeping the read instant beside it.
/// </summary>
public sealed class KernelTransmitTimes : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly SafeFileDescriptor _socket;
    private readonly Ipv4Address _userTcp;
    // Stack time = kernel realtime - _realtimeOffset (both in ticks), measured once at the start.
    private readonly long _realtimeOffsetTicks;
    private readonly Lock _gate = new();
    private readonly List<KernelTransmission> _sent = [];
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _received;

    private KernelTransmitTimes(SafeFileDescriptor socket, Ipv4Address userTcp, long realtimeOffsetTicks)
    {
        _socket = socket;
        _userTcp = userTcp;
        _realtimeOffsetTicks = realtimeOffsetTicks;
        _thread = new Thread(Loop) { IsBackground = true, Name = "kernel transmit times" };
    }

    /// <summary>Why the kernel's times are missing or incomplete, if they are; the tap's read instants stand then.</summary>
    public string? Failure { get; private set; }

    /// <summary>
    /// Starts recording what the kernel in <paramref name="ns"/> sends to <paramref name="userTcp"/>, in the time of
    /// <paramref name="stackClock"/> (the live stack's <c>Now</c>). Null, with <paramref name="failure"/> saying why,
    /// when the namespace gives no packet socket (not root).
    /// </summary>
    public static KernelTransmitTimes? Start(ScratchNamespace ns, Ipv4Address userTcp, Func<TimeSpan> stackClock, out string? failure)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(stackClock);
        (SafeFileDescriptor socket, int errno) = ns.Invoke(() =>
        {
            SafeFileDescriptor opened = Syscalls.OpenPacketCapture();
            return (opened, opened.IsInvalid ? Marshal.GetLastPInvokeError() : 0);
        });
        if (socket.IsInvalid)
        {
            failure = $"no packet socket in the namespace ({Marshal.GetPInvokeErrorMessage(errno)}): packets are timed when UserTcp read them";
            socket.Dispose();
            return null;
        }
        failure = null;
        var times = new KernelTransmitTimes(socket, userTcp, RealtimeOffset(stackClock));
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
        var timed = new List<WirePacket>(packets.Count);
        int next = 0;
        foreach (WirePacket p in packets)
        {
            int match = -1;
            if (!p.ToKernel)
            {
                for (int i = next; i < sent.Count && match < 0; i++)
                {
                    if (sent[i].Segment == p.Segment) match = i;
                }
            }
            if (match < 0 || sent[match].At > p.At + ClockSlack)
            {
                timed.Add(p);
                continue;
            }
            next = match + 1;
            timed.Add(p with { At = sent[match].At, ReadAt = p.At });
        }
        return timed;
    }

    // How far the converted kernel instant may fall after the read before it is taken as a failed conversion: the
    // realtime clock and the stack's monotonic one are read back to back, a microsecond or two apart.
    private static readonly TimeSpan ClockSlack = TimeSpan.FromMilliseconds(1);

    // Realtime minus stack time, from the closest of back-to-back readings of both clocks: until two stack readings fall
    // within 20 µs of each other (an uninterrupted pair), or 100 tries on a machine too busy for one.
    private static long RealtimeOffset(Func<TimeSpan> stackClock)
    {
        long best = 0, bestSpread = long.MaxValue;
        for (int i = 0; i < 100 && bestSpread > TimeSpan.TicksPerMicrosecond * 20; i++)
        {
            TimeSpan before = stackClock();
            long realtime = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
            TimeSpan after = stackClock();
            long spread = (after - before).Ticks;
            if (spread < bestSpread) (best, bestSpread) = (realtime - (before.Ticks + after.Ticks) / 2, spread);
        }
        return best;
    }

    private void Loop()
    {
        Renice.CurrentThread(); // the kernel stamps the packets; this thread only has to keep the socket's queue short
        byte[] buffer = new byte[65536];
        try
        {
            while (!_stop)
            {
                int ready = Syscalls.Poll(_socket, Tmds.Linux.LibC.POLLIN, (int)PollInterval.TotalMilliseconds);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Tmds.Linux.LibC.EINTR) continue;
                    Failure = $"poll on the packet socket failed: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return;
                }
                if (ready == 0) continue;
                nint length = Syscalls.ReceiveCaptured(_socket, buffer, out CapturedPacketInfo info);
                if (length < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Tmds.Linux.LibC.EINTR) continue;
                    Failure = $"reading the packet socket failed: {Marshal.GetPInvokeErrorMessage(errno)}";
                    return;
                }
                Interlocked.Increment(ref _received);
                if (!info.SentByKernel || info.RealtimeNanoseconds == 0) continue;
                if (!TcpSegmentInfo.TryRead(buffer.AsSpan(0, (int)length), out TcpSegmentInfo segment) || segment.Destination != _userTcp) continue;
                var at = TimeSpan.FromTicks(info.RealtimeNanoseconds / 100 - _realtimeOffsetTicks);
                lock (_gate) _sent.Add(new KernelTransmission(at, segment));
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed under the loop: the run is over.
        }
    }
}
