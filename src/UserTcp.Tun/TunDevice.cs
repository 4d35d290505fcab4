using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Tmds.Linux;
using UserTcp.Interop;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Tun;

/// <summary>
/// One queue of a TUN interface (IFF_TUN | IFF_NO_PI): every read returns one whole IPv4 packet the kernel routed to the
/// interface, every write hands one whole packet to the kernel. The interface lives in the network namespace of the
/// thread that opened it, and disappears when its last queue is disposed. The descriptor is non-blocking:
/// <see cref="TryRead"/> takes what is waiting and <see cref="WaitReadable"/> polls, so a reader polls only when the
/// queue is empty.
/// <para>
/// Opened with offloads (<see cref="TunOptions.Offloads"/>), each packet travels in a frame after a virtio_net_hdr
/// (IFF_VNET_HDR), and with TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4) the kernel hands over TCP super-segments of up to
/// 64 KiB with only their pseudo-header checksum, and takes them back the same way (<see cref="TryReadFrame"/>,
/// <see cref="WriteFrame"/>). With several queues (<see cref="TunOptions.Queues"/>, IFF_MULTI_QUEUE) each queue is its
/// own descriptor and its own device; the kernel spreads the flows it sends across them.
/// </para>
/// </summary>
public sealed class TunDevice : IPacketDevice
{
    private const string ControlDevice = "/dev/net/tun";
    private const string MissingCapability = "missing CAP_NET_ADMIN: run as root or grant cap_net_admin";
    // IPv4's largest packet: TSO super-segments in either direction are at most this long.
    private const int MaxIpv4Packet = ushort.MaxValue;
    // The largest TCP payload of a super-segment we hand over: an IPv4 packet with the longest TCP header (60 bytes).
    private const int MaxSegmentationPayload = MaxIpv4Packet - Ipv4Packet.MinHeaderLength - 60;
    // Where a partial TCP checksum lies in the TCP header (struct tcphdr's check), for csum_offset.
    private const ushort TcpChecksumOffset = 16;

    // Open while the device is; closing the last queue's makes the kernel remove the interface.
    private readonly SafeFileDescriptor _fd;
    // Whether frames carry a virtio_net_hdr (IFF_VNET_HDR was granted).
    private readonly bool _virtioHeader;
    private long _writesDropped;
    private long _superSegmentsReceived;
    private long _partialChecksumsReceived;
    private long _superSegmentsSent;
    // Batched writes (io_uring), while the kernel offers them; null: one write(2) per packet. Guarded by _ringGate.
    private WriteRing? _ring;
    private readonly Lock _ringGate = new();
    private long _batchSubmissions;

    private TunDevice(SafeFileDescriptor fd, string name, int mtu, int queue, DeviceOffloads offloads, bool batchWrites)
    {
        _fd = fd;
        Name = name;
        Mtu = mtu;
        Queue = queue;
        Offloads = offloads;
        _virtioHeader = offloads.Headroom > 0;
        if (batchWrites) _ring = WriteRing.TryCreate(fd, WriteBatchCapacity, out _);
    }

    /// <summary>The most frames one batched write carries (the runtime's transmit batch holds up to 128 packets).</summary>
    private const uint WriteBatchCapacity = 128;

    /// <summary>The interface name the kernel registered.</summary>
    public string Name { get; }

    /// <summary>The interface MTU: without offloads the largest packet <see cref="Read"/> returns and <see cref="Write"/> should send.</summary>
    public int Mtu { get; }

    /// <summary>This queue's index among the interface's queues (0 for a single-queue device).</summary>
    public int Queue { get; }

    /// <summary>What the kernel granted: none for a plain device; with offloads, the virtio_net_hdr and what TUNSETOFFLOAD accepted.</summary>
    public DeviceOffloads Offloads { get; }

