using System.Buffers.Binary;
using UserTcp.Lab;
using UserTcp.Tun;

namespace UserTcp.Integration.Tests;

/// <summary>The sock_diag reply walk of <see cref="KernelTcpTable"/>, on datagrams made here (no root).</summary>
public sealed class KernelTcpTableReplyTests
{
    private const uint Sequence = 7;
    private const ushort SockDiagByFamily = 20, NlmsgError = 2, NlmsgDone = 3;
    private const int Enomem = 12;

    [Fact]
    public void A_dump_that_ends_with_done_and_no_error_gives_its_sockets()
    {
        byte[] datagram = [.. Socket(5005), .. Message(NlmsgDone, Int(0))];
        var sockets = new List<KernelTcpSocket>();

        Assert.True(KernelTcpTable.TakeReply(datagram, Sequence, sockets));

        KernelTcpSocket socket = Assert.Single(sockets);
        Assert.Equal((KernelTcpState.Established, "10.77.0.1:5005", "10.77.0.2:80"), (socket.State, socket.Local.ToString(), socket.Remote.ToString()));
    }

    [Fact]
    public void A_dump_the_kernel_ended_early_with_an_error_in_its_done_message_fails_rather_than_passing_for_the_whole_table()
    {
        // netlink_dump puts the dump's outcome in NLMSG_DONE's payload: here -ENOMEM after one socket.
        byte[] datagram = [.. Socket(5005), .. Message(NlmsgDone, Int(-Enomem))];

        TunException e = Assert.Throws<TunException>(() => KernelTcpTable.TakeReply(datagram, Sequence, []));

        Assert.Equal(Enomem, e.Errno);
    }

    [Fact]
    public void An_error_message_fails_with_its_errno_and_messages_of_another_request_are_passed_over()
    {
        byte[] otherDump = [.. Message(NlmsgDone, Int(0), sequence: Sequence - 1)];
        Assert.False(KernelTcpTable.TakeReply([.. otherDump, .. Socket(5005)], Sequence, []));

        TunException e = Assert.Throws<TunException>(() => KernelTcpTable.TakeReply(Message(NlmsgError, Int(-Enomem)), Sequence, []));
        Assert.Equal(Enomem, e.Errno);
    }

    /// <summary>
    /// With idiag_ext INET_DIAG_INFO the message carries rtattrs after inet_diag_msg: an unknown one first is passed over,
    /// and the tcp_info one gives cwnd and ssthresh; a socket without it (TIME-WAIT carries none) has no Info.
    /// </summary>
    [Fact]
    public void A_socket_with_an_inet_diag_info_attribute_carries_its_tcp_info()
    {
        byte[] info = new byte[120];
        info[1] = 3; // TCP_CA_Recovery
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(76), 7);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(80), 9);
        byte[] datagram = [.. Socket(5005, [.. Attribute(1, [0, 0, 0, 0, 0]), .. Attribute(2, info)]), .. Socket(5006), .. Message(NlmsgDone, Int(0))];
        var sockets = new List<KernelTcpSocket>();

        Assert.True(KernelTcpTable.TakeReply(datagram, Sequence, sockets));

        KernelTcpInfo got = Assert.IsType<KernelTcpInfo>(sockets[0].Info);
        Assert.Equal((3, 9, 7), ((int)got.CaState, got.CongestionWindow, got.SlowStartThreshold));
        Assert.Null(sockets[1].Info);
    }

    // An rtattr: u16 length (header included), u16 type, the payload, padded to RTA_ALIGN.
    private static byte[] Attribute(ushort type, byte[] payload)
    {
        byte[] a = new byte[(4 + payload.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)(4 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(a.AsSpan(2), type);
        payload.CopyTo(a, 4);
        return a;
    }

    // One SOCK_DIAG_BY_FAMILY message: inet_diag_msg of an established socket 10.77.0.1:PORT -> 10.77.0.2:80, then any attributes.
    private static byte[] Socket(ushort port, byte[]? attributes = null)
    {
        byte[] m = new byte[72];
        m[0] = 2; // AF_INET
        m[1] = (byte)KernelTcpState.Established;
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(4), port);
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(6), 80);
        byte[] local = [10, 77, 0, 1], remote = [10, 77, 0, 2];
        local.CopyTo(m, 8);
        remote.CopyTo(m, 24);
        return Message(SockDiagByFamily, [.. m, .. attributes ?? []]);
    }

    private static byte[] Int(int value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    // nlmsghdr (length, type, flags NLM_F_MULTI, sequence, port id 0), the payload, padded to NLMSG_ALIGN.
    private static byte[] Message(ushort type, byte[] payload, uint sequence = Sequence)
    {
        int length = 16 + payload.Length;
        byte[] message = new byte[(length + 3) & ~3];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), 0x2);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        payload.CopyTo(message, 16);
        return message;
    }
}
