using UserTcp.Link;
using UserTcp.Tun;

namespace UserTcp.Live;

/// <summary>
/// A live pcapng capture whose packets from the kernel carry the instant the kernel sent them, not the later one at
/// which UserTcp's reader took them from the TUN device. The kernel queues each packet it transmits on every packet
/// socket before the TUN device's queue (dev_queue_xmit_nit, then tun_net_xmit), so when UserTcp has read a packet its
/// record already waits in <see cref="KernelPacketSocket"/>: right before writing a packet from the kernel, the socket
/// is drained without waiting and the packet matched in order (<see cref="KernelTransmissionMatcher"/>). One that waited
/// a millisecond or more is commented "UserTcp read it 2.5 ms later". Packets stay in the order UserTcp saw them;
/// UserTcp's own keep their instants. Until <see cref="Calibrate"/>, and after the socket fails, packets from the
/// kernel keep their read instants. Thread-safe, like the file.
/// </summary>
public sealed class KernelClockTap : IPacketTap, IDisposable
{
    /// <summary>The most transmissions waiting for their packet; beyond it the oldest is dropped.</summary>
    public const int PendingCapacity = 4096;
    /// <summary>A transmission still unmatched this long after the kernel sent it is dropped (its packet never reached the tap).</summary>
    public static readonly TimeSpan PendingMaxAge = TimeSpan.FromSeconds(10);

    // Reads of the socket per packet written, at most: the socket holds what the kernel sent since the last drain.
    private const int DrainBound = PendingCapacity;

    private readonly PcapNgWriter _file;
    private readonly KernelPacketSocket _socket;
    private readonly KernelTransmissionMatcher _matcher = new(PendingCapacity, PendingMaxAge);
    // Guards the socket, the matcher and the counts: packets from the kernel are written one at a time.
    private readonly Lock _gate = new();
    private bool _failed;
    private long _kernelTimed, _readTimed;

    /// <param name="file">Where every packet is written.</param>
    /// <param name="socket">The kernel's packet socket on the TUN interface; disposed with this tap.</param>
    public KernelClockTap(PcapNgWriter file, KernelPacketSocket socket)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(socket);
        _file = file;
        _socket = socket;
    }

    /// <summary>Packets from the kernel written with the instant the kernel sent them.</summary>
    public long KernelTimed
    {
        get
        {
            lock (_gate) return _kernelTimed;
        }
    }
    /// <summary>Packets from the kernel written with the instant UserTcp read them (no transmission matched, or no clock yet).</summary>
    public long ReadTimed
    {
        get
        {
            lock (_gate) return _readTimed;
        }
    }
    /// <summary>The kernel's transmissions dropped unmatched (the tap never saw their packets).</summary>
    public long Unmatched
    {
        get
        {
            lock (_gate) return _matcher.Dropped;
        }
    }
    /// <summary>Why the kernel's instants stopped, if they did: the packets after it keep their read instants.</summary>
    public string? Failure { get; private set; }

    /// <summary>Measures the kernel's clock against <paramref name="stackClock"/>, the clock that stamps the packets (the stack's <c>Now</c>).</summary>
    public void Calibrate(Func<TimeSpan> stackClock) => _socket.Calibrate(stackClock);

    /// <inheritdoc/>
    public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault)
    {
        if (direction == PacketDirection.Outbound)
        {
            _file.Record(packet, direction, at, fault);
            return;
        }
        lock (_gate)
        {
            TimeSpan? sent = null;
            if (!_failed && _socket.Calibrated && TcpSegmentInfo.TryRead(packet, out TcpSegmentInfo segment))
            {
                Drain();
                if (!_failed) sent = _matcher.Take(segment, at);
            }
            if (sent is TimeSpan kernelAt)
            {
                string? comment = KernelTransmission.LateReadNote(kernelAt, at);
                _file.Record(packet, direction, kernelAt, fault, comment);
                _kernelTimed++;
            }
            else
            {
                _file.Record(packet, direction, at, fault);
                _readTimed++;
            }
        }
    }

    /// <summary>Closes the packet socket.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _failed = true;
            _socket.Dispose();
        }
    }

    // Everything the kernel has sent so far into the matcher, without waiting.
    private void Drain()
    {
        try
        {
            for (int i = 0; i < DrainBound; i++)
            {
                switch (_socket.TryRead(out KernelTransmission transmission, out string? failure))
                {
                    case KernelPacketRead.Empty:
                        return;
                    case KernelPacketRead.Transmission:
                        _matcher.Add(transmission);
                        break;
                    case KernelPacketRead.Failed:
                        Fail(failure);
                        return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            Fail("the packet socket was closed");
        }
    }

    private void Fail(string? failure)
    {
        _failed = true;
        Failure = failure;
    }
}
