using UserTcp.Wire;
using static UserTcp.Engine.Tests.Ecn.EcnFixtures;
using static UserTcp.Engine.Tests.Fixtures;

namespace UserTcp.Engine.Tests.Ecn;

/// <summary>The data receiver's half (RFC 3168 §6.1.3; Linux's tcp_ecn_check_ce, tcp_ecn_accept_cwr, tcp_ecn_send).</summary>
public class EcnReceiverTests
{
    private const TcpFlags AckEce = TcpFlags.Ack | TcpFlags.Ece;

    /// <summary>Uses up the new connection's quick ACKs (ECT data), then flushes the delayed ACK: returns the peer's next offset.</summary>
    private static int WarmUp(Harness h)
    {
        int offset = 0;
        for (int i = 0; i < 40; i++)
        {
            PeerData(h, offset);
            offset += Mss;
            if (h.TryNext() is null)
            {
                h.AdvanceToNextDeadline();
                h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1 + (uint)offset);
                return offset;
            }
        }
        Assert.Fail("every segment was acknowledged at once");
        return offset;
    }

    [Fact]
    public void Ce_is_echoed_until_cwr_with_linuxs_two_quick_acks_and_no_more()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        int at = WarmUp(h);
        Assert.True(c.Info().EcnSeen);

        PeerData(h, at, EcnCodepoint.Ce); // the mark: ACKed at once, with ECE
        h.Expect(AckEce, Isn + 1, PeerIsn + 1 + (uint)(at += Mss));
        PeerData(h, at); // the second quick ACK of tcp_enter_quickack_mode(sk, 2)
        h.Expect(AckEce, Isn + 1, PeerIsn + 1 + (uint)(at += Mss));
        PeerData(h, at); // then ACKs are delayed again: nothing now
        at += Mss;
        h.ExpectNothing();
        h.AdvanceToNextDeadline();
        h.Expect(AckEce, Isn + 1, PeerIsn + 1 + (uint)at); // the delayed ACK still echoes
        PeerData(h, at, EcnCodepoint.Ce); // a mark while echoing already: no quick ACK again
        at += Mss;
        h.ExpectNothing();
        PeerData(h, at);
        h.Expect(AckEce, Isn + 1, PeerIsn + 1 + (uint)(at += Mss)); // every second segment

        PeerData(h, at, extra: TcpFlags.Cwr); // CWR: the echo ends and the ACK goes at once
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1 + (uint)(at += Mss));
        PeerData(h, at);
        h.ExpectNothing(); // a CWR grants no quick ACKs
        Assert.Equal(2, h.Engine.Counters[MibCounter.UserTcpEcnCeReceived]);
    }

    [Fact]
    public void Data_sent_while_echoing_carries_ece_and_ect0()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        int at = WarmUp(h);
        PeerData(h, at, EcnCodepoint.Ce);
        h.Expect(AckEce, Isn + 1);
        c.Send(new byte[100]);
        h.Poll();
        Sent data = h.Expect(AckEce | TcpFlags.Psh, Isn + 1, payloadLength: 100);
        Assert.Equal(EcnCodepoint.Ect0, data.Ecn);
    }

    [Fact]
    public void A_pure_ack_with_cwr_does_not_end_the_echo()
    {
        // Linux's tcp_ecn_accept_cwr runs in tcp_data_queue, which a segment without data never reaches.
        (Harness h, TcpConnection c) = EcnEstablished();
        int at = WarmUp(h);
        PeerData(h, at, EcnCodepoint.Ce);
        h.Expect(AckEce, Isn + 1, PeerIsn + 1 + (uint)(at += Mss));
        h.Send(TcpFlags.Ack | TcpFlags.Cwr, PeerIsn + 1 + (uint)at, Isn + 1, window: 502);
        h.ExpectNothing();
        c.Send(new byte[10]);
        h.Poll();
        h.Expect(AckEce | TcpFlags.Psh, Isn + 1, payloadLength: 10);
    }

    [Fact]
    public void Not_ect_data_after_ect_was_seen_is_acknowledged_at_once()
    {
        // Linux's __tcp_ecn_check_ce: likely a retransmission, so the sender may be waiting on this ACK.
        (Harness h, _) = EcnEstablished();
        int at = WarmUp(h);
        PeerData(h, at, EcnCodepoint.NotEct);
        h.Expect(TcpFlags.Ack, Isn + 1, PeerIsn + 1 + (uint)(at + Mss));
    }

    [Fact]
    public void Ce_on_a_connection_without_ecn_is_not_echoed()
    {
        (Harness h, TcpConnection c) = Fixtures.Established();
        Assert.False(c.EcnEnabled);
        int at = 0;
        for (int i = 0; i < 3; i++, at += Mss) PeerData(h, at, EcnCodepoint.Ce);
        Assert.Equal(3, h.PendingCount); // a new connection's quick ACKs, none of them echoing
        while (h.TryNext() is Sent sent) Assert.Equal(TcpFlags.Ack, sent.Flags);
        Assert.Equal(0, h.Engine.Counters[MibCounter.UserTcpEcnCeReceived]);
        Assert.False(c.Info().EcnSeen);
    }

    [Fact]
    public void Ecn_seen_waits_for_ect_data()
    {
        (Harness h, TcpConnection c) = EcnEstablished();
        Assert.True(c.Info().Ecn);
        Assert.False(c.Info().EcnSeen);
        PeerData(h, 0, EcnCodepoint.NotEct);
        Assert.False(c.Info().EcnSeen);
        PeerData(h, Mss, EcnCodepoint.Ect1);
        Assert.True(c.Info().EcnSeen);
    }
}
