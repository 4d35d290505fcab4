using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// The SYN-ACK timer when the peer repeats its SYN: Linux's tcp_check_req resends the SYN-ACK and restarts the request's
/// timer from then (mod_timer_pending with tcp_reqsk_timeout, the initial timeout shifted by the timeouts so far), so
/// the next timeout comes one current RTO after the resend; a Fast Open child's timer is its socket's and stays.
/// tests/scripts/handshake/syn-ack-for-repeated-syn-restarts-timer.pkt and
/// tests/scripts/fastopen/server-repeated-syn-keeps-syn-ack-timer.pkt: the same on Linux 6.18.
/// </summary>
public class RepeatedSynTimerTests
{
    [Fact]
    public void A_syn_ack_for_a_repeated_syn_restarts_the_timer_with_the_backoff_of_the_timeouts_alone()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        TcpConnection c = h.Engine.Connections.Single();

        RepeatSyn(h, Ms(500));
        Assert.Equal(Ms(1500), c.TimerDeadline(TcpTimer.Retransmission));
        h.AdvanceTo(Ms(1499));
        h.ExpectNothing(); // no SYN-ACK at the old deadline, 1 s
        h.AdvanceTo(Ms(1500));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // the timeout's
        h.ExpectNothing();
        Assert.Equal(Ms(3500), c.TimerDeadline(TcpTimer.Retransmission)); // backed off once: 2 s

        // After one timeout the restart is by the backed-off RTO, and the resend backs nothing off.
        RepeatSyn(h, Ms(2500));
        Assert.Equal(Ms(4500), c.TimerDeadline(TcpTimer.Retransmission));
        h.AdvanceTo(Ms(4499));
        h.ExpectNothing(); // none at 3.5 s
        h.AdvanceTo(Ms(4500));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.ExpectNothing();
        Assert.Equal(Ms(8500), c.TimerDeadline(TcpTimer.Retransmission)); // 4 s: two timeouts

        h.AdvanceTo(Ms(4600));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow);
        Assert.True(listener.TryAccept(out TcpConnection accepted));
        Assert.Same(c, accepted);
        h.ExpectNothing();
        // Four SYN-ACK retransmissions, two of them timeouts (Linux's tcp_init_transfer: one segment), no RTT sample (3 s).
        Assert.Equal(4, c.Info().TotalRetransmissions);
        Assert.Equal(1460, c.CongestionWindow);
        Assert.Equal(S(3), c.Rto);
        // Each resend names its cause: the repeated SYN for the answers, the timer for the timeouts.
        Assert.Equal([TcpCause.RetransmittedSyn, TcpCause.RetransmissionTimeout, TcpCause.RetransmittedSyn, TcpCause.RetransmissionTimeout],
            h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Cause));
    }

    [Fact]
    public void A_repeated_syn_within_the_rate_limit_is_not_answered_and_does_not_move_the_timer()
    {
        (Harness h, _) = SynReceived();
        TcpConnection c = h.Engine.Connections.Single();
        RepeatSyn(h, Ms(600));
        Assert.Equal(Ms(1600), c.TimerDeadline(TcpTimer.Retransmission));

        h.AdvanceTo(Ms(900)); // 300 ms after the last answer: inside Linux's tcp_invalid_ratelimit
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.ExpectNothing();
        Assert.Equal(Ms(1600), c.TimerDeadline(TcpTimer.Retransmission));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPACKSkippedSynRecv]);
        Assert.Equal(1, c.Info().TotalRetransmissions);
    }

    [Fact]
    public void A_fast_open_childs_syn_ack_for_a_repeated_syn_keeps_the_timer()
    {
        FastOpenKey key = FastOpenKey.Parse("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4");
        var h = new Harness(new TcpConfig { FastOpen = FastOpenFlags.Client | FastOpenFlags.Server, FastOpenKey = key });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        listener.FastOpenQueueLength = 16;
        TcpOptions syn = PeerSynOptions;
        syn.SetFastOpen(TcpFastOpenKind.Rfc7413, FastOpenServerCookies.Make(key.Primary, Harness.PeerAddress, Harness.LocalAddress));
        byte[] request = Bytes(10);
        h.Send(TcpFlags.Syn, PeerIsn, options: syn, payload: request);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 11);
        Assert.True(listener.TryAccept(out TcpConnection child));
        Assert.True(child.IsFastOpenChild);

        h.AdvanceTo(Ms(500));
        h.Send(TcpFlags.Syn, PeerIsn, options: syn, payload: request);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 11);
        Assert.Equal(S(1), child.TimerDeadline(TcpTimer.Retransmission));
        h.AdvanceTo(S(1));
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 11);
        h.ExpectNothing();
        Assert.Equal(2, child.Info().TotalRetransmissions);
    }

    /// <summary>The peer's SYN at 0 and our SYN-ACK, its timer due at 1 s.</summary>
    private static (Harness H, TcpPassiveOpen Listener) SynReceived()
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        Assert.Equal(S(1), h.Engine.Connections.Single().TimerDeadline(TcpTimer.Retransmission));
        return (h, listener);
    }

    /// <summary>The peer's SYN again at <paramref name="at"/>: our SYN-ACK answers it at once, and nothing else goes.</summary>
    private static void RepeatSyn(Harness h, TimeSpan at)
    {
        h.AdvanceTo(at);
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.ExpectNothing();
    }
}
