using UserTcp.Wire;
using static UserTcp.Engine.Tests.TestData;

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
        cubic.OnRetransmissionTimeout(now, 100 * Mss, Mss, recurring: false);
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
    [Fact]
    public void Time_with_nothing_to_send_does_not_advance_the_cubic_curve()
    {
        // RFC 9438 §4.2: t "MUST NOT include periods during which cwnd has not been updated due to application-limited
        // behavior"; Linux's cubictcp_cwnd_event(CA_EVENT_TX_START) moves epoch_start on by the idle time when data
        // leaves with nothing in flight. Counted from the epoch's start, 10 s idle put W_cubic hundreds of segments ahead,
        // and the first window after it grew by half (the 1.5 cwnd cap) instead of by a fraction of a segment.
        const int mss = ModernPeer.Mss;
        (Harness h, TcpConnection c) = ModernPeer.Established(TimeSpan.FromMilliseconds(100), new TcpConfig { TsoWindowDivisor = 0 }, timestamps: false, sack: false);
        var cubic = (Cubic)c.CongestionController;
        cubic.OnCongestionEvent(h.Now, 10 * mss, mss); // congestion avoidance from 7 segments, W_max 10
        int acked = 0;
        void RoundTrip()
        {
            int sent = acked;
            while (h.TryNext() is Sent s) sent = Math.Max(sent, (int)(s.Seq - Our(0)) + s.Payload.Length);
            h.Advance(TimeSpan.FromMilliseconds(100));
            // Two ACKs per flight, so the next flight leaves with data in flight (one ACK per flight would empty the
            // pipe each round trip, and Linux too takes that for a restart from idle).
            int half = acked + (sent - acked) / mss / 2 * mss;
            if (half > acked) h.Send(TcpFlags.Ack, Their(0), Our(half), window: PeerWindow);
            acked = sent;
            h.Send(TcpFlags.Ack, Their(0), Our(acked), window: PeerWindow);
        }

        c.Send(Bytes(30 * mss));
        h.Poll();
        while (acked < 30 * mss) RoundTrip();
        TimeSpan epoch = cubic.EpochStart ?? throw new InvalidOperationException("no congestion avoidance epoch");
        double before = c.CongestionWindow / (double)mss;
        Assert.InRange(before, 8, 10);

        h.Advance(TimeSpan.FromSeconds(10)); // nothing to send
        c.Send(Bytes(100 * mss));
        h.Poll();
        RoundTrip();
        double after = c.CongestionWindow / (double)mss;
        Assert.True(after < before + 1, $"cwnd {before:F2} -> {after:F2} segments in one round trip after 10 s idle");
        Assert.True(after > before, "cwnd still grows");
        Assert.Equal(epoch + TimeSpan.FromSeconds(10.1), cubic.EpochStart); // moved on by the time since the last send
    }
    [Fact]
    public void A_timeout_forgets_hystarts_minimum_delay_so_a_longer_path_does_not_end_the_next_slow_start_early()
    {
        // Linux's cubictcp_state on TCP_CA_Loss runs bictcp_reset, which zeroes delay_min with the rest of the state; the
        // next sample sets it again (cubictcp_acked). Kept, the minimum of a path the timeout may have left behind makes
        // every RTT on the new one look like queueing, and HyStart ends the slow start back to ssthresh at 16 segments.
        var cubic = new Cubic(10 * Mss);
        TimeSpan now = TimeSpan.Zero;
        var seq = new SeqNumber(1);
        // One ACK of one segment every 10 ms (no ACK train): the RTT is what the samples say.
        void AckOne(TimeSpan rtt)
        {
            now += TimeSpan.FromMilliseconds(10);
            seq += Mss;
            cubic.OnAck(new AckSample(now, Mss, Mss, rtt, rtt, CwndLimited: true, RttSample: rtt, SndUna: seq, SndNxt: seq + cubic.Window));
        }
        while (cubic.Window < 60 * Mss) AckOne(TimeSpan.FromMilliseconds(100));
        Assert.Equal(TimeSpan.FromMilliseconds(100), cubic.HyStart!.DelayMin);
        Assert.False(cubic.HyStart.Found);

        cubic.OnRetransmissionTimeout(now, cubic.Window, Mss, recurring: false);
        Assert.Equal(42 * Mss, cubic.SlowStartThreshold);
        Assert.Equal(Mss, cubic.Window);
        // The path after the timeout is three times as long, and steady: no queue builds on it.
        for (int i = 0; i < 200 && cubic.Window < cubic.SlowStartThreshold; i++) AckOne(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.FromMilliseconds(300), cubic.HyStart.DelayMin);
        Assert.False(cubic.HyStart.Found);
        Assert.Equal(42 * Mss, cubic.SlowStartThreshold);
        Assert.Equal(42 * Mss, cubic.Window);
    }
    [Fact]
    public void A_timeout_before_hystart_ever_watched_still_leaves_it_no_minimum_from_before()
    {
        // Slow start never reached HyStart's 16 segments (a first timeout at 10), congestion avoidance took cwnd to 40,
        // and a second timeout came on a path three times as long. The minimum HyStart judges the next slow start by
        // must come from after that timeout, not from the connection's whole life (its min RTT, 100 ms).
        var cubic = new Cubic(10 * Mss);
        TimeSpan now = TimeSpan.Zero, lifeMin = TimeSpan.FromMilliseconds(100);
        var seq = new SeqNumber(1);
        void AckOne(TimeSpan rtt)
        {
            now += TimeSpan.FromMilliseconds(10);
            seq += Mss;
            cubic.OnAck(new AckSample(now, Mss, Mss, rtt, lifeMin, CwndLimited: true, RttSample: rtt, SndUna: seq, SndNxt: seq + cubic.Window));
        }
        cubic.OnRetransmissionTimeout(now, cubic.Window, Mss, recurring: false);
        for (int i = 0; i < 5_000 && cubic.Window < 40 * Mss; i++) AckOne(lifeMin);
        Assert.True(cubic.Window >= 40 * Mss);
        cubic.OnRetransmissionTimeout(now, cubic.Window, Mss, recurring: false);
        int ssthresh = cubic.SlowStartThreshold;
        Assert.True(ssthresh >= 28 * Mss, $"ssthresh {ssthresh / Mss} segments");
        for (int i = 0; i < 200 && cubic.Window < ssthresh; i++) AckOne(TimeSpan.FromMilliseconds(300));
        Assert.Equal(TimeSpan.FromMilliseconds(300), cubic.HyStart!.DelayMin);
        Assert.False(cubic.HyStart.Found);
        Assert.Equal(ssthresh, cubic.SlowStartThreshold);
        Assert.InRange(cubic.Window, ssthresh, ssthresh + Mss); // the ACK that reached ssthresh gave its rest to avoidance
    }
}
