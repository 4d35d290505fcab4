using UserTcp.Wire;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Linux 6.18's counters for what a receiver finds duplicated or old: DelayedACKLost for text or a FIN below RCV.NXT
/// (tcp_send_dupack, tcp_data_queue), whether or not SACK is on; TCPDSACKOldSent or TCPDSACKOfoSent for each D-SACK set
/// (tcp_dsack_set), with SACK only; PAWSEstab for a PAWS-rejected segment, PAWSOldAck for a pure ACK below RCV.NXT,
/// and neither for a SYN (tcp_validate_incoming). New, in-window and out-of-order text counts none of them.
/// </summary>
public class DuplicateCountersTests
{
    private static long[] Counts(Harness h) =>
    [
        h.Engine.Counters[MibCounter.TcpExtDelayedACKLost], h.Engine.Counters[MibCounter.TcpExtTCPDSACKOldSent],
        h.Engine.Counters[MibCounter.TcpExtTCPDSACKOfoSent],
    ];

    private static void Data(Harness h, int from, int to, bool timestamps = true, TcpFlags extra = 0) =>
        h.Send(TcpFlags.Ack | extra, Their(from), Our(0), PeerWindow, Bytes(to - from), timestamps ? Options(h, 0) : default);

    [Fact]
    public void A_duplicate_below_rcv_nxt_counts_a_lost_ack_and_an_old_dsack_and_new_or_out_of_order_text_neither()
    {
        (Harness h, _) = Established(Ms(10));
        Data(h, 0, 1000);
        Data(h, 2000, 3000); // out of order: held, acknowledged at once, no duplicate
        Assert.Equal([0, 0, 0], Counts(h));
        Data(h, 0, 1000); // sent again: our ACK was lost or late
        Assert.Equal([1, 1, 0], Counts(h));
        Data(h, 2500, 3000); // a duplicate of what is held out of order: a D-SACK, but no ACK was lost
        Assert.Equal([1, 1, 1], Counts(h));
        Data(h, 500, 1500); // partly old: a D-SACK of the old part only (tcp_data_queue's partial case)
        Assert.Equal([1, 2, 1], Counts(h));
    }

    [Fact]
    public void Without_sack_a_duplicate_counts_the_lost_ack_but_sets_no_dsack()
    {
        (Harness h, _) = Established(Ms(10), sack: false);
        Data(h, 0, 1000);
        Data(h, 0, 1000);
        Assert.Equal([1, 0, 0], Counts(h));
    }

    [Fact]
    public void A_fin_sent_again_is_a_duplicate_as_text_is()
    {
        (Harness h, _) = Established(Ms(10));
        Data(h, 0, 100, extra: TcpFlags.Fin);
        Assert.Equal([0, 0, 0], Counts(h));
        h.DrainSent();
        h.Send(TcpFlags.Ack | TcpFlags.Fin, Their(100), Our(0), PeerWindow, options: Options(h, 0));
        Assert.Equal([1, 1, 0], Counts(h));
        Sent ack = h.Next();
        Assert.Equal(Their(101), ack.Ack);
    }

    [Fact]
    public void Paws_counts_a_data_segment_as_estab_an_old_pure_ack_as_an_old_ack_and_a_syn_as_neither()
    {
        (Harness h, _) = Established(Ms(10));
        Data(h, 0, 1000);
        var old = new TcpOptions { Timestamp = new TcpTimestamp(PeerTsStart - 10_000, 0) };
        h.Send(TcpFlags.Ack, Their(1000), Our(0), PeerWindow, Bytes(100), old); // new text, old TSval
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtPAWSEstab]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtDelayedACKLost]); // not below RCV.NXT: no ACK was lost
        h.Send(TcpFlags.Ack, Their(0), Our(0), PeerWindow, options: old); // a pure ACK from long ago
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtPAWSOldAck]);
        h.Send(TcpFlags.Syn, Their(5000), options: old);
        Assert.Equal([1, 1], new[] { h.Engine.Counters[MibCounter.TcpExtPAWSEstab], h.Engine.Counters[MibCounter.TcpExtPAWSOldAck] });
#pragma warning disable CS0618 // the old name reads the same count
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtPAWSEstabRejected]);
#pragma warning restore CS0618
        Assert.DoesNotContain(h.Engine.Counters.Snapshot(), c => c.Key == "TcpExtPAWSEstabRejected");
    }
}
