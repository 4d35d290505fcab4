using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// RFC 3042 limited transmit without SACK (packetdrill's limited_transmit/limited-transmit-no-sack.pkt): the first two
/// duplicate ACKs each send one new segment beyond cwnd, cwnd unchanged; the segments they sent do not count for
/// ssthresh (RFC 5681 §3.2 step 2) nor, once acknowledged, twice for cwnd's growth.
/// </summary>
public class LimitedTransmitTests
{
    private const int Mss = 1460;
    private static readonly TcpConfig NewRenoConfig = new() { CongestionControl = CongestionControlAlgorithm.NewReno };

    [Fact]
    public void Each_of_the_first_two_duplicate_acks_sends_one_new_segment_the_third_only_the_retransmission()
    {
        (Harness h, TcpConnection c) = Established(NewRenoConfig); // no SACK: the peer's SYN did not offer it
        c.Send(Bytes(20 * Mss));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Expect(i % 5 == 4 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, Our(i * Mss), Their(0), Mss);
        h.ExpectNothing();

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss); // new data, not a retransmission
        h.ExpectNothing();
        Assert.Equal(10 * Mss, c.CongestionWindow); // cwnd MUST NOT change (RFC 3042 §2)
        Assert.False(c.InFastRecovery);

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(10 * Mss, c.CongestionWindow);

        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss); // fast retransmit, and no third new segment
        h.ExpectNothing();
        Assert.True(c.InFastRecovery);
        Assert.Equal(5 * Mss, c.SlowStartThreshold); // the 12 in flight less the 2 of limited transmit, halved
        Assert.Equal([Our(0)], h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value));
    }

    [Fact]
    public void An_ack_after_two_duplicates_grows_cwnd_only_by_what_they_did_not_already_count()
    {
        (Harness h, TcpConnection c) = TwoDuplicatesInSlowStart(15 * Mss);

        // Reordering, not loss: the late segment 1 arrives and the ACK covers it and segments 2 and 3, which the two
        // duplicates reported delivered. Slow start grows cwnd by one segment, not three: cwnd 11, 9 in flight, 2 go.
        h.Send(TcpFlags.Ack, Their(0), Our(3 * Mss), window: PeerWindow);
        Assert.False(c.InFastRecovery);
        Assert.Equal(11 * Mss, c.CongestionWindow);
        h.Expect(TcpFlags.Ack, Our(12 * Mss), Their(0), Mss);
        h.Expect(TcpFlags.Ack | TcpFlags.Psh, Our(13 * Mss), Their(0), Mss);
        h.ExpectNothing(); // not a third (segment 15 waits)
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission));
    }

    [Fact]
    public void A_duplicate_ack_is_counted_once_when_two_cumulative_acks_cover_what_it_reported()
    {
        // Segments 1 and 3 are late: 2 and 4 arrive, two duplicates, each releasing a new segment.
        (Harness h, TcpConnection c) = TwoDuplicatesInSlowStart(20 * Mss);

        // 1 arrives: the ACK covers 1 and 2, and 2 was the first duplicate's: slow start grows cwnd by one segment.
        h.Send(TcpFlags.Ack, Their(0), Our(2 * Mss), window: PeerWindow);
        Assert.Equal(11 * Mss, c.CongestionWindow);
        h.Expect(TcpFlags.Ack, Our(12 * Mss), Their(0), Mss);
        h.ExpectNothing();

        // 3 arrives: the ACK covers 3 and 4, and 4 was the second duplicate's (Linux's tcp_remove_reno_sacks keeps it
        // counted): one segment again, not two.
        h.Send(TcpFlags.Ack, Their(0), Our(4 * Mss), window: PeerWindow);
        Assert.False(c.InFastRecovery);
        Assert.Equal(12 * Mss, c.CongestionWindow);
        Assert.Empty(h.Log.Of(TcpEventKind.Retransmission));
    }

    [Fact]
    public void Duplicates_counted_before_a_retransmission_timeout_do_not_discount_the_acks_after_it()
    {
        // Segment 1 is lost and the duplicates for 2 and 3 arrive; then every other ACK is lost and the RTO fires. F-RTO
        // off: with it, the ACK that covers 2 and 3, never resent, would undo the timeout (FrtoTests), hiding the count.
        (Harness h, TcpConnection c) = TwoDuplicatesInSlowStart(20 * Mss, new TcpConfig { Frto = false });
        h.AdvanceToNextDeadline();
        Assert.Equal(1, c.RetransmissionTimeouts);
        h.Expect(TcpFlags.Ack, Our(0), Their(0), Mss);
        h.ExpectNothing();
        Assert.Equal(Mss, c.CongestionWindow);

        // The retransmission fills the hole: the ACK covers 1, 2 and 3. The duplicates' count ended with the timeout
        // (Linux's tcp_enter_loss resets the Reno sacked_out), so slow start grows cwnd by all three: 4 segments go.
        h.Send(TcpFlags.Ack, Their(0), Our(3 * Mss), window: PeerWindow);
        Assert.Equal(4 * Mss, c.CongestionWindow);
        Assert.Equal([Our(3 * Mss), Our(4 * Mss), Our(5 * Mss), Our(6 * Mss)], [h.Next().Seq, h.Next().Seq, h.Next().Seq, h.Next().Seq]);
        h.ExpectNothing();
    }

    // CUBIC in slow start, no SACK: bytes written, the initial window of 10 segments sent, then two duplicate ACKs, each
    // releasing one new segment by limited transmit (RFC 3042) and nothing more.
    private static (Harness, TcpConnection) TwoDuplicatesInSlowStart(int bytes, TcpConfig? config = null)
    {
        (Harness h, TcpConnection c) = Established(config);
        c.Send(Bytes(bytes));
        h.Poll();
        for (int i = 0; i < 10; i++) h.Next();
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(10 * Mss), Their(0), Mss);
        h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow);
        h.Expect(TcpFlags.Ack, Our(11 * Mss), Their(0), Mss);
        h.ExpectNothing();
        return (h, c);
    }
}
