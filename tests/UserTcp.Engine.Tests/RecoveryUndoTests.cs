using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Spurious fast recoveries undone as Linux's tcp_fastretrans_alert does (tcp_try_undo_recovery, tcp_try_undo_partial,
/// tcp_try_undo_dsack): a window of 10 segments leaves at 100 ms; at 200 ms the peer SACKs segments 1 to 3 while
/// segment 0 is still on its way (reordered), so RACK deems it lost, a fast recovery starts (CUBIC: ssthresh 7 of 10)
/// and segment 0 is resent. Then either the original arrives late (spurious: the retransmission draws a D-SACK, or the
/// ACK echoes the original's timestamp) or the retransmission fills the hole (a real loss, nothing undone).
/// Loss probes are off so nothing but the ACKs drives the sender.
/// </summary>
public class RecoveryUndoTests
{
    private const int PlainMss = 1460; // without timestamps
    private static readonly TcpConfig NoProbe = new() { TailLossProbe = false };

    /// <summary>
    /// ESTABLISHED at 100 ms, 20 segments queued, 10 sent; at 200 ms three SACKs start a fast recovery that resends
    /// segment 0 (the first two SACKs each let a new segment out). <c>Top</c>: the segments sent by then (the recovery point).
    /// </summary>
    private static (Harness H, TcpConnection C, int Mss, int Top) Reordered(TcpConfig config, bool timestamps = false, int holes = 1)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), config, timestamps);
        int mss = timestamps ? ModernPeer.Mss : PlainMss;
        c.Send(Bytes(20 * mss));
        h.Poll();
        h.DrainSent();
        Assert.Equal(10 * mss, c.CongestionWindow);
        h.AdvanceTo(Ms(200));
        int top = 10;
        for (int sacked = holes + 1; sacked <= holes + 3; sacked++)
        {
            Ack(h, mss, 0, timestamps, (holes, sacked));
            while (h.TryNext() is Sent s)
            {
                // New data sent before the recovery began lies below its recovery point.
                if (!c.InFastRecovery) top = Math.Max(top, (int)((s.Seq - Our(0) + (uint)s.Payload.Length) / (uint)mss));
            }
        }
        Assert.True(c.InFastRecovery);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.Equal([Our(0)], Retransmitted(h));
        return (h, c, mss, top);
    }

    /// <summary>An ACK of the first <paramref name="segments"/> segments; with timestamps it echoes our TSval of 100 ms (the originals').</summary>
    private static void Ack(Harness h, int mss, int segments, bool timestamps, params (int From, int To)[] sacked) =>
        AckEchoing(h, mss, segments, timestamps ? OurTs(Ms(100)) : null, sacked);

    private static void AckEchoing(Harness h, int mss, int segments, uint? echo, params (int From, int To)[] sacked)
    {
        var options = new TcpOptions();
        if (echo is uint e) options.Timestamp = new TcpTimestamp(PeerTs(h), e);
        foreach ((int from, int to) in sacked) options.AddSackBlock(new SackBlock(new SeqNumber(Our(from * mss)), new SeqNumber(Our(to * mss))));
        h.Send(TcpFlags.Ack, Their(0), Our(segments * mss), window: PeerWindow, options: options);
    }

    private static uint[] Retransmitted(Harness h) => [.. h.Log.Of(TcpEventKind.Retransmission).Select(e => e.Segment.Seq.Value)];

    private static TcpEvent[] Undos(Harness h) => [.. h.Log.Of(TcpEventKind.CongestionUndo)];

    private static long Count(Harness h, MibCounter counter) => h.Engine.Counters[counter];

    [Fact]
    public void A_dsack_of_the_fast_retransmission_after_the_recovery_ended_restores_cwnd_and_ssthresh_once()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe);

        // The original segment 0 arrives, late: the ACK covers all ten, and the recovery ends as a real one would.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, top, timestamps: false);
        Assert.False(c.InFastRecovery);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.True(c.CongestionWindow < 10 * mss, $"cwnd {c.CongestionWindow}");
        Assert.Empty(Undos(h));

        // Then the retransmission arrives and the receiver reports it duplicate (RFC 2883): it was needless, so the
        // recovery was spurious (RFC 3708) and its reduction is undone (Linux's tcp_try_undo_dsack in Open).
        h.AdvanceTo(Ms(300));
        Ack(h, mss, top, timestamps: false, (0, 1));
        AssertUndone(h, c, mss, TcpCause.SpuriousFastRetransmitDsack, MibCounter.TcpExtTCPDSACKUndo, grownBy: 0); // a duplicate ACK grows nothing
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFullUndo));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPLossUndo));

        // The same D-SACK again (a duplicate ACK) undoes nothing more.
        Ack(h, mss, top, timestamps: false, (0, 1));
        Assert.Single(Undos(h));
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPDSACKUndo));
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void A_dsack_of_the_fast_retransmission_during_the_recovery_ends_it_undone()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe);

        // Segment 0 arrived twice before the rest of the window: the ACK covers 0 to 3 and D-SACKs segment 0.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, 4, timestamps: false, (0, 1));
        Assert.False(c.InFastRecovery);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        // Segment 0 and its D-SACKed copy were delivered (Linux's tcp_dsack_seen counts the copy).
        AssertUndone(h, c, mss, TcpCause.SpuriousFastRetransmitDsack, MibCounter.TcpExtTCPDSACKUndo, grownBy: 2);

        // The rest of the window's ACK: the recovery point is reached, but there is nothing left to undo.
        h.AdvanceTo(Ms(220));
        Ack(h, mss, top, timestamps: false);
        Assert.Single(Undos(h));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFullUndo));
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void A_dsack_of_a_segment_never_resent_does_not_count_against_the_retransmissions()
    {
        (Harness h, TcpConnection c, int mss, _) = Reordered(NoProbe);

        // The link duplicated segment 2, which was SACKed and never resent: the receiver D-SACKs it (RFC 2883 §4.2, the
        // first block inside the second). It says nothing of the retransmission of segment 0, which may be needed;
        // Linux's tcp_sacktag_one takes a D-SACK off undo_retrans only for a segment it retransmitted.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, 0, timestamps: false, (2, 3), (1, 4));
        Assert.True(c.InFastRecovery);
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);

        // Then the retransmission fills the hole: a real loss, nothing to undo.
        h.AdvanceTo(Ms(300));
        Ack(h, mss, 4, timestamps: false);
        Assert.Empty(Undos(h));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPDSACKUndo));
        Assert.Equal(7 * mss, c.SlowStartThreshold);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_recovery_the_retransmission_was_needed_for_is_not_undone(bool timestamps)
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps);

        // Segment 0 was lost: its retransmission fills the hole; the ACK echoes the retransmission's TSval (200 ms)
        // and carries no D-SACK. Neither test of tcp_may_undo passes.
        h.AdvanceTo(Ms(300));
        AckEchoing(h, mss, top, timestamps ? OurTs(Ms(200)) : null);
        Assert.False(c.InFastRecovery);
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        // cwnd = ssthresh, then that ACK's congestion avoidance: less than a segment more, nothing like the 10 of before.
        Assert.InRange(c.CongestionWindow, 7 * mss, 8 * mss - 1);
        Assert.Empty(Undos(h));

        // A later ACK without a D-SACK changes nothing.
        h.Poll();
        h.AdvanceTo(Ms(310));
        AckEchoing(h, mss, top, timestamps ? OurTs(Ms(200)) : null);
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFullUndo) + Count(h, MibCounter.TcpExtTCPDSACKUndo) + Count(h, MibCounter.TcpExtTCPPartialUndo));
    }

    [Fact]
    public void Only_when_every_retransmission_is_dsacked_is_the_recovery_undone()
    {
        // Segments 0 and 1 are both on their way when 2 to 4 are SACKed: both are resent.
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, holes: 2);
        Ack(h, mss, 0, timestamps: false, (2, 6));
        Ack(h, mss, 0, timestamps: false, (2, 7)); // PRR lets the second retransmission out
        Assert.Equal([Our(0), Our(mss)], Retransmitted(h));
        h.DrainSent();

        h.AdvanceTo(Ms(210));
        Ack(h, mss, top, timestamps: false);
        Assert.False(c.InFastRecovery);

        // Segment 0's retransmission is reported duplicate, segment 1's not yet: one of two was needless; no undo.
        h.AdvanceTo(Ms(300));
        Ack(h, mss, top, timestamps: false, (0, 1));
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPDSACKUndo));

        // Segment 1's too: now every retransmission was needless.
        Ack(h, mss, top, timestamps: false, (1, 2));
        Assert.Equal(TcpCause.SpuriousFastRetransmitDsack, Assert.Single(Undos(h)).Cause);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPDSACKUndo));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_recovery_undo_off_nothing_is_undone(bool timestamps)
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe with { RecoveryUndo = false }, timestamps);

        // Both signs of a spurious recovery: the full ACK echoes the original's TSval, then the retransmission is D-SACKed.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, top, timestamps);
        h.AdvanceTo(Ms(300));
        Ack(h, mss, top, timestamps, (0, 1));
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);
        Assert.True(c.CongestionWindow < 10 * mss, $"cwnd {c.CongestionWindow}");
    }

    [Fact]
    public void The_ack_ending_the_recovery_that_echoes_the_original_timestamp_undoes_it()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps: true);

        // Eifel (RFC 3522): the ACK that reaches the recovery point echoes 100 ms, older than the retransmission (200 ms):
        // the original filled the hole (Linux's tcp_try_undo_recovery, TCPFullUndo).
        h.AdvanceTo(Ms(210));
        Ack(h, mss, top, timestamps: true);
        Assert.False(c.InFastRecovery);
        // Segment 0 and those never SACKed (4 up to the top) were delivered.
        AssertUndone(h, c, mss, TcpCause.SpuriousFastRetransmitTimestamps, MibCounter.TcpExtTCPFullUndo, grownBy: top - 3);
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPDSACKUndo));

        // The retransmission's D-SACK that follows finds nothing left to undo.
        h.AdvanceTo(Ms(300));
        Ack(h, mss, top, timestamps: true, (0, 1));
        Assert.Single(Undos(h));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPDSACKUndo));
    }

    [Fact]
    public void A_partial_ack_echoing_the_original_timestamp_undoes_the_recovery_when_no_retransmission_is_in_flight()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps: true);

        // The late original fills the hole; segments 4 on are still on their way: a partial ACK echoing 100 ms.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, 4, timestamps: true);
        Assert.False(c.InFastRecovery);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        AssertUndone(h, c, mss, TcpCause.SpuriousFastRetransmitTimestamps, MibCounter.TcpExtTCPPartialUndo, grownBy: 1); // segment 0
        // RACK learns of the reordering (Linux's tcp_check_sack_reordering): SACKed up to 4 segments above the hole.
        Assert.Equal(4, c.Info().Reordering);
        Assert.Equal(1, c.Info().ReorderingEvents);

        // The rest arrives: no second undo.
        h.AdvanceTo(Ms(220));
        Ack(h, mss, top, timestamps: true);
        Assert.Single(Undos(h));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPFullUndo));
        Assert.Equal([Our(0)], Retransmitted(h));
    }

    [Fact]
    public void A_partial_ack_echoing_the_original_timestamp_waits_while_another_retransmission_is_in_flight()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps: true, holes: 2);
        Ack(h, mss, 0, timestamps: true, (2, 6));
        Ack(h, mss, 0, timestamps: true, (2, 7));
        Assert.Equal([Our(0), Our(mss)], Retransmitted(h));
        h.DrainSent();

        // Segment 0's original arrives late, but segment 1's retransmission is still in flight: Linux's
        // tcp_try_undo_partial holds (no undo, nothing more deemed lost) until that is answered too.
        h.AdvanceTo(Ms(210));
        Ack(h, mss, 1, timestamps: true, (2, 7));
        Assert.True(c.InFastRecovery);
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);

        // Segment 1's original too, and the rest: the ACK at the recovery point echoes the originals' TSval.
        h.AdvanceTo(Ms(220));
        Ack(h, mss, top, timestamps: true);
        Assert.Equal(TcpCause.SpuriousFastRetransmitTimestamps, Assert.Single(Undos(h)).Cause);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPFullUndo));
        Assert.Equal(0, Count(h, MibCounter.TcpExtTCPPartialUndo));
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
    }

    [Fact]
    public void The_ack_that_holds_a_partial_undo_resends_nothing_deemed_lost_and_the_next_ack_does()
    {
        // Segments 0, 1 and 2 are all deemed lost; PRR has let 0 and 1 out again, 2 waits.
        (Harness h, TcpConnection c, int mss, _) = Reordered(NoProbe, timestamps: true, holes: 3);
        Ack(h, mss, 0, timestamps: true, (3, 7));
        Assert.Equal([Our(0), Our(mss)], Retransmitted(h));
        h.DrainSent();

        // Segment 0's original arrives late while segment 1's retransmission is in flight: Linux's tcp_try_undo_partial
        // holds, and tcp_fastretrans_alert returns before REXMIT_LOST, so this ACK resends nothing (new data may go).
        h.AdvanceTo(Ms(210));
        Ack(h, mss, 1, timestamps: true, (3, 7));
        Assert.True(c.InFastRecovery);
        Assert.Empty(Undos(h));
        Assert.Equal([Our(0), Our(mss)], Retransmitted(h));
        h.DrainSent();

        // The next ACK answers a retransmission, not an original: the recovery goes on and segment 2 is resent.
        h.AdvanceTo(Ms(215));
        AckEchoing(h, mss, 2, OurTs(Ms(200)), (3, 7));
        Assert.Equal([Our(0), Our(mss), Our(2 * mss)], Retransmitted(h));
    }

    [Fact]
    public void A_partial_ack_echoing_the_retransmission_undoes_nothing()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps: true);

        h.AdvanceTo(Ms(300));
        AckEchoing(h, mss, 4, OurTs(Ms(200)));
        Assert.True(c.InFastRecovery);
        Assert.Empty(Undos(h));
        Assert.Equal(7 * mss, c.SlowStartThreshold);
    }

    [Fact]
    public void A_timeout_that_ends_a_fast_recovery_is_undone_to_the_window_before_the_recovery()
    {
        (Harness h, TcpConnection c, int mss, int top) = Reordered(NoProbe, timestamps: true);

        // No ACK comes: the retransmission timer (armed at 200 ms when segment 0 was resent) fires in the recovery.
        TimeSpan timeout = h.AdvanceToNextDeadline();
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(mss, c.CongestionWindow);
        h.DrainSent();

        // The late ACK echoes the original's TSval: Eifel undoes the timeout, and the record the fast recovery made
        // (Linux's tcp_enter_loss keeps it) restores the window from before the recovery, not the recovery's.
        h.AdvanceTo(timeout + Ms(10));
        Ack(h, mss, top, timestamps: true);
        Assert.Equal(TcpCause.SpuriousTimeoutTimestamps, Assert.Single(Undos(h)).Cause);
        Assert.Equal(1, Count(h, MibCounter.TcpExtTCPLossUndo));
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.True(c.CongestionWindow >= 10 * mss, $"cwnd {c.CongestionWindow}");
    }

    /// <summary>
    /// The window of before the recovery is back (ssthresh unset, cwnd 10 segments), by one undo of this cause, counted
    /// once; the undoing ACK, the recovery over, then grew cwnd in slow start by the <paramref name="grownBy"/> segments it
    /// delivered (Linux's tcp_cong_control after tcp_fastretrans_alert).
    /// </summary>
    private static void AssertUndone(Harness h, TcpConnection c, int mss, TcpCause cause, MibCounter counter, int grownBy)
    {
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
        Assert.Equal((10 + grownBy) * mss, c.CongestionWindow);
        Assert.Equal(cause, Assert.Single(Undos(h)).Cause);
        Assert.Equal(1, Count(h, counter));
    }
}
