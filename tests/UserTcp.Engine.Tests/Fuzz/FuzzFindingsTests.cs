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
}
