using UserTcp.Sockets;
using static UserTcp.Script.LinuxSymbols;
using static UserTcp.Script.SocketErrno;

namespace UserTcp.Script;

/// <summary>
/// sendmsg and recvmsg on a connected socket: the iovec lengths add up to one write or read; recvmsg's control
/// messages are checked against what the socket reports (TCP_CM_INQ, with TCP_INQ set: the bytes still queued).
/// </summary>
internal sealed partial class ScriptExecution
{
    private Func<Outcome?> SendMsg(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        MsgHdrStruct message = MessageHeader(line, call);
        if (message.Control.Count > 0) throw Fail(line, "sendmsg control messages are not supported");
        long count = message.Iov.Sum(v => Int(line, v.Length, "an iovec length"));
        return Write(line, call with { Arguments = [call.Arguments[0], new EllipsisExpression(), Count(count), call.Arguments[2]] }, 4);
    }

    private Func<Outcome?> RecvMsg(int line, SyscallSpec call)
    {
        Arguments(line, call, 3);
        int fd = Fd(line, call);
        MsgHdrStruct message = MessageHeader(line, call);
        long count = message.Iov.Sum(v => Int(line, v.Length, "an iovec length"));
        var expected = new List<(long Level, long Type, ScriptExpression Data)>();
        foreach (ScriptExpression item in message.Control)
        {
            if (item is not ListExpression { Struct: CmsgStruct cmsg }) throw Fail(line, $"msg_control lists {{cmsg_level=..., cmsg_type=..., cmsg_data=...}}, not `{item}`");
            long level = Int(line, cmsg.Level, "cmsg_level"), type = Int(line, cmsg.Type, "cmsg_type");
            if ((level, type) != (IPPROTO_TCP, TCP_CM_INQ)) throw Fail(line, $"control message {cmsg.Level}/{cmsg.Type} is not supported (SOL_TCP/TCP_CM_INQ)");
            expected.Add((level, type, cmsg.Data));
        }
        Func<Outcome?> read = Read(line, call with { Arguments = [call.Arguments[0], new EllipsisExpression(), Count(count), call.Arguments[2]] }, 4);
        return () =>
        {
            if (read() is not Outcome done) return null;
            if (done.Errno != 0 || !_sockets.TryGetValue(fd, out ScriptSocket? socket)) return done;
            // Linux puts TCP_CM_INQ in every recvmsg of a socket with TCP_INQ on (tcp_recvmsg): the bytes left to read, 1 at end of stream when none.
            bool sent = socket.ReceiveQueueHint && socket.Connection is not null;
            if (sent != (expected.Count > 0))
            {
                throw Fail(line, sent ? "recvmsg returned a TCP_CM_INQ control message the script does not expect" : "recvmsg returned no control message (TCP_INQ is not set), the script expects one");
            }
            if (sent)
            {
                UserTcpConnection connection = socket.Connection!;
                int left = connection.Available;
                long hint = left == 0 && connection.FinReceived ? 1 : left;
                if (expected[0].Data is not EllipsisExpression && Int(line, expected[0].Data, "cmsg_data") != hint)
                {
                    throw Fail(line, $"recvmsg's TCP_CM_INQ was {hint}, the script expects {expected[0].Data}");
                }
            }
            return done;
        };
    }

    private static IntegerExpression Count(long count) => new(count, count.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static MsgHdrStruct MessageHeader(int line, SyscallSpec call) =>
        call.Arguments[1] is ListExpression { Struct: MsgHdrStruct message }
            ? message
            : throw Fail(line, $"{call.Name} takes a struct msghdr: {{msg_name(...)=..., msg_iov(1)=[{{..., N}}], msg_flags=0}}");
}
