using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.Ecn;

/// <summary>Connections that negotiated ECN (RFC 3168 §6.1.1), by passive open.</summary>
internal static class EcnFixtures
{
    public const int Mss = 1460;

    /// <summary>ESTABLISHED by passive open from an ECN-setup SYN (ECE and CWR), the SYN-ACK's ECE consumed.</summary>
    public static (Harness H, TcpConnection C) EcnEstablished(TcpConfig? config = null)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Ece, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.True(c.EcnEnabled);
        h.ExpectNothing();
        return (h, c);
    }

    /// <summary>The peer's data at <paramref name="offset"/> of its stream, one MSS by default.</summary>
    public static void PeerData(Harness h, int offset, EcnCodepoint ecn = EcnCodepoint.Ect0, TcpFlags extra = TcpFlags.None, int length = Mss) =>
        h.Send(TcpFlags.Ack | TcpFlags.Psh | extra, PeerIsn + 1 + (uint)offset, Isn + 1, window: 502, payload: new byte[length], ecn: ecn);

    /// <summary>Sends <paramref name="segments"/> full segments of new data and takes them from the output.</summary>
    public static List<Sent> SendSegments(Harness h, TcpConnection c, int segments)
    {
        c.Send(new byte[segments * Mss]);
        h.Poll();
        var sent = new List<Sent>();
        while (h.TryNext() is Sent s) sent.Add(s);
        return sent;
    }
}
