using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Spurious retransmission timeouts as Linux handles them (tcp_enter_loss, tcp_process_loss, tcp_try_undo_loss): F-RTO
/// (RFC 5682, SACK-enhanced and basic) and the undo of the timeout's reduction, by F-RTO or by timestamps (Eifel,
/// RFC 3522). A window of 10 segments leaves at 100 ms; the RTO (300 ms after a 100 ms handshake) fires at 400 ms and
/// resends the first; the ACKs that follow are either the originals', late (spurious), or the retransmission's (real).
/// Loss probes are off so the timeout is the first thing that fires.
/// </summary>
public class FrtoTests
{
    private const int PlainMss = 1460; // without timestamps
    private static readonly TcpConfig NoProbe = new() { TailLossProbe = false };

    /// <summary>ESTABLISHED at 100 ms; 20 segments queued, the first 10 (IW10) sent; the RTO at 400 ms resent the first alone.</summary>
    private static (Harness H, TcpConnection C, int Mss) TimedOut(TcpConfig config, bool sack = true, bool timestamps = false)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps, sack);
        int mss = timestamps ? ModernPeer.Mss : PlainMss;
        c.Send(Bytes(20 * mss));
        h.Poll();
        ExpectData(h, mss, 0, 10);
        h.ExpectNothing();
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        ExpectData(h, mss, 0, 1);
        h.ExpectNothing(); // cwnd is one segment: go-back-N from SND.UNA, one at a time
        Assert.Equal(mss, c.CongestionWindow);
        Assert.Equal(7 * mss, c.SlowStartThreshold); // CUBIC's β = 0.7 of 10
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        return (h, c, mss);
    }

    /// <summary>The next <paramref name="count"/> segments are full ones from segment <paramref name="first"/> on.</summary>
    private static void ExpectData(Harness h, int mss, int first, int count)
    {
        for (int i = first; i < first + count; i++)
        {
            Sent s = h.Next();
            Assert.True(Our(i * mss) == s.Seq && s.Payload.Length == mss, $"expected segment {i} (seq {Our(i * mss)}), got {s}");
        }
    }

    /// <summary>
    /// After <paramref name="wait"/>, segment 0's ACK: F-RTO step 2.b (RFC 5682 §2) sends two new segments (10 and 11;
    /// slow start made cwnd 2), not the rest of the window, and nothing else.
    /// </summary>
    private static void AckFirstExpectNewData(Harness h, int mss, TimeSpan wait)
    {
        h.Advance(wait);
        Ack(h, mss, 1);
        ExpectData(h, mss, 10, 2);
        h.ExpectNothing();
    }

    private static void Ack(Harness h, int mss, int segments, TcpOptions options = default) =>
        h.Send(TcpFlags.Ack, Their(0), Our(segments * mss), window: PeerWindow, options: options);

    private static TcpOptions Sacked(int mss, int from, int to)
    {
        var options = new TcpOptions();
        options.AddSackBlock(new SackBlock(new SeqNumber(Our(from * mss)), new SeqNumber(Our(to * mss))));
        return options;
    }

    private static uint[] Retransmitted(Harness h) => [.. h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value)];

    [Fact]
    public void Spurious_timeout_with_sack_sends_new_data_not_the_rest_of_the_window_and_restores_cwnd()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe);

        // The original segment 0's ACK, late: F-RTO step 2.b sends two new segments (slow start made cwnd 2), not 1 and 2.
        AckFirstExpectNewData(h, mss, Ms(50));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));

        // Segment 1's ACK: it was never resent, so the timeout was spurious (step 3.b). cwnd and ssthresh come back
        // (cwnd 10, then slow start's one more: 11 with 10 in flight), the state is Open, and nothing is resent.
        Ack(h, mss, 2);
        Assert.Equal(11 * mss, c.CongestionWindow);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        ExpectData(h, mss, 12, 1);
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
        Assert.Equal(TcpCause.SpuriousTimeoutFrto, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPLossUndo]);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSpuriousRTOs]);

        // The rest of the late ACKs clock out new data only.
        Ack(h, mss, 4);
        ExpectData(h, mss, 13, 4); // slow start: two acknowledged, cwnd 13, 9 in flight
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void Real_loss_after_a_timeout_with_sack_goes_on_resending_when_the_ack_after_the_new_data_sacks_it()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe);

        // The whole window was lost: the retransmission's ACK, then new data (step 2.b).
        AckFirstExpectNewData(h, mss, Ms(100));

        // The next ACK SACKs the new data: the loss was real (step 3.a). Go-back-N resumes, two at a time (cwnd 2,
        // nothing in flight but the SACKed), and nothing is undone.
        h.Advance(Ms(100));
        Ack(h, mss, 1, Sacked(mss, 10, 12));
        ExpectData(h, mss, 1, 2);
        h.ExpectNothing();
        Assert.Equal(2 * mss, c.CongestionWindow);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);

        // Their ACK: slow start, and still the holes first, never new data past them.
        h.Advance(Ms(100));
        Ack(h, mss, 3, Sacked(mss, 10, 12));
        ExpectData(h, mss, 3, 4);
        h.ExpectNothing();
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPLossUndo]);
        Assert.Equal(4 * mss, c.CongestionWindow);
    }

    [Fact]
    public void Spurious_timeout_without_sack_is_found_by_basic_frto()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, sack: false);

        AckFirstExpectNewData(h, mss, Ms(50));

        Ack(h, mss, 2); // RFC 5682 §2 step 3.b: an ACK that advances the window past data never resent
        Assert.Equal(11 * mss, c.CongestionWindow);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        ExpectData(h, mss, 12, 1);
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
        Assert.Equal(TcpCause.SpuriousTimeoutFrto, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
    }

    [Fact]
    public void A_first_ack_that_covers_data_never_resent_undoes_at_once()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, sack: false);

        // Linux tests step 3.b before step 2: the first ACK already covers segments 1 and 2, never resent.
        h.Advance(Ms(50));
        Ack(h, mss, 3);
        Assert.Equal(TcpCause.SpuriousTimeoutFrto, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(13 * mss, c.CongestionWindow); // 10 restored, then slow start's three
        ExpectData(h, mss, 10, 6); // 7 in flight
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void Real_loss_without_sack_each_duplicate_ack_after_the_new_data_clocks_out_a_retransmission()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, sack: false);

        AckFirstExpectNewData(h, mss, Ms(100));

        // A duplicate ACK after the new data: the loss was real (RFC 5682 §2 step 3.a). Each duplicate reports a segment
        // delivered (Linux's tcp_add_reno_sack in Loss), so each sends one retransmission, in order, and no new data.
        h.Advance(Ms(100));
        Ack(h, mss, 1);
        ExpectData(h, mss, 1, 1);
        h.ExpectNothing();
        Ack(h, mss, 1);
        ExpectData(h, mss, 2, 1);
        h.ExpectNothing();
        Assert.Equal([Our(0), Our(mss), Our(2 * mss)], Retransmitted(h));
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(2 * mss, c.CongestionWindow);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.False(c.InFastRecovery);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_frto_off_the_late_acks_draw_go_back_n_and_nothing_is_undone(bool timestamps)
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe with { Frto = false }, timestamps: timestamps);

        // The originals' ACKs, late (with timestamps echoing their 100 ms): off is the engine as it was, so not even
        // Eifel undoes (a deviation: Linux's tcp_frto = 0 still undoes by timestamps).
        h.Advance(Ms(50));
        Ack(h, mss, 1, timestamps ? Options(h, OurTs(Ms(100))) : default);
        ExpectData(h, mss, 1, 2); // the rest of the window again, not new data
        h.ExpectNothing();

        Ack(h, mss, 2, timestamps ? Options(h, OurTs(Ms(100))) : default);
        ExpectData(h, mss, 3, 2);
        h.ExpectNothing();
        Assert.Equal(3 * mss, c.CongestionWindow);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
    }

    [Fact]
    public void A_second_timeout_on_the_same_snd_una_runs_frto_again_and_the_undo_restores_the_window_before_the_first()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe);

        // No ACK: the backed-off timer fires again (RTO 600 ms) and resends segment 0 once more.
        Assert.Equal(Ms(1000), h.AdvanceToNextDeadline());
        ExpectData(h, mss, 0, 1);
        h.ExpectNothing();
        Assert.Equal(2, c.RetransmissionTimeouts);
        Assert.Equal(mss, c.CongestionWindow);

        // Then the originals' ACKs: F-RTO runs for the recurring timeout too (RFC 5682 §3.2).
        AckFirstExpectNewData(h, mss, Ms(50));
        Ack(h, mss, 2);
        Assert.Equal(11 * mss, c.CongestionWindow); // the window from before the first timeout, not the second
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        ExpectData(h, mss, 12, 1);
        h.ExpectNothing();
        Assert.Equal([Our(0), Our(0)], Retransmitted(h));
    }

    [Fact]
    public void An_ack_echoing_a_timestamp_older_than_the_retransmission_undoes_at_once()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, timestamps: true);

        // Eifel (RFC 3522): segment 0's original left at 100 ms, its retransmission at 400 ms; the ACK echoes 100.
        h.Advance(Ms(50));
        Ack(h, mss, 1, Options(h, OurTs(Ms(100))));
        Assert.Equal(TcpCause.SpuriousTimeoutTimestamps, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPLossUndo]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSpuriousRTOs]); // Linux counts only F-RTO's there
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(11 * mss, c.CongestionWindow);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        ExpectData(h, mss, 10, 2); // 9 in flight: new data, nothing resent
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void A_dsack_of_the_only_retransmission_undoes_the_timeout()
    {
        (Harness h, TcpConnection c) = Established(Ms(100), NoProbe, timestamps: false);
        c.Send(Bytes(PlainMss));
        h.Poll();
        ExpectData(h, PlainMss, 0, 1);
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        ExpectData(h, PlainMss, 0, 1);
        Assert.Equal(PlainMss, c.CongestionWindow);

        // The original arrived and only its ACK was lost: the retransmission's ACK reports it duplicate (RFC 2883), so
        // every retransmission was needless (Linux's undo_retrans reaches 0) and the timeout is undone.
        h.Advance(Ms(100));
        Ack(h, PlainMss, 1, Sacked(PlainMss, 0, 1));
        Assert.Equal(TcpCause.SpuriousTimeoutDsack, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        // 10 restored, and no growth, as Linux 6.18 (sack/rto-dsack-undo-keeps-cwnd-unused.pkt): one segment never filled
        // the window, and the timer's resend does not mark it filled (tcp_cwnd_validate runs in tcp_write_xmit only).
        // The D-SACKed copy still counts as delivered (tcp_dsack_seen): the segment, its copy and the SYN.
        Assert.Equal(10 * PlainMss, c.CongestionWindow);
        Assert.Equal(3u, c.Info().DeliveredSegments);
        // What Linux 6.18 counted on the script: TCPLossUndo, TCPDSACKRecv and TCPDSACKRecvSegs once each.
        Assert.Equal([1L, 1L, 1L], new[] { MibCounter.TcpExtTCPLossUndo, MibCounter.TcpExtTCPDSACKRecv, MibCounter.TcpExtTCPDSACKRecvSegs }.Select(m => h.Engine.Counters[m]));
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_dsack_after_the_loss_phase_ended_still_undoes_the_timeout(bool frto)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), NoProbe with { Frto = frto }, timestamps: false);
        c.Send(Bytes(PlainMss));
        h.Poll();
        ExpectData(h, PlainMss, 0, 1);
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        ExpectData(h, PlainMss, 0, 1);

        // The original's ACK, late, ends the Loss phase: nothing tells yet that the retransmission was needless.
        h.Advance(Ms(50));
        Ack(h, PlainMss, 1);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(7 * PlainMss, c.SlowStartThreshold);
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));

        // The retransmission's ACK reports it duplicate: Linux's tcp_try_undo_dsack in Open undoes the timeout
        // (TCPDSACKUndo, not TCPLossUndo); with F-RTO off nothing is undone.
        h.Advance(Ms(50));
        Ack(h, PlainMss, 1, Sacked(PlainMss, 0, 1));
        if (!frto)
        {
            Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
            Assert.Equal(7 * PlainMss, c.SlowStartThreshold);
            return;
        }
        Assert.Equal(TcpCause.SpuriousTimeoutDsack, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPDSACKUndo]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPLossUndo]);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(10 * PlainMss, c.CongestionWindow);
    }

    [Fact]
    public void An_ack_echoing_the_retransmission_undoes_nothing_by_timestamps()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, timestamps: true);

        // The retransmission's own ACK (TSecr 400): no Eifel undo; F-RTO sends new data instead.
        h.Advance(Ms(100));
        Ack(h, mss, 1, Options(h, OurTs(Ms(400))));
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(2 * mss, c.CongestionWindow);
        ExpectData(h, mss, 10, 2);
        h.ExpectNothing();
    }

    [Fact]
    public void Without_sack_an_eifel_undo_is_not_followed_by_a_second_undo_of_the_same_timeout()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe, sack: false, timestamps: true);

        // Eifel: segment 0's ACK echoes its original (100 ms). Without SACK the Loss phase holds (RFC 6582's guard).
        h.Advance(Ms(50));
        Ack(h, mss, 1, Options(h, OurTs(Ms(100))));
        Assert.Equal(TcpCause.SpuriousTimeoutTimestamps, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        ExpectData(h, mss, 10, 2);
        h.ExpectNothing();

        // Segment 1's ACK covers data never resent, but the timeout is undone already: no second undo, event or count.
        Ack(h, mss, 2, Options(h, OurTs(Ms(100))));
        Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo));
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPLossUndo]);
        Assert.Equal(0, h.Engine.Counters[MibCounter.TcpExtTCPSpuriousRTOs]);
        Assert.Equal(12 * mss, c.CongestionWindow);
        ExpectData(h, mss, 12, 2); // 10 in flight
        h.ExpectNothing();
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    /// <summary>
    /// A pure ACK that carries a valid D-SACK is no duplicate ACK for F-RTO's step 3.a (Linux's FLAG_DSACKING_ACK leaves
    /// num_dupack 0): the next ACK of data never resent still proves the timeout spurious. Two timeouts resend segment 0,
    /// so a D-SACK of one copy leaves the other counted and cannot undo by itself.
    /// tests/scripts/sack/frto-dsack-is-no-duplicate-ack.pkt: the same on Linux 6.18.
    /// </summary>
    [Fact]
    public void A_dsack_after_frto_new_data_is_no_duplicate_ack_and_the_next_original_ack_undoes_the_timeout()
    {
        (Harness h, TcpConnection c, int mss) = TimedOut(NoProbe);
        h.AdvanceToNextDeadline(); // the timeout recurs: segment 0 again (F-RTO runs for it, RFC 5682 §3.2)
        ExpectData(h, mss, 0, 1);
        h.ExpectNothing();

        // Segment 0's ACK, sooner than a round trip after the last copy: F-RTO step 2.b sends new data.
        AckFirstExpectNewData(h, mss, Ms(50));

        // A D-SACK of one copy of segment 0: no duplicate, nothing sent, nothing undone yet, still Loss.
        h.Advance(Ms(50));
        Ack(h, mss, 1, Sacked(mss, 0, 1));
        h.ExpectNothing();
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Empty(h.Log.Of(TcpEventKind.CongestionUndo));

        // Segment 1, sent once only and before the timeouts, acknowledged: F-RTO's undo (step 3.b), Open, no resend.
        h.Advance(Ms(50));
        Ack(h, mss, 2);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(TcpCause.SpuriousTimeoutFrto, Assert.Single(h.Log.Of(TcpEventKind.CongestionUndo)).Cause);
        Assert.Equal(1, h.Engine.Counters[MibCounter.TcpExtTCPSpuriousRTOs]);
        Assert.Equal([Our(0), Our(0)], Retransmitted(h));
    }
}
