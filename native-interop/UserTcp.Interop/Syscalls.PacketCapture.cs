using System.Runtime.InteropServices;
using Tmds.Linux;

namespace UserTcp.Interop;

internal static partial class Syscalls
{
    // <linux/if_ether.h>: every protocol. Only such a socket sees what the kernel sends (dev_queue_xmit_nit delivers to
    // the ptype_all taps alone); the caller picks the IPv4 packets.
    private const ushort EthernetProtocolAll = 0x0003;

    /// <summary>
    /// An AF_PACKET socket (packet(7)) that sees the packets of every interface of the calling thread's network
    /// namespace, or of the one named <paramref name="interfaceName"/> only, each with the kernel's software timestamp
    /// (SO_TIMESTAMPNS): for a packet the kernel sends, the instant it hands it to the device. An invalid handle and
    /// errno on failure (it needs CAP_NET_RAW; ENODEV when there is no such interface).
    /// </summary>
    internal static unsafe SafeFileDescriptor OpenPacketCapture(string? interfaceName = null)
    {
        var socket = new SafeFileDescriptor(LibC.socket(LibC.AF_PACKET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC,
            (int)(ushort)System.Net.IPAddress.HostToNetworkOrder((short)EthernetProtocolAll)));
        if (socket.IsInvalid) return socket;
        int on = 1;
        if (KeepErrno(LibC.setsockopt((int)socket.DangerousGetHandle(), LibC.SOL_SOCKET, LibC.SO_TIMESTAMPNS, &on, sizeof(int))) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            socket.Dispose();
            Marshal.SetLastPInvokeError(errno);
            return new SafeFileDescriptor(-1);
        }
        if (interfaceName is not null && BindToInterface(socket, interfaceName) < 0)
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

    // bind(2) to one interface (SIOCGIFINDEX finds its index), so that a busy host's other traffic never fills the queue.
    private static unsafe int BindToInterface(SafeFileDescriptor socket, string interfaceName)
    {
        IfReq request = IfReq.ForName(interfaceName);
        if (Ioctl(socket, (uint)LibC.SIOCGIFINDEX, ref request) < 0) return -1;
        var address = new sockaddr_ll
        {
            sll_family = (ushort)LibC.AF_PACKET,
            sll_protocol = (ushort)System.Net.IPAddress.HostToNetworkOrder((short)EthernetProtocolAll),
            sll_ifindex = request.Index,
        };
        return KeepErrno(LibC.bind((int)socket.DangerousGetHandle(), (sockaddr*)&address, (uint)sizeof(sockaddr_ll)));
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
