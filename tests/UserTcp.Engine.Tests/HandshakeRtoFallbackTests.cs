using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// A handshake that gave no RTT sample leaves an RTO of 3 s, with or without a timeout (Linux's tcp_init_metrics: srtt 0
/// means TCP_TIMEOUT_FALLBACK; RFC 6298 §5.7 asks it after a SYN timeout). One that gave a sample does not.
/// </summary>
public class HandshakeRtoFallbackTests
{
    private static readonly TcpOptions LinuxSyn = new() { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new TcpTimestamp(1000, 0), WindowScale = 7 };

    [Fact]
    public void A_syn_ack_resent_for_a_repeated_syn_gives_no_sample_and_the_rto_is_3_s()
    {
        (Harness h, TcpPassiveOpen listener) = SynReceived();
        h.AdvanceTo(Ms(300));
        h.Send(TcpFlags.Syn, PeerIsn, options: PeerSynOptions);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1); // no timeout: the peer asked again
        h.AdvanceTo(Ms(350));
        h.Send(TcpFlags.Ack, PeerIsn + 1, Isn + 1, window: PeerWindow);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(TimeSpan.Zero, c.SmoothedRtt); // Karn's rule
        Assert.Equal(S(3), c.Rto);

        c.Send(Bytes(100));
        h.Poll();
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
        Assert.Equal(Ms(350) + S(3), h.AdvanceToNextDeadline()); // not 1 s after the send
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(0), Their(0), 100);
    }

    [Fact]
    public void A_syn_cookie_handshake_without_timestamps_gives_no_sample_and_the_rto_is_3_s()
    {
        TcpConnection c = CookieConnection(timestamps: false);
        Assert.Equal(TimeSpan.Zero, c.SmoothedRtt);
        Assert.Equal(S(3), c.Rto);
    }

    [Fact]
    public void A_syn_cookie_handshake_with_timestamps_takes_its_sample_from_the_echo_and_the_rto_is_not_3_s()
    {
        TcpConnection c = CookieConnection(timestamps: true);
        Assert.NotEqual(TimeSpan.Zero, c.SmoothedRtt);
        Assert.True(c.Rto < S(1), $"RTO {c.Rto}: expected one from the echo's sample, at most a few hundred ms");
    }

    [Fact]
    public void A_handshake_timed_without_retransmission_keeps_its_measured_rto()
    {
        (Harness _, TcpConnection c) = EstablishedAfter(Ms(50));
        Assert.Equal(Ms(50), c.SmoothedRtt);
        Assert.Equal(Ms(200), c.Rto); // max(50 + 4 × 25, MinRto)
    }

    /// <summary>A SYN queue of one held by port 50000, so the SYN from 50001 gets a cookie; its ACK 10 ms later.</summary>
    private static TcpConnection CookieConnection(bool timestamps)
    {
        var h = new Harness();
        TcpPassiveOpen listener = h.Engine.Listen(Harness.LocalPort, backlog: 0);
        h.Send(TcpFlags.Syn, PeerIsn, options: LinuxSyn, sourcePort: 50000);
        h.Expect(TcpFlags.Syn | TcpFlags.Ack, Isn, PeerIsn + 1);
        h.Send(TcpFlags.Syn, 5000, options: timestamps ? LinuxSyn : PeerSynOptions, sourcePort: 50001);
        Sent synAck = h.Next();
        h.ExpectNothing();
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesSent]);
        h.Advance(Ms(10));
        TcpOptions echo = timestamps ? new TcpOptions { Timestamp = new TcpTimestamp(1010, synAck.Options.Timestamp!.Value.Value) } : default;
        h.Send(TcpFlags.Ack, 5001, synAck.Seq + 1, window: PeerWindow, options: echo, sourcePort: 50001);
        Assert.True(listener.TryAccept(out TcpConnection c));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtSyncookiesRecv]);
        return c;
    }
}