    /// <summary>
    /// Creates a single-queue interface in the calling thread's network namespace, gives the kernel side its address,
    /// netmask and MTU, and brings it up. Never attaches to an existing interface.
    /// </summary>
    /// <exception cref="TunException">The kernel refused; the message says what to do.</exception>
    /// <exception cref="ArgumentException">The options ask for several queues: use <see cref="OpenQueues"/>.</exception>
    public static TunDevice Open(TunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Queues != 1) throw new ArgumentException($"{options.Queues} queues asked for: open them with {nameof(OpenQueues)}", nameof(options));
        return OpenQueues(options)[0];
    }

    /// <summary>
    /// Creates the interface with <see cref="TunOptions.Queues"/> queues (IFF_MULTI_QUEUE when more than one), configures
    /// and brings it up, and returns one device per queue, in queue order. Never attaches to an existing interface.
    /// </summary>
    /// <exception cref="TunException">The kernel refused; the message says what to do.</exception>
    public static IReadOnlyList<TunDevice> OpenQueues(TunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var opened = new List<SafeFileDescriptor>();
        try
        {
            SafeFileDescriptor first = OpenControlDevice();
            opened.Add(first);
            bool multiQueue = options.Queues > 1;
            int features = SupportedFeatures(first);
            if (multiQueue && (features & TunConstants.IFF_MULTI_QUEUE) == 0)
            {
                throw new TunException(LibC.EINVAL, "this kernel's TUN driver has no multi-queue support (IFF_MULTI_QUEUE): use one queue");
            }
            bool virtioHeader = options.Offloads && (features & TunConstants.IFF_VNET_HDR) != 0;
            int flags = TunConstants.IFF_TUN | TunConstants.IFF_NO_PI | (multiQueue ? TunConstants.IFF_MULTI_QUEUE : 0);
            // IFF_TUN_EXCL: a name that exists already is an error, never an interface we take over.
            string name = Attach(first, options.Name, flags | TunConstants.IFF_TUN_EXCL, ref virtioHeader);
            if (virtioHeader) flags |= TunConstants.IFF_VNET_HDR;
            // The other queues attach to the interface just made, with the same flags (TUN keeps them per interface).
            for (int queue = 1; queue < options.Queues; queue++)
            {
                SafeFileDescriptor next = OpenControlDevice();
                opened.Add(next);
                bool same = virtioHeader;
                Attach(next, name, flags, ref same);
            }
            DeviceOffloads offloads = virtioHeader ? NegotiateOffloads(first, name, options) : default;
            Configure(name, options);
            return [.. opened.Select((fd, queue) => new TunDevice(fd, name, options.Mtu, queue, offloads, options.BatchWrites))];
        }
        catch
        {
            foreach (SafeFileDescriptor fd in opened) fd.Dispose();
            throw;
        }
    }

    /// <summary>Opens and closes /dev/net/tun, to tell whether TUN devices can be made here at all.</summary>
    /// <exception cref="TunException">It cannot be opened; the message says what to do.</exception>
    public static void CheckControlDevice() => OpenControlDevice().Dispose();

    /// <summary>Super-segments (TSO, VIRTIO_NET_HDR_GSO_TCPV4) the kernel handed over uncut.</summary>
    public long SuperSegmentsReceived => Interlocked.Read(ref _superSegmentsReceived);

    /// <summary>Packets that arrived with only their pseudo-header checksum (NEEDS_CSUM): trusted, not verified, as made on this host.</summary>
    public long PartialChecksumsReceived => Interlocked.Read(ref _partialChecksumsReceived);

    /// <summary>Super-segments written for the kernel to take as a whole (TSO).</summary>
    public long SuperSegmentsSent => Interlocked.Read(ref _superSegmentsSent);

    /// <summary>Whether <see cref="QueueFrame"/> batches (io_uring): true unless the options said no or the kernel offers none.</summary>
    public bool BatchesWrites
    {
        get
        {
            lock (_ringGate) return _ring is not null;
        }
    }

    /// <summary>io_uring_enter calls that wrote queued frames (a batch of one goes by write(2) and is not counted here).</summary>
    public long BatchSubmissions => Interlocked.Read(ref _batchSubmissions);

    /// <summary>Writes the kernel refused with EAGAIN (its input backlog was full); each such packet was lost.</summary>
    public long WritesDropped => Interlocked.Read(ref _writesDropped);

    /// <summary>
    /// Takes the next packet the kernel has queued into <paramref name="packet"/>, which must hold at least
    /// <see cref="Mtu"/> bytes (with offloads, a whole frame: <see cref="FrameCapacity"/>); false at once when none is
    /// waiting. Does not allocate. With offloads the packet is moved to the front and a partial checksum completed, so
    /// the caller sees a plain packet, possibly a super-segment; <see cref="TryReadFrame"/> avoids that work.
    /// </summary>
    public bool TryRead(Span<byte> packet, out int length)
    {
        if (!_virtioHeader) return TryReadRaw(packet, out length);
        if (!TryReadFrame(packet, out length, out PacketOffload offload)) return false;
        Span<byte> body = packet.Slice(Offloads.Headroom, length);
        if (offload.Checksum == PacketChecksum.Partial)
        {
            var header = VirtioNetHeader.Read(packet);
            CompleteChecksum(body, header.ChecksumStart, header.ChecksumOffset);
        }
        body.CopyTo(packet);
        return true;
    }

    /// <summary>True: a read is one read(2) and a wait one poll(2) on the descriptor, which two threads may make at once.</summary>
    public bool ReadsMayOverlapWait => true;

    /// <summary>Bytes a read buffer must hold: a whole frame (header and the largest packet) with offloads, else the MTU.</summary>
    public int FrameCapacity => _virtioHeader ? Offloads.Headroom + Math.Max(Offloads.MaxReceivePacket, Mtu) : Mtu;

    /// <summary>Takes one waiting frame: the packet at <c>frame[Headroom..]</c> and what its virtio_net_hdr says. Does not allocate.</summary>
    public bool TryReadFrame(Span<byte> frame, out int length, out PacketOffload offload)
    {
        offload = default;
        if (!TryReadRaw(frame, out int read))
        {
            length = 0;
            return false;
        }
        if (!_virtioHeader)
        {
            length = read;
            return true;
        }
        if (read < VirtioNetHeader.Size)
        {
            length = 0; // nothing a packet could be made of: the stack counts it as truncated
            return true;
        }
        length = read - VirtioNetHeader.Size;
        var header = VirtioNetHeader.Read(frame);
        PacketChecksum checksum = (header.Flags & VirtioNetHeader.NeedsChecksum) != 0 ? PacketChecksum.Partial
            : (header.Flags & VirtioNetHeader.DataValid) != 0 ? PacketChecksum.Validated
            : PacketChecksum.Complete;
        bool superSegment = (header.GsoType & ~VirtioNetHeader.GsoEcn) == VirtioNetHeader.GsoTcpV4;
        if (checksum == PacketChecksum.Partial) Interlocked.Increment(ref _partialChecksumsReceived);
        if (superSegment) Interlocked.Increment(ref _superSegmentsReceived);
        offload = new PacketOffload(checksum, superSegment ? header.GsoSize : (ushort)0);
        return true;
    }

    /// <summary>Blocks until a packet arrives (polling, the descriptor being non-blocking) and takes it; returns its length.</summary>
    public int Read(Span<byte> packet)
    {
        int length;
        while (!TryRead(packet, out length)) WaitReadable(Timeout.InfiniteTimeSpan);
        return length;
    }

    /// <summary>
    /// Waits until a packet can be read without blocking, for at most <paramref name="timeout"/>
    /// (<see cref="Timeout.InfiniteTimeSpan"/> waits forever). False when the time ran out.
    /// </summary>
    public bool WaitReadable(TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        if (!infinite)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        }
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            int result = Syscalls.Poll(_fd, LibC.POLLIN, infinite ? -1 : RemainingMilliseconds(start, timeout));
            if (result >= 0)
            {
                // An error condition also counts as readable: the next Read reports it.
                return result > 0;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"waiting for a packet on {Name}");
            }
        }
    }

    /// <summary>
    /// Hands one whole IP packet to the kernel, as if it had arrived on the interface. With offloads the packet is copied
    /// behind an empty virtio_net_hdr (a pooled buffer, no allocation); <see cref="WriteFrame"/> avoids the copy.
    /// </summary>
    public void Write(ReadOnlySpan<byte> packet)
    {
        if (!_virtioHeader)
        {
            WriteRaw(packet);
            return;
        }
        byte[] frame = ArrayPool<byte>.Shared.Rent(VirtioNetHeader.Size + packet.Length);
        try
        {
            packet.CopyTo(frame.AsSpan(VirtioNetHeader.Size));
            WriteFrame(frame.AsSpan(0, VirtioNetHeader.Size + packet.Length), default);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>
    /// Hands the packet at <c>frame[Headroom..]</c> to the kernel in one write, its virtio_net_hdr written into the
    /// headroom: a partial checksum is marked NEEDS_CSUM (start at the TCP header, the field at offset 16); a
    /// super-segment is VIRTIO_NET_HDR_GSO_TCPV4 with gso_size <see cref="PacketOffload.SegmentSize"/>, which the kernel
    /// takes as one (its TCP stack reads it the way it reads a GRO packet) or cuts when it forwards it.
    /// </summary>
    public void WriteFrame(Span<byte> frame, PacketOffload offload)
    {
        PrepareFrame(frame, offload);
        WriteRaw(frame);
    }

    /// <summary>
    /// Queues the frame, prepared as <see cref="WriteFrame"/> prepares it, for <see cref="FlushFrames"/>, which writes every
    /// queued frame in order with one io_uring_enter (<see cref="BatchesWrites"/>; a single frame with one write(2));
    /// without batching it is written at once.
    /// The frame's memory must stay pinned and unchanged until FlushFrames returns. A full batch is flushed first.
    /// </summary>
    /// <exception cref="TunException">A flush this call made failed (see <see cref="FlushFrames"/>).</exception>
    public void QueueFrame(Span<byte> frame, PacketOffload offload)
    {
        PrepareFrame(frame, offload);
        lock (_ringGate)
        {
            ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
            if (_ring is not null)
            {
                if (_ring.TryQueue(frame)) return;
                FlushQueued(); // full: what is queued goes first, so the order is kept
                if (_ring is not null && _ring.TryQueue(frame)) return;
            }
        }
        WriteRaw(frame);
    }

    /// <summary>
    /// Writes what <see cref="QueueFrame"/> queued, in order, and returns once the kernel has taken every frame. A frame the
    /// kernel refuses with EAGAIN is counted in <see cref="WritesDropped"/> and lost, as with write(2).
    /// </summary>
    /// <exception cref="TunException">Some frames failed otherwise; the others were written. If io_uring itself failed, the
    /// queued frames are lost and the device writes one packet per write(2) from then on.</exception>
    public void FlushFrames()
    {
        lock (_ringGate)
        {
            if (_ring is not null) FlushQueued();
        }
    }

    /// <summary>Under the ring lock: submits and reaps the ring's batch; a ring that broke is let go.</summary>
    private void FlushQueued()
    {
        bool ok = _ring!.Flush(out int dropped, out int failed, out int firstError, out int enters);
        if (enters > 0) Interlocked.Add(ref _batchSubmissions, enters);
        if (dropped > 0) Interlocked.Add(ref _writesDropped, dropped);
        if (!ok)
        {
            _ring = null; // closed by Flush; plain writes from now on
            throw SystemCallError(firstError, $"submitting batched writes to {Name} (io_uring_enter); writing one packet per call from now on");
        }
        if (failed > 0) throw SystemCallError(firstError, $"writing {failed} batched frame(s) to {Name}");
    }

    /// <summary>Writes the frame's virtio_net_hdr (offloads) into its headroom; a plain device has none.</summary>
    private void PrepareFrame(Span<byte> frame, PacketOffload offload)
    {
        if (!_virtioHeader)
        {
            if (offload != default) throw new NotSupportedException($"{Name} was opened without offloads");
            return;
        }
        ReadOnlySpan<byte> packet = frame[VirtioNetHeader.Size..];
        VirtioNetHeader header = default;
        if (offload.Checksum == PacketChecksum.Partial || offload.SegmentSize > 0)
        {
            int ipHeader = (packet[0] & 0x0f) * 4;
            int tcpHeader = (packet[ipHeader + 12] >> 4) * 4;
            header = new VirtioNetHeader(VirtioNetHeader.NeedsChecksum, VirtioNetHeader.GsoNone, (ushort)(ipHeader + tcpHeader),
                0, (ushort)ipHeader, TcpChecksumOffset);
            if (offload.SegmentSize > 0)
            {
                header = header with { GsoType = VirtioNetHeader.GsoTcpV4, GsoSize = offload.SegmentSize };
                Interlocked.Increment(ref _superSegmentsSent);
            }
        }
        header.Write(frame);
    }

    /// <summary>Closes the descriptor (and the write ring first); when it was the interface's last queue, the kernel removes the interface.</summary>
    public void Dispose()
    {
        lock (_ringGate)
        {
            _ring?.Dispose();
            _ring = null;
        }
        _fd.Dispose();
    }

    private bool TryReadRaw(Span<byte> buffer, out int length)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        if (buffer.Length < FrameCapacity)
        {
            // The kernel silently truncates a packet longer than the buffer.
            throw new ArgumentException($"the buffer holds {buffer.Length} bytes, less than {Name} may deliver ({FrameCapacity})", nameof(buffer));
        }
        while (true)
        {
            nint read = Syscalls.Read(_fd, buffer);
            if (read >= 0)
            {
                length = (int)read;
                return true;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN)
            {
                length = 0;
                return false;
            }
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"reading from {Name}");
            }
        }
    }

    private void WriteRaw(ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        while (true)
        {
            // A TUN write takes the whole frame or fails; there are no short writes.
            if (Syscalls.Write(_fd, frame) >= 0)
            {
                return;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN)
            {
                // The kernel's backlog is full: the packet is lost, as on a congested link, and TCP retransmits it.
                Interlocked.Increment(ref _writesDropped);
                return;
            }
            if (errno != LibC.EINTR)
            {
                throw SystemCallError(errno, $"writing a {frame.Length}-byte frame to {Name}");
            }
        }
    }

    /// <summary>
    /// What the kernel's skb_checksum_help does: the sum from csum_start on, stored at csum_start + csum_offset (TCP's field
    /// at 16, UDP's at 6: the kernel leaves both partial), 0 sent as 0xFFFF since 0 means "no checksum" to UDP.
    /// </summary>
    private static void CompleteChecksum(Span<byte> packet, int start, int offset)
    {
        if (packet.Length < start + offset + 2) return;
        ushort checksum = InternetChecksum.Compute(packet[start..]);
        if (checksum == 0) checksum = 0xFFFF;
        packet[start + offset] = (byte)(checksum >> 8);
        packet[start + offset + 1] = (byte)checksum;
    }

    private static SafeFileDescriptor OpenControlDevice()
    {
        SafeFileDescriptor fd = Syscalls.Open(ControlDevice, LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (!fd.IsInvalid)
        {
            return fd;
        }
        int errno = Marshal.GetLastPInvokeError();
        fd.Dispose();
        int e = errno;
        throw e switch
        {
            _ when e == LibC.ENOENT => new TunException(errno,
                $"{ControlDevice} not found: load the tun module (modprobe tun) or run in a container with {ControlDevice}"),
            _ when e == LibC.ENODEV || e == LibC.ENXIO => new TunException(errno,
                $"{ControlDevice} has no driver behind it: load the tun module (modprobe tun)"),
            _ when e == LibC.EPERM => new TunException(errno, $"cannot open {ControlDevice}: {MissingCapability}"),
            _ when e == LibC.EACCES => new TunException(errno,
                $"cannot open {ControlDevice}: its file mode denies this user: run as root, or make it 0666 as most distributions ship it"),
            _ => SystemCallError(errno, $"opening {ControlDevice}"),
        };
    }

    // TUNGETFEATURES: the IFF_* flags this driver supports; 0 when even that is unknown (then nothing optional is asked for).
    private static int SupportedFeatures(SafeFileDescriptor fd)
    {
        int features = 0;
        return Syscalls.IoctlInt(fd, TunConstants.TUNGETFEATURES, ref features) < 0 ? 0 : features;
    }

    // TUNSETIFF; when the virtio header is refused (EINVAL), attaches without it and says so through virtioHeader.
    private static string Attach(SafeFileDescriptor fd, string name, int flags, ref bool virtioHeader)
    {
        IfReq request = IfReq.ForName(name);
        request.Flags = unchecked((short)(flags | (virtioHeader ? TunConstants.IFF_VNET_HDR : 0)));
        if (Syscalls.Ioctl(fd, TunConstants.TUNSETIFF, ref request) >= 0)
        {
            return request.Name;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (virtioHeader && errno == LibC.EINVAL)
        {
            virtioHeader = false;
            return Attach(fd, name, flags, ref virtioHeader);
        }
        throw CreateError(errno, name);
    }

    /// <summary>
    /// TUNSETOFFLOAD: checksum offload and TSO if the kernel takes both, else checksum offload alone, else none. Writes
    /// with a virtio_net_hdr (partial checksums, super-segments for the kernel's own TCP) work whatever was granted: the
    /// offload flags only say what the kernel may send us.
    /// </summary>
    private static DeviceOffloads NegotiateOffloads(SafeFileDescriptor fd, string name, TunOptions options)
    {
        int granted = 0;
        foreach (int asked in (ReadOnlySpan<int>)[TunConstants.TUN_F_CSUM | TunConstants.TUN_F_TSO4 | options.ExtraOffloadFlags, TunConstants.TUN_F_CSUM])
        {
            if (Syscalls.IoctlValue(fd, TunConstants.TUNSETOFFLOAD, asked) >= 0)
            {
                granted = asked;
                break;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINVAL) throw SystemCallError(errno, $"setting offloads on {name}");
        }
        bool segmentation = (granted & TunConstants.TUN_F_TSO4) != 0;
        return new DeviceOffloads
        {
            Headroom = VirtioNetHeader.Size,
            MaxReceivePacket = segmentation ? MaxIpv4Packet : options.Mtu,
            ReceiveChecksum = (granted & TunConstants.TUN_F_CSUM) != 0,
            ReceiveSegmentation = segmentation,
            TransmitChecksum = true,
            TransmitSegmentation = MaxSegmentationPayload,
        };
    }

    private static TunException CreateError(int errno, string name) => errno switch
    {
        _ when errno == LibC.EPERM => new TunException(errno, $"cannot create interface {name}: {MissingCapability}"),
        _ when errno == LibC.EBUSY => new TunException(errno, $"interface {name} already in use: pick another --iface name"),
        _ => SystemCallError(errno, $"creating TUN interface {name}"),
    };

    // The SIOCSIF* ioctls go through a socket of the same network namespace as the interface.
    private static void Configure(string name, TunOptions options)
    {
        using SafeFileDescriptor socket = Syscalls.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (socket.IsInvalid)
        {
            throw SystemCallError(Marshal.GetLastPInvokeError(), $"opening a socket to configure {name}");
        }

        IfReq request = IfReq.ForName(name);
        request.SetIpv4Address(options.Address.Address.GetAddressBytes());
        Configure(socket, (uint)LibC.SIOCSIFADDR, ref request, $"setting address {options.Address.Address} on {name}");

        request = IfReq.ForName(name);
        request.SetIpv4Address(options.Address.Netmask.GetAddressBytes());
        Configure(socket, (uint)LibC.SIOCSIFNETMASK, ref request, $"setting netmask {options.Address.Netmask} on {name}");

        request = IfReq.ForName(name);
        request.SetMtu(options.Mtu);
        Configure(socket, (uint)LibC.SIOCSIFMTU, ref request, $"setting MTU {options.Mtu} on {name}");

        if (options.QueueLength is int queueLength)
        {
            request = IfReq.ForName(name);
            request.SetQueueLength(queueLength);
            Configure(socket, (uint)LibC.SIOCSIFTXQLEN, ref request, $"setting the transmit queue length {queueLength} on {name}");
        }

        DisableIpv6(name);

        request = IfReq.ForName(name);
        Configure(socket, (uint)LibC.SIOCGIFFLAGS, ref request, $"reading the flags of {name}");
        request.Flags = (short)((ushort)request.Flags | (ushort)(IfReq.IFF_UP | IfReq.IFF_RUNNING));
        Configure(socket, (uint)LibC.SIOCSIFFLAGS, ref request, $"bringing {name} up");
    }

    /// <summary>
    /// net.ipv6.conf.NAME.disable_ipv6 = 1 on this interface alone, before it is up: the stack speaks IPv4 only, and the
    /// kernel would otherwise send IPv6 router solicitations and MLD reports into it. /proc/sys/net is the calling
    /// thread's namespace, the interface's. No file (IPv6 off in the kernel) or a read-only one leaves nothing to do.
    /// </summary>
    private static void DisableIpv6(string name)
    {
        string path = $"/proc/sys/net/ipv6/conf/{name}/disable_ipv6";
        if (!File.Exists(path)) return;
        try
        {
            File.WriteAllText(path, "1");
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // A read-only /proc/sys (an unprivileged container) costs only the stray IPv6 packets the stack drops anyway.
        }
    }

    private static void Configure(SafeFileDescriptor socket, uint request, ref IfReq ifr, string action)
    {
        if (Syscalls.Ioctl(socket, request, ref ifr) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == LibC.EPERM
                ? new TunException(errno, $"{action}: {MissingCapability}")
                : SystemCallError(errno, action);
        }
    }

    private static TunException SystemCallError(int errno, string action) =>
        new(errno, $"{action} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    private static int RemainingMilliseconds(long start, TimeSpan timeout)
    {
        TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(start);
        return remaining <= TimeSpan.Zero ? 0 : (int)Math.Min(int.MaxValue, Math.Ceiling(remaining.TotalMilliseconds));
    }
}
