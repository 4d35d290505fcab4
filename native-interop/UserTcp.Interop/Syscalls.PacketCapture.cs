using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    // <linux/if_ether.h>: every protocol. Only such a socket sees what the kernel sends (dev_queue_xmit_nit delivers to
    // the ptype_all taps alone); the caller picks the IPv4 packets.
    private const ushort EthernetProtocolAll = 0x0003;

    /// <summary>
    /// An AF_PACKET socket (packet(7)) that sees the packets the kernel sends out of every interface of the calling
    /// thread's network namespace, or of the one named <paramref name="interfaceName"/> only, each with the kernel's
    /// software timestamp (SO_TIMESTAMPNS): the instant it hands the packet to the device. A classic BPF filter
    /// (<see cref="SocketFilter.OutgoingOnly"/>) keeps every packet the kernel receives off its queue (on a TUN
    /// interface, what the TUN's owner writes). An invalid handle and errno on failure (it needs CAP_NET_RAW; ENODEV when
    /// there is no such interface).
    /// </summary>
    internal static unsafe SafeFileDescriptor OpenPacketCapture(string? interfaceName = null)
    {
        // Protocol 0: the socket takes no packet until bind names one (packet(7)), so none is queued before the filter.
        var socket = new SafeFileDescriptor(LibC.socket(LibC.AF_PACKET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0));
        if (socket.IsInvalid) return socket;
        int on = 1;
        if (KeepErrno(LibC.setsockopt((int)socket.DangerousGetHandle(), LibC.SOL_SOCKET, LibC.SO_TIMESTAMPNS, &on, sizeof(int))) < 0
            || AttachFilter(socket, SocketFilter.OutgoingOnly) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            socket.Dispose();
            Marshal.SetLastPInvokeError(errno);
            return new SafeFileDescriptor(-1);
        }
        if (Bind(socket, interfaceName) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            socket.Dispose();
            Marshal.SetLastPInvokeError(errno);
            return new SafeFileDescriptor(-1);
        }
        // Room for a burst of the whole namespace's packets while the reading thread waits for a CPU; best effort (it
        // needs CAP_NET_ADMIN, and the default of about 200 KiB still works for the lab's small exchanges).
        int room = CaptureReceiveBuffer;
        _ = LibC.setsockopt((int)socket.DangerousGetHandle(), LibC.SOL_SOCKET, LibC.SO_RCVBUFFORCE, &room, sizeof(int));
        return socket;
    }

    private const int CaptureReceiveBuffer = 8 * 1024 * 1024;

    // bind(2) to every protocol, on one interface (SIOCGIFINDEX finds its index), so that a busy host's other traffic
    // never fills the queue, or on every interface (index 0).
    private static unsafe int Bind(SafeFileDescriptor socket, string? interfaceName)
    {
        int index = 0;
        if (interfaceName is not null)
        {
            IfReq request = IfReq.ForName(interfaceName);
            if (Ioctl(socket, (uint)LibC.SIOCGIFINDEX, ref request) < 0) return -1;
            index = request.Index;
        }
        var address = new sockaddr_ll
        {
            sll_family = (ushort)LibC.AF_PACKET,
            sll_protocol = (ushort)System.Net.IPAddress.HostToNetworkOrder((short)EthernetProtocolAll),
            sll_ifindex = index,
        };
        return KeepErrno(LibC.bind((int)socket.DangerousGetHandle(), (sockaddr*)&address, (uint)sizeof(sockaddr_ll)));
    }

    // setsockopt(2) SO_ATTACH_FILTER: the kernel copies the program, so it need only stay put for the call.
    private static unsafe int AttachFilter(SafeFileDescriptor socket, ReadOnlySpan<SockFilter> program)
    {
        fixed (SockFilter* instructions = program)
        {
            var filter = new SockFprog { Length = (ushort)program.Length, Filter = instructions };
            return KeepErrno(LibC.setsockopt((int)socket.DangerousGetHandle(), LibC.SOL_SOCKET, LibC.SO_ATTACH_FILTER, &filter, (uint)sizeof(SockFprog)));
        }
    }

    /// <summary>
    /// recvmsg(2) of one packet from <see cref="OpenPacketCapture"/>'s socket into the span: its length (-1 and errno on
    /// failure), which way it went (sll_pkttype: PACKET_OUTGOING for one the kernel sent), the interface's index, and
    /// the kernel's timestamp in nanoseconds of CLOCK_REALTIME (0 when the kernel gave none). With
    /// <paramref name="dontWait"/> (MSG_DONTWAIT) an empty queue fails at once with EAGAIN.
    /// </summary>
    internal static unsafe nint ReceiveCaptured(SafeFileDescriptor fd, Span<byte> buffer, out CapturedPacketInfo info, bool dontWait = false)
    {
        info = default;
        using var held = new Held(fd);
        sockaddr_ll from = default;
        // Room for one SCM_TIMESTAMPNS message: a cmsghdr and a struct timespec, aligned.
        byte* control = stackalloc byte[64];
        fixed (byte* start = buffer)
        {
            var part = new iovec { iov_base = start, iov_len = buffer.Length };
            var message = new msghdr
            {
                msg_name = &from,
                msg_namelen = (uint)sizeof(sockaddr_ll),
                msg_iov = &part,
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = 64,
            };
            nint length = (nint)(long)LibC.recvmsg(held.Fd, &message, dontWait ? LibC.MSG_DONTWAIT : 0);
            if (length < 0) return KeepErrno((int)length);
            long timestamp = 0;
            for (cmsghdr* header = LibC.CMSG_FIRSTHDR(&message); header is not null; header = LibC.CMSG_NXTHDR(&message, header))
            {
                if (header->cmsg_level == LibC.SOL_SOCKET && header->cmsg_type == LibC.SCM_TIMESTAMPNS)
                {
                    var time = (timespec*)LibC.CMSG_DATA(header);
                    timestamp = (long)time->tv_sec * 1_000_000_000 + (long)time->tv_nsec;
                }
            }
            info = new CapturedPacketInfo(from.sll_pkttype, from.sll_ifindex, timestamp);
            return length;
        }
    }
}

/// <summary>What <see cref="Syscalls.ReceiveCaptured"/> says about a packet besides its bytes.</summary>
/// <param name="PacketType">packet(7)'s sll_pkttype: <see cref="Outgoing"/> for a packet the kernel sent.</param>
/// <param name="InterfaceIndex">The interface it crossed.</param>
/// <param name="RealtimeNanoseconds">The kernel's timestamp, nanoseconds of CLOCK_REALTIME; 0 when it gave none.</param>
internal readonly record struct CapturedPacketInfo(byte PacketType, int InterfaceIndex, long RealtimeNanoseconds)
{
    // <linux/if_packet.h>
    public const byte Outgoing = 4;

    public bool SentByKernel => PacketType == Outgoing;
}
