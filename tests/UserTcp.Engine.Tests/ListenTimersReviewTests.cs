using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>Defects found reviewing the listener, SYN cookies, timers, challenge ACKs and TCP_USER_TIMEOUT (session 13).</summary>
public class ListenTimersReviewTests
{
    private static readonly TcpOptions LinuxSyn = new() { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0), WindowScale = 7 };

    // ───────────── SYN cookies and TCP_DEFER_ACCEPT ─────────────

    [Fact]
    public void A_bare_ack_returning_a_cookie_makes_the_connection_even_with_defer_accept_as_linux()
    {
        // Linux applies TCP_DEFER_ACCEPT only to request socks (tcp_check_req); a valid cookie's ACK makes the child and
        // queues it at once (cookie_v4_check, tcp_get_cookie_sock). A cookie connection kept waiting has no SYN-ACK of its
        // own to time, so it would sit in SYN-RECEIVED with no timer, for ever.
        var h = new Harness(new TcpConfig { SynCookies = SynCookieMode.Always, DeferAccept = S(5) });
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn);
        Sent synAck = h.Next();
        h.ExpectNothing();
        Assert.Empty(h.Engine.Connections); // a cookie: nothing kept

        h.Advance(Ms(10));
        h.Send(TcpFlags.Ack, PeerIsn + 1, synAck.Seq + 1, window: PeerWindow,
            options: new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) });
        h.ExpectNothing();
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(0, listener.SynQueueLength);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPDeferAcceptDrop]);
        Assert.DoesNotContain(h.Engine.Connections, x => x.State == TcpState.SynReceived);
    }
}
