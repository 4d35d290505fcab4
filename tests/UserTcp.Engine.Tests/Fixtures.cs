using UserTcp.Wire;

namespace UserTcp.Engine.Tests;

/// <summary>A connection driven to each state by exact segments (docs/design.md "Tests": a fixture per state).</summary>
internal static class Fixtures
{
    public const uint Isn = Harness.LocalIss;
    public const uint PeerIsn = Harness.PeerIss;
    public static readonly TcpOptions PeerSynOptions = new() { MaxSegmentSize = 1460, WindowScale = 7 };

    /// <summary>Passive open up to SYN-RECEIVED: the SYN-ACK is already consumed from the output.</summary>
    public static (Harness H, TcpPassiveOpen Listener) SynReceived(TcpConfig? config = null)
    {
        var h = new Harness(config);
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        return (h, listener);
    }

    /// <summary>ESTABLISHED by passive open; the peer's window is 64240 bytes (502 &lt;&lt; 7).</summary>
    public static (Harness H, TcpConnection C) Established(TcpConfig? config = null)
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived(config);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        h.ExpectNothing();
        return (h, c);
    }

    /// <summary>FIN-WAIT-1 after our active close; our FIN (seq ISS+1) is consumed from the output.</summary>
    public static (Harness H, TcpConnection C) FinWait1(TcpConfig? config = null, bool orphan = true)
    {
        (Harness h, TcpConnection c) = Established(config);
        if (orphan) c.Close(); else c.Shutdown(ShutdownDirection.Send);
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
        Assert.Equal(TcpState.FinWait1, c.State);
        return (h, c);
    }

    public static (Harness H, TcpConnection C) FinWait2(TcpConfig? config = null, bool orphan = true)
    {
        (Harness h, TcpConnection c) = FinWait1(config, orphan);
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502);
        Assert.Equal(TcpState.FinWait2, c.State);
        h.ExpectNothing();
        return (h, c);
    }

    public static (Harness H, TcpConnection C) TimeWait(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = FinWait2(config);
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 2, window: 502);
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        Assert.Equal(TcpState.TimeWait, c.State);
        return (h, c);
    }

    public static (Harness H, TcpConnection C) CloseWait(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = Established(config);
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        Assert.Equal(TcpState.CloseWait, c.State);
        // The ACK of a FIN is delayed (as Linux does), in case the application closes at once; with no data before
        // it only by a jiffy (Linux's delayed-ACK time is still 0).
        h.ExpectNothing();
        Assert.Equal(h.Now + AckTimeout.Jiffy, h.AdvanceToNextDeadline());
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 2);
        return (h, c);
    }

    public static (Harness H, TcpConnection C) LastAck(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = CloseWait(config);
        c.Close();
        h.Poll();
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 2);
        Assert.Equal(TcpState.LastAck, c.State);
        return (h, c);
    }

    public static (Harness H, TcpConnection C) Closing(TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = FinWait1(config);
        // The peer's FIN crosses ours: it does not acknowledge our FIN.
        h.Send(TcpFlags.Fin | TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        h.Expect(TcpFlags.Ack, Isn + 2, PeerIsn + 2);
        Assert.Equal(TcpState.Closing, c.State);
        return (h, c);
    }

    /// <summary>An active open: SYN-SENT with our SYN consumed from the output.</summary>
    public static (Harness H, TcpConnection C) SynSent(TcpConfig? config = null)
    {
        var h = new Harness(config);
        TcpConnection c = h.Engine.Connect(new IpEndpoint(Harness.PeerAddress, Harness.PeerPort), Harness.LocalPort);
        h.Poll();
        h.Expect(TcpFlags.Syn, Isn);
        Assert.Equal(TcpState.SynSent, c.State);
        return (h, c);
    }
}
