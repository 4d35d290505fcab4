using static UserTcp.Engine.Tests.LossPhaseRecoveryTests;
using static UserTcp.Engine.Tests.ModernPeer;
using static UserTcp.Engine.Tests.TestData;

namespace UserTcp.Engine.Tests;

/// <summary>
/// Linux's HyStart counters (tcp_cubic.c hystart_update): TCPHystartTrainDetect or TCPHystartDelayDetect once when that
/// test ends slow start, and TCPHystart*Cwnd adding the cwnd in segments then; nothing more on the ACKs after it, and
/// nothing for a slow start HyStart never watched (under 16 segments) or another algorithm's.
/// </summary>
public class HyStartCountersTests
{
    private static long[] Counts(Harness h) =>
    [
        h.Engine.Counters[MibCounter.TcpExtTCPHystartTrainDetect], h.Engine.Counters[MibCounter.TcpExtTCPHystartTrainCwnd],
        h.Engine.Counters[MibCounter.TcpExtTCPHystartDelayDetect], h.Engine.Counters[MibCounter.TcpExtTCPHystartDelayCwnd],
    ];

    /// <summary>30 segments at an RTT of <paramref name="rtt"/>: the first 10 go, their ACK one RTT later grows cwnd to 20 and sends the other 20.</summary>
    private static (Harness H, TcpConnection C, TimeSpan SecondFlightAt) SecondFlight(TimeSpan rtt, TcpConfig config)
    {
        (Harness h, TcpConnection c) = Established(rtt, config, timestamps: false);
        c.Send(Bytes(30 * PlainMss));
        h.Poll();
        Assert.Equal(Enumerable.Range(0, 10), Sent(h));
        TimeSpan at = h.Now + rtt;
        h.AdvanceTo(at);
        Ack(h, 10);
        Assert.Equal(Enumerable.Range(10, 20), Sent(h));
        Assert.Equal(20 * PlainMss, c.CongestionWindow);
        return (h, c, at);
    }

    [Fact]
    public void The_delay_test_counts_once_with_cwnd_then_as_the_script_hystart_delay_ends_slow_start_has_it()
    {
        // tests/scripts/congestion/hystart-delay-ends-slow-start.pkt's exchange: samples of 130 ms against a minimum of
        // 100, 1 ms apart; the ninth ends slow start at cwnd 36.
        (Harness h, TcpConnection c, TimeSpan at) = SecondFlight(Ms(100), Plain);
        AckEachMillisecond(h, at + Ms(130), firstAck: 12, count: 8, expectCounts: [0, 0, 0, 0]);
        AckEachMillisecond(h, at + Ms(138), firstAck: 28, count: 1, expectCounts: [0, 0, 1, 36]);
        Assert.Equal(36 * PlainMss, c.SlowStartThreshold);
        AckEachMillisecond(h, at + Ms(139), firstAck: 30, count: 1, expectCounts: [0, 0, 1, 36]); // found: no second count
    }

    [Fact]
    public void The_ack_train_test_counts_once_with_cwnd_then()
    {
        // ACKs 1 ms apart from one RTT (10 ms) on: the train passes half the minimum RTT plus the capped ACK delay
        // ((10 + 1) / 2 ms) on the seventh, 6 ms after the first, when cwnd is 20 + 2 × 6; the samples rise 1 ms an ACK,
        // so the smallest of the first eight (10 ms) never trips the delay test.
        (Harness h, TcpConnection c, TimeSpan at) = SecondFlight(Ms(10), Plain);
        AckEachMillisecond(h, at + Ms(10), firstAck: 12, count: 6, expectCounts: [0, 0, 0, 0]);
        AckEachMillisecond(h, at + Ms(16), firstAck: 24, count: 1, expectCounts: [1, 32, 0, 0]);
        Assert.Equal(32 * PlainMss, c.SlowStartThreshold);
        AckEachMillisecond(h, at + Ms(17), firstAck: 26, count: 3, expectCounts: [1, 32, 0, 0]); // found: no second count
    }

    /// <summary><paramref name="count"/> ACKs 1 ms apart from <paramref name="from"/>, each of two segments more from <paramref name="firstAck"/>, the counters as expected after each.</summary>
    private static void AckEachMillisecond(Harness h, TimeSpan from, int firstAck, int count, long[] expectCounts)
    {
        for (int i = 0; i < count; i++)
        {
            h.AdvanceTo(from + Ms(i));
            Ack(h, firstAck + 2 * i);
            Assert.Equal(expectCounts, Counts(h));
        }
    }

    [Fact]
    public void Reno_counts_no_hystart_on_the_same_acks()
    {
        (Harness h, TcpConnection c, TimeSpan at) = SecondFlight(Ms(100), Plain with { CongestionControl = CongestionControlAlgorithm.NewReno });
        AckEachMillisecond(h, at + Ms(130), firstAck: 12, count: 10, expectCounts: [0, 0, 0, 0]);
        Assert.Equal(int.MaxValue, c.SlowStartThreshold);
    }
}
