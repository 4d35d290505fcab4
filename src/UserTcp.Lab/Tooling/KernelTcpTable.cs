using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using Tmds.Linux;
using UserTcp.Interop;
using UserTcp.Tun;

namespace UserTcp.Lab;

/// <summary>The kernel's TCP states, numbered as in include/net/tcp_states.h.</summary>
public enum KernelTcpState : byte
{
    Established = 1,
    SynSent = 2,
    SynReceived = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Closed = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    /// <summary>A request socket: a SYN answered, the handshake's ACK not yet in (ss shows SYN-RECV).</summary>
    NewSynReceived = 12,
}

public static class KernelTcpStateExtensions
{
    /// <summary>The RFC's spelling, as UserTcp prints its own states: "FIN-WAIT-2" (ss says ESTAB and SYN-RECV).</summary>
    public static string ToRfcName(this KernelTcpState state) => state switch
    {
        KernelTcpState.Established => "ESTABLISHED",
        KernelTcpState.SynSent => "SYN-SENT",
        KernelTcpState.SynReceived or KernelTcpState.NewSynReceived => "SYN-RECEIVED",
        KernelTcpState.FinWait1 => "FIN-WAIT-1",
        KernelTcpState.FinWait2 => "FIN-WAIT-2",
        KernelTcpState.TimeWait => "TIME-WAIT",
        KernelTcpState.Closed => "CLOSED",
        KernelTcpState.CloseWait => "CLOSE-WAIT",
        KernelTcpState.LastAck => "LAST-ACK",
        KernelTcpState.Listen => "LISTEN",
        KernelTcpState.Closing => "CLOSING",
        _ => $"state {(int)state}",
    };
}

/// <summary>The kernel's timer on a socket, as inet_diag reports it (ss -o shows them as on, keepalive, timewait, persist).</summary>
public enum KernelTcpTimer : byte
{
    None = 0,
    /// <summary>Retransmission (or a tail-loss probe, or the SYN-ACK timer of a request socket).</summary>
    Retransmit = 1,
    KeepAlive = 2,
    TimeWait = 3,
    Persist = 4,
}

/// <summary>
/// One kernel TCP socket, as one line of `ss -tano` shows it: state, queues, endpoints, and the armed timer with
/// the time left on it and the retransmissions (or unanswered probes) so far.
/// </summary>
public readonly record struct KernelTcpSocket(KernelTcpState State, IPEndPoint Local, IPEndPoint Remote, uint ReceiveQueue, uint SendQueue,
    KernelTcpTimer Timer = KernelTcpTimer.None, byte Retransmits = 0, TimeSpan Expires = default)
{
    /// <summary>The socket's tcp_info (INET_DIAG_INFO), when the dump asked for it (<see cref="KernelTcpTable.Read(bool)"/>): an orphaned socket's too, which no getsockopt can reach.</summary>
    public KernelTcpInfo? Info { get; init; }

    public override string ToString() => $"{State.ToRfcName()} {ReceiveQueue} {SendQueue} {Local} {Remote}";
}

/// <summary>
/// The kernel's IPv4 TCP sockets of one network namespace, read the way `ss -tan` reads them: a NETLINK_SOCK_DIAG
/// dump (SOCK_DIAG_BY_FAMILY, inet_diag_req_v2). One read takes tens of microseconds, so the table can be sampled
/// every millisecond during an exchange; /proc/net/tcp walks the whole established hash through seq_file and takes
/// milliseconds, and running ss costs a process each time. The netlink socket belongs to the namespace it was opened
/// in and is used from any thread afterwards.
/// </summary>
public sealed class KernelTcpTable : IDisposable
{
    private const int NETLINK_SOCK_DIAG = 4;
    private const ushort SOCK_DIAG_BY_FAMILY = 20;
    private const ushort NLMSG_ERROR = 2;
    private const ushort NLMSG_DONE = 3;
    private const ushort NLM_F_REQUEST = 0x1;
    private const ushort NLM_F_DUMP = 0x300;
    private const int HeaderLength = 16;
    private const int RequestLength = HeaderLength + 56;
    // inet_diag_msg: family, state, timer, retrans, then inet_diag_sockid (sport, dport, src[16], dst[16], if, cookie[2]),
    // then expires, rqueue, wqueue, uid, inode.
    private const int MessageLength = 72;
    // The rtattr type of struct tcp_info after the message (<linux/inet_diag.h> INET_DIAG_INFO).
    private const int InetDiagInfo = 2;

    private readonly SafeFileDescriptor _socket;
    // Guards _buffer and _sequence: one dump at a time.
    private readonly Lock _gate = new();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private uint _sequence;

    private KernelTcpTable(SafeFileDescriptor socket) => _socket = socket;

