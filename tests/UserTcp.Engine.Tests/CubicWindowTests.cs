namespace UserTcp.Engine.Tests;

/// <summary>
/// CUBIC's window function (RFC 9438) driven by hand, on a manual clock: what the epoch, K and W_max are after the events
/// that set them.
/// </summary>
public class CubicWindowTests
{
    private const int Mss = 1000;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(100);

    private static AckSample Ack(TimeSpan now, int segments) => new(now, segments * Mss, Mss, Rtt, Rtt, CwndLimited: true);

    /// <summary>One round trip of ACKs, one per segment of cwnd; returns the time after it.</summary>
    private static TimeSpan RoundTrip(Cubic cubic, TimeSpan now)
    {
        now += Rtt;
        int segments = cubic.Window / Mss;
        for (int i = 0; i < segments; i++) cubic.OnAck(Ack(now, 1));
        return now;
    }

    [Fact]
    public void After_a_timeout_the_first_congestion_avoidance_starts_its_curve_at_the_window_it_has()
    {
        // RFC 9438 §4.8: in the first congestion avoidance after a timeout, K = 0 and W_max = cwnd at its start (Linux:
        // cubictcp_state's bictcp_reset on TCP_CA_Loss forgets last_max_cwnd). Not the concave climb back towards the
        // W_max of before the timeout, which the timeout says the path no longer holds.
        var cubic = new Cubic(10 * Mss);
        TimeSpan now = TimeSpan.Zero;
        cubic.OnAck(Ack(now, 90)); // slow start to 100 segments
        Assert.Equal(100 * Mss, cubic.Window);
        cubic.OnRetransmissionTimeout(now, 100 * Mss, Mss);
        Assert.Equal(70 * Mss, cubic.SlowStartThreshold);
        Assert.Equal(Mss, cubic.Window);
        now += Rtt;
        cubic.OnAck(Ack(now, 69)); // slow start back to ssthresh
        Assert.Equal(70 * Mss, cubic.Window);

        now += Rtt;
        cubic.OnAck(Ack(now, 1)); // the epoch starts
        Assert.Equal(now, cubic.EpochStart);
        Assert.Equal(0, cubic.K);
        Assert.NotEqual(100, cubic.WMax, 6);
        Assert.Equal(70, cubic.WMax, 6);

        // Two seconds on: W_cubic(2 s) is 73 segments, and the Reno-friendly W_est (α ≈ 0.53 per RTT) leads at about 81;
        // the curve of the old W_max (K ≈ 4.2 s) would have been at 96.
        while (now < TimeSpan.FromSeconds(2.2)) now = RoundTrip(cubic, now);
        Assert.InRange(cubic.Window / (double)Mss, 78, 84);
    }
}
