using UserTcp.Wire;
using static UserTcp.Engine.Tests.Fixtures;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// RFC 5681 §3.1: "when a TCP sender detects segment loss using the retransmission timer and the given segment has
/// already been retransmitted by way of the retransmission timer at least once, the value of ssthresh is held constant"
/// (Linux's tcp_enter_loss lowers it once per Loss phase). A window of 10 segments leaves at 100 ms, the RTO fires at
/// 400 ms and again at 1000 ms (backed off) for the same first segment; cwnd is one segment after each.
/// </summary>
public class RepeatedTimeoutTests
{
    private const int PlainMss = 1460; // without timestamps

    private static TcpConfig Config(CongestionControlAlgorithm cc) =>
        new() { CongestionControl = cc, TailLossProbe = false, Frto = false }; // no probe first, no undo of the timeout

    /// <summary>ESTABLISHED at 100 ms; 20 segments queued, the first 10 sent; the RTO at 400 ms resent the first.</summary>
    private static (Harness H, TcpConnection C) TimedOut(CongestionControlAlgorithm cc)
    {
        (Harness h, TcpConnection c) = Established(Ms(100), Config(cc), timestamps: false, sack: true);
        c.Send(Bytes(20 * PlainMss));
        h.Poll();
        h.DrainSent();
        Assert.Equal(Ms(400), h.AdvanceToNextDeadline());
        Assert.Equal(1, c.Info().TotalTimeouts);
        Assert.Equal(PlainMss, c.CongestionWindow);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        return (h, c);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno, 5)] // FlightSize 10 halved
    [InlineData(CongestionControlAlgorithm.Cubic, 7)] // cwnd 10 × β 0.7
    public void A_timeout_that_recurs_for_the_same_segment_holds_ssthresh(CongestionControlAlgorithm cc, int segments)
    {
        (Harness h, TcpConnection c) = TimedOut(cc);
        Assert.Equal(segments * PlainMss, c.SlowStartThreshold);
        h.DrainSent();

        Assert.Equal(Ms(1000), h.AdvanceToNextDeadline()); // the first segment's retransmission timed out too
        Sent again = h.Next();
        Assert.Equal(Our(0), again.Seq);
        Assert.Equal(2, c.Info().TotalTimeouts);
        Assert.Equal(PlainMss, c.CongestionWindow); // the loss window on every timeout
        // Not recomputed from the one segment in flight (NewReno) or the one-segment cwnd (CUBIC): 2 segments.
        Assert.Equal(segments * PlainMss, c.SlowStartThreshold);

        Assert.Equal(Ms(2200), h.AdvanceToNextDeadline()); // and a third
        Assert.Equal(3, c.Info().TotalTimeouts);
        Assert.Equal(segments * PlainMss, c.SlowStartThreshold);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_timeout_that_ends_a_fast_recovery_keeps_the_recoverys_ssthresh_as_linux(CongestionControlAlgorithm cc)
    {
        // Linux's tcp_enter_loss computes ssthresh only in Open or Disorder, once high_seq is acknowledged, or at a Loss
        // phase's first timeout: in Recovery the recovery's reduction stands, and the timeout only cuts cwnd to one segment.
        (Harness h, TcpConnection c) = Established(Ms(100), Config(cc), timestamps: false, sack: true);
        c.Send(Bytes(20 * PlainMss));
        h.Poll();
        h.DrainSent();
        h.AdvanceTo(Ms(200));
        for (int sacked = 2; sacked <= 4; sacked++)
        {
            var options = new TcpOptions();
            options.AddSackBlock(new SackBlock(new SeqNumber(Our(PlainMss)), new SeqNumber(Our(sacked * PlainMss))));
            h.Send(TcpFlags.Ack, Their(0), Our(0), window: PeerWindow, options: options);
        }
        h.DrainSent();
        Assert.True(c.InFastRecovery);
        int recovery = c.SlowStartThreshold;

        // Nothing more arrives: the hole's retransmission was lost too, and the timer ends the recovery.
        for (int i = 0; i < 10 && c.Info().TotalTimeouts == 0; i++) h.AdvanceToNextDeadline();
        Assert.Equal(1, c.Info().TotalTimeouts);
        Assert.Equal(TcpCongestionState.Loss, c.Info().CongestionState);
        Assert.Equal(PlainMss, c.CongestionWindow);
        Assert.Equal(recovery, c.SlowStartThreshold);
    }

    [Fact]
    public void NewReno_holds_ssthresh_on_a_recurring_timeout_though_FlightSize_grew()
    {
        // Equation 4 halves FlightSize (SND.MAX − SND.UNA), which a plain repeat leaves as it was, so the connection
        // tests above cannot tell; with 12 segments in flight by the second timeout it would give 6, not 5.
        var reno = new NewReno(10 * PlainMss);
        reno.OnRetransmissionTimeout(TimeSpan.Zero, 10 * PlainMss, PlainMss, recurring: false);
        Assert.Equal(5 * PlainMss, reno.SlowStartThreshold);
        Assert.Equal(PlainMss, reno.Window);
        reno.OnRetransmissionTimeout(TimeSpan.FromSeconds(1), 12 * PlainMss, PlainMss, recurring: true);
        Assert.Equal(5 * PlainMss, reno.SlowStartThreshold);
        Assert.Equal(PlainMss, reno.Window);
        reno.OnRetransmissionTimeout(TimeSpan.FromSeconds(3), 12 * PlainMss, PlainMss, recurring: false); // a new loss
        Assert.Equal(6 * PlainMss, reno.SlowStartThreshold);
    }

    [Theory]
    [InlineData(CongestionControlAlgorithm.NewReno)]
    [InlineData(CongestionControlAlgorithm.Cubic)]
    public void A_timeout_after_the_loss_phase_ended_lowers_ssthresh_again(CongestionControlAlgorithm cc)
    {
        (Harness h, TcpConnection c) = TimedOut(cc);
        int first = c.SlowStartThreshold;
        h.DrainSent();

        // The retransmission's ACK, then the rest of the window: SND.UNA passes the recovery point, the Loss phase ends.
        h.Send(TcpFlags.Ack, Their(0), Our(PlainMss), window: PeerWindow);
        h.Send(TcpFlags.Ack, Their(0), Our(10 * PlainMss), window: PeerWindow);
        Assert.Equal(TcpCongestionState.Open, c.Info().CongestionState);
        Assert.Equal(0, c.Info().ConsecutiveTimeouts);
        h.DrainSent(); // new data from segment 10 on, none of it acknowledged
        Assert.True(c.Info().UnackedSegments > 0);
        int cwnd = c.CongestionWindow;
        int flight = c.Info().UnackedSegments * PlainMss; // full segments, none SACKed or lost

        h.AdvanceToNextDeadline(); // a new loss: its timeout is a new congestion event
        Assert.Equal(2, c.Info().TotalTimeouts);
        Assert.Equal(PlainMss, c.CongestionWindow);
        int expected = cc == CongestionControlAlgorithm.NewReno
            ? Math.Max(flight / 2, 2 * PlainMss)
            : Math.Max((int)(cwnd / (double)PlainMss * 0.7 * PlainMss), 2 * PlainMss);
        Assert.Equal(expected, c.SlowStartThreshold);
        Assert.NotEqual(first, c.SlowStartThreshold);
    }
}