    /// <summary>Opens the table of the calling thread's namespace.</summary>
    /// <exception cref="TunException">The netlink socket cannot be opened.</exception>
    public static KernelTcpTable Open()
    {
        SafeFileDescriptor socket = Syscalls.Socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (socket.IsInvalid)
        {
            int errno = Marshal.GetLastPInvokeError();
            socket.Dispose();
            throw new TunException(errno, $"opening a sock_diag netlink socket failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        return new KernelTcpTable(socket);
    }

    /// <summary>Opens the table of a named namespace (one made with ip netns add).</summary>
    public static KernelTcpTable Open(string namespaceName) => NetworkNamespace.Invoke(namespaceName, Open);

    /// <summary>
    /// Every IPv4 TCP socket of the namespace now, listeners and TIME-WAIT included; with <paramref name="withInfo"/>, each
    /// full socket's tcp_info too (idiag_ext INET_DIAG_INFO, as `ss -i` asks).
    /// </summary>
    /// <exception cref="TunException">The kernel refused the dump.</exception>
    public IReadOnlyList<KernelTcpSocket> Read(bool withInfo = false)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_socket.IsClosed, this);
            uint sequence = ++_sequence;
            Span<byte> request = stackalloc byte[RequestLength];
            request.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(request, RequestLength);
            BinaryPrimitives.WriteUInt16LittleEndian(request[4..], SOCK_DIAG_BY_FAMILY);
            BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NLM_F_REQUEST | NLM_F_DUMP);
            BinaryPrimitives.WriteUInt32LittleEndian(request[8..], sequence);
            request[HeaderLength] = (byte)(int)LibC.AF_INET;
            request[HeaderLength + 1] = 6; // IPPROTO_TCP
            if (withInfo) request[HeaderLength + 2] = 1 << (InetDiagInfo - 1); // idiag_ext
            BinaryPrimitives.WriteUInt32LittleEndian(request[(HeaderLength + 4)..], uint.MaxValue); // every state
            if (Syscalls.Write(_socket, request) < 0)
            {
                throw Failure("sending the sock_diag request");
            }

            var sockets = new List<KernelTcpSocket>();
            while (true)
            {
                nint read = Syscalls.Read(_socket, _buffer);
                if (read < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EINTR) continue;
                    throw Failure("reading the sock_diag reply", errno);
                }
                if (TakeReply(_buffer.AsSpan(0, (int)read), sequence, sockets)) return sockets;
            }
        }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>
    /// Takes the messages of one datagram of the dump numbered <paramref name="sequence"/> (those of other requests are
    /// passed over): each socket into <paramref name="sockets"/>; true at NLMSG_DONE. The kernel's NLMSG_DONE carries the
    /// dump's outcome as an int (netlink_dump: dump_done_errno), negative when the dump failed part way, as an
    /// NLMSG_ERROR carries a refusal: both throw, so a partial table is never taken for the whole one.
    /// </summary>
    /// <exception cref="TunException">The kernel reported an error, or a message is malformed.</exception>
    internal static bool TakeReply(ReadOnlySpan<byte> datagram, uint sequence, List<KernelTcpSocket> sockets)
    {
        int offset = 0;
        while (offset + HeaderLength <= datagram.Length)
        {
            ReadOnlySpan<byte> message = datagram[offset..];
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(message);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
            if (length < HeaderLength || length > message.Length)
            {
                throw new TunException(0, "a malformed sock_diag reply arrived");
            }
            if (BinaryPrimitives.ReadUInt32LittleEndian(message[8..]) == sequence)
            {
                // NLMSG_ERROR's nlmsgerr and NLMSG_DONE's int both start with the error, negative errno or 0.
                int error = length >= HeaderLength + 4 ? -BinaryPrimitives.ReadInt32LittleEndian(message[HeaderLength..]) : 0;
                switch (type)
                {
                    case NLMSG_DONE when error > 0:
                        throw Failure("the sock_diag dump (it ended early)", error);
                    case NLMSG_DONE:
                        return true;
                    case NLMSG_ERROR:
                        throw Failure("the sock_diag dump", error);
                    case SOCK_DIAG_BY_FAMILY when length >= HeaderLength + MessageLength:
                        sockets.Add(Parse(message[HeaderLength..length]) with { Info = InfoOf(message[(HeaderLength + MessageLength)..length]) });
                        break;
                }
            }
            offset += (length + 3) & ~3; // NLMSG_ALIGN
        }
        return false;
    }

    // inet_diag_msg: idiag_timer at 2, idiag_retrans at 3, idiag_expires (ms) at 52, then rqueue and wqueue.
    private static KernelTcpSocket Parse(ReadOnlySpan<byte> m) => new(
        (KernelTcpState)m[1],
        new IPEndPoint(new IPAddress(m.Slice(8, 4)), BinaryPrimitives.ReadUInt16BigEndian(m[4..])),
        new IPEndPoint(new IPAddress(m.Slice(24, 4)), BinaryPrimitives.ReadUInt16BigEndian(m[6..])),
        BinaryPrimitives.ReadUInt32LittleEndian(m[56..]),
        BinaryPrimitives.ReadUInt32LittleEndian(m[60..]),
        m[2] <= 4 ? (KernelTcpTimer)m[2] : KernelTcpTimer.None,
        m[3],
        TimeSpan.FromMilliseconds(BinaryPrimitives.ReadUInt32LittleEndian(m[52..])));

    // The INET_DIAG_INFO attribute among those after inet_diag_msg (each an rtattr: u16 length, u16 type, payload), parsed; null without one.
    private static KernelTcpInfo? InfoOf(ReadOnlySpan<byte> attributes)
    {
        while (attributes.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            if (length < 4 || length > attributes.Length) return null;
            if (BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) == InetDiagInfo && length - 4 >= KernelTcpInfo.Length)
            {
                return KernelTcpInfo.Parse(attributes[4..length]);
            }
            attributes = attributes[Math.Min(attributes.Length, (length + 3) & ~3)..]; // RTA_ALIGN
        }
        return null;
    }

    private static TunException Failure(string action, int? errno = null)
    {
        int code = errno ?? Marshal.GetLastPInvokeError();
        return new TunException(code, $"{action} failed: {Marshal.GetPInvokeErrorMessage(code)} (errno {code})");
    }
}
