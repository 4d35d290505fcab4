using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.Fuzz;

/// <summary>Bugs the engine fuzzer found, each pinned by exact segments (each test fails without its fix).</summary>
public class FuzzFindingsTests
{
    [Fact]
    public void A_fin_queued_in_syn_received_and_a_zero_window_arms_the_persist_timer()
    {
        // Simultaneous open: our SYN crosses the peer's, we answer SYN-ACK; the application closes before the handshake ends.
        (Harness h, TcpConnection c) = SynSent();
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(TcpState.SynReceived, c.State);
        c.Close();
        h.Poll();
        h.ExpectNothing();

        // The ACK of our SYN closes the window: the FIN may not go, so the persist timer must (RFC 9293 §3.8.6.1).
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 0);
        Assert.Equal(TcpState.FinWait1, c.State);
        h.ExpectNothing();
        Assert.NotNull(c.TimerDeadline(TcpTimer.Persist));

        // The window opens in answer to the probe, and the FIN goes out.
        h.AdvanceToNextDeadline();
        h.Next();
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: 502);
        h.Expect(TcpFlags.Fin | TcpFlags.Ack, Isn + 1, PeerIsn + 1);
    }

    [Fact]
    public void After_a_path_mtu_cut_an_ack_of_everything_leaves_nothing_to_send()
    {
        (Harness h, TcpConnection c) = Established();
        c.Send(new byte[3 * 1460]);
        h.Poll();
        h.DrainSent();
        // A timeout: all three deemed lost, the first sent again, the others waiting their turn.
        h.AdvanceToNextDeadline();
        h.DrainSent();
        // Fragmentation needed, quoting our first segment: the three go again in 1240-byte pieces (RFC 1191).
        byte[] icmp = new byte[FuzzPackets.MaxPacket];
        var view = new PeerView(c.Id, c.RcvNxt, c.RcvWnd, c.SndUna, c.SndMax, false, 0);
        int length = FuzzPackets.Icmp(icmp, new FuzzStep(0, 2, 0, 1280, 0, 0, 0, 0), view);
        h.Engine.Receive(icmp.AsSpan(0, length), h.Now, h);
        Assert.Equal(1240, c.SendMss);
        h.DrainSent();

        // The peer acknowledges all of it and shuts its window: nothing is left to send, so nothing waits to probe it.
        h.Send(TcpFlags.Ack, PeerIsn + 1, unchecked(Isn + 1 + 3 * 1460), window: 0);
        Assert.Null(c.TimerDeadline(TcpTimer.Persist));
        h.AdvanceTo(h.Now + TimeSpan.FromMinutes(5));
        h.ExpectNothing();
    }
}
