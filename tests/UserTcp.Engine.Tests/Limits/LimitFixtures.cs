using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests;

/// <summary>Several connections to one listener, each from its own peer port, for the caps (docs/design.md "Limits").</summary>
internal static class LimitFixtures
{
    public static ushort PortOf(int i) => (ushort)(Harness.PeerPort + 1 + i);

    /// <summary>ESTABLISHED by passive open from peer port <paramref name="port"/>; the SYN-ACK and nothing else is sent.</summary>
    public static TcpConnection Open(Harness h, TcpPassiveOpen listener, ushort port)
    {
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions, sourcePort: port);
        Sent synAck = h.Next();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(port, synAck.DestinationPort);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502, sourcePort: port);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        h.ExpectNothing();
        return c;
    }

    /// <summary>Our active close, the peer's ACK and FIN: our last ACK is consumed from the output.</summary>
    public static void CloseFirst(Harness h, TcpConnection c, ushort port)
    {
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502, sourcePort: port);
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502, sourcePort: port);
        Sent last = h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        Assert.Equal(port, last.DestinationPort);
    }
}
