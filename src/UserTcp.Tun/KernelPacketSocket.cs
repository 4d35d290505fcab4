using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using UserTcp.Interop;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Tun;

/// <summary>
/// When the kernel sent each packet to UserTcp, by the kernel's own clock. UserTcp's tap can stamp a packet only when
/// its reader takes it from the TUN device, which on a busy machine may be milliseconds later. A packet socket
/// (packet(7), ETH_P_ALL) sees every packet the kernel transmits with the kernel's software timestamp (SO_TIMESTAMPNS,
/// taken in dev_queue_xmit_nit, where the packet is also queued on the socket, before tun_net_xmit queues it on the
/// device), and only those: a classic BPF filter keeps the packets the kernel receives (what UserTcp writes into the TUN)
/// off its queue. Each is read here as a <see cref="KernelTransmission"/>, its CLOCK_REALTIME instant converted to the
/// stack's time by back-to-back readings of both clocks (<see cref="Calibrate"/>). The lab records them on a thread of its own;
/// a live capture drains the socket before it writes each packet from the kernel. Reads are not thread-safe.
/// </summary>
public sealed class KernelPacketSocket : IDisposable
{
    private readonly SafeFileDescriptor _socket;
    private readonly Ipv4Address _userTcp;
    private readonly byte[] _buffer = new byte[65536];
    // Stack time = kernel realtime - offset (both in ticks); null until Calibrate.
    private StrongBox<long>? _realtimeOffsetTicks;

    private KernelPacketSocket(SafeFileDescriptor socket, Ipv4Address userTcp)
    {
        _socket = socket;
        _userTcp = userTcp;
    }

    /// <summary>
    /// Opens a packet socket in the named network namespace (null: the caller's), on every interface or on
    /// <paramref name="interfaceName"/> only, that reads what the kernel sends to <paramref name="userTcp"/>. Null, with
    /// <paramref name="failure"/> saying why, when there is none to have (not root: no CAP_NET_RAW).
    /// </summary>
    /// <exception cref="TunException">The namespace cannot be entered.</exception>
    public static KernelPacketSocket? Open(Ipv4Address userTcp, string? namespaceName, string? interfaceName, out string? failure)
    {
        (SafeFileDescriptor socket, int errno) = namespaceName is null ? OpenHere(interfaceName) : NetworkNamespace.Invoke(namespaceName, () => OpenHere(interfaceName));
        if (socket.IsInvalid)
        {
            string where = interfaceName is null ? "in the namespace" : $"on {interfaceName}";
            failure = $"no packet socket {where} ({Marshal.GetPInvokeErrorMessage(errno)})";
            socket.Dispose();
            return null;
        }
        failure = null;
        return new KernelPacketSocket(socket, userTcp);
    }

    private static (SafeFileDescriptor Socket, int Errno) OpenHere(string? interfaceName)
    {
        SafeFileDescriptor opened = Syscalls.OpenPacketCapture(interfaceName);
        return (opened, opened.IsInvalid ? Marshal.GetLastPInvokeError() : 0);
    }

    /// <summary>True once <see cref="Calibrate"/> has measured the clocks: only then are transmissions read.</summary>
    public bool Calibrated => Volatile.Read(ref _realtimeOffsetTicks) is not null;

    /// <summary>
    /// Measures realtime minus <paramref name="stackClock"/> (the live stack's <c>Now</c>) from the closest of
    /// back-to-back readings of both clocks: until two stack readings fall within 20 µs of each other (an uninterrupted
    /// pair), or 100 tries on a machine too busy for one.
    /// </summary>
    public void Calibrate(Func<TimeSpan> stackClock)
    {
        ArgumentNullException.ThrowIfNull(stackClock);
        long best = 0, bestSpread = long.MaxValue;
        for (int i = 0; i < 100 && bestSpread > TimeSpan.TicksPerMicrosecond * 20; i++)
        {
            TimeSpan before = stackClock();
            long realtime = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
            TimeSpan after = stackClock();
            long spread = (after - before).Ticks;
            if (spread < bestSpread) (best, bestSpread) = (realtime - (before.Ticks + after.Ticks) / 2, spread);
        }
        Volatile.Write(ref _realtimeOffsetTicks, new StrongBox<long>(best));
    }

    /// <summary>Waits at most <paramref name="timeout"/> for a packet: false on timeout, or with <paramref name="failure"/> when poll failed.</summary>
    public bool WaitReadable(TimeSpan timeout, out string? failure)
    {
        failure = null;
        int ready = Syscalls.Poll(_socket, Tmds.Linux.LibC.POLLIN, (int)timeout.TotalMilliseconds);
        if (ready >= 0) return ready > 0;
        int errno = Marshal.GetLastPInvokeError();
        if (errno != Tmds.Linux.LibC.EINTR) failure = $"poll on the packet socket failed: {Marshal.GetPInvokeErrorMessage(errno)}";
        return false;
    }

    /// <summary>Reads one packet without waiting (MSG_DONTWAIT); a <see cref="KernelPacketRead.Transmission"/> fills <paramref name="transmission"/>.</summary>
    /// <exception cref="InvalidOperationException">Not calibrated yet.</exception>
    public KernelPacketRead TryRead(out KernelTransmission transmission, out string? failure)
    {
        transmission = default;
        failure = null;
        StrongBox<long> offset = Volatile.Read(ref _realtimeOffsetTicks) ?? throw new InvalidOperationException("the packet socket's clock is not calibrated");
        nint length = Syscalls.ReceiveCaptured(_socket, _buffer, out CapturedPacketInfo info, dontWait: true);
        if (length < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Tmds.Linux.LibC.EAGAIN || errno == Tmds.Linux.LibC.EINTR) return KernelPacketRead.Empty;
            failure = $"reading the packet socket failed: {Marshal.GetPInvokeErrorMessage(errno)}";
            return KernelPacketRead.Failed;
        }
        if (!info.SentByKernel || info.RealtimeNanoseconds == 0) return KernelPacketRead.Other;
        if (!TcpSegmentInfo.TryRead(_buffer.AsSpan(0, (int)length), out TcpSegmentInfo segment) || segment.Destination != _userTcp) return KernelPacketRead.Other;
        transmission = new KernelTransmission(TimeSpan.FromTicks(info.RealtimeNanoseconds / 100 - offset.Value), segment);
        return KernelPacketRead.Transmission;
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => _socket.Dispose();
}
