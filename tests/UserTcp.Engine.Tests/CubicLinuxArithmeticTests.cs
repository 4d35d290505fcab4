namespace UserTcp.Engine.Tests;

/// <summary>
/// <see cref="CubicArithmetic.Linux"/>: CUBIC's congestion avoidance in tcp_cubic.c's integer arithmetic (bictcp_update,
/// cubic_root, tcp_cong_avoid_ai), driven by hand on a manual clock. Times are seconds from 0, so jiffies (HZ 250) are
/// 4 ms steps of it. The trajectories were worked out from tcp_cubic.c by hand (a transcription of its integer steps),
/// and the one after an ECN reduction is the one Linux 6.18 printed under packetdrill
/// (tests/scripts/congestion/cubic-linux-cwnd-after-ecn-reduction.pkt).
/// </summary>
public class CubicLinuxArithmeticTests
{
    private const int Mss = 1000;

    private static AckSample Ack(TimeSpan now, int segments, TimeSpan? rttSample = null) =>
        new(now, segments * Mss, Mss, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100), CwndLimited: true, RttSample: rttSample);

    private static TimeSpan Seconds(double s) => TimeSpan.FromTicks((long)Math.Round(s * TimeSpan.TicksPerSecond));

    /// <summary>
    /// Linux's delay_min from one ACK that does not grow cwnd (not cwnd-limited), then the reduction of a window of
    /// <paramref name="cwnd"/> segments (an ECN echo or a loss: cubictcp_recalc_ssthresh).
    /// </summary>
    private static Cubic ReducedAt(int cwnd, TimeSpan delay)
    {
        Cubic cubic = new LinuxCubic(cwnd * Mss);
        cubic.OnAck(Ack(TimeSpan.Zero, 1, delay) with { CwndLimited = false });
        cubic.OnCongestionEvent(TimeSpan.Zero, cwnd * Mss, Mss);
        return cubic;
    }

    [Theory]
    [InlineData(0UL, 0U)]
    [InlineData(1UL, 1U)]
    [InlineData(7UL, 2U)] // below 64 the table alone: (v[a] + 35) >> 6
    [InlineData(8UL, 2U)]
    [InlineData(27UL, 3U)]
    [InlineData(63UL, 4U)]
    [InlineData(64UL, 4U)] // from 64 on, the table's estimate and one Newton step
    [InlineData(1_000UL, 10U)]
    [InlineData(1_000_000UL, 100U)]
    [InlineData(1_000_000_000UL, 1000U)]
    [InlineData(1_000_000_000_000UL, 9999U)] // one short of 10⁴: Linux's root is within 0.2 %, not exact
    [InlineData(8_045_207_031UL, 2003U)] // cube_factor × 3: K for a window 3 segments below W_max, 1.956 s (∛7.5 = 1.957)
    [InlineData(80_452_070_310UL, 4316U)] // cube_factor × 30: K = 4.215 s (RFC 9438: ∛(30 / 0.4) = 4.217)
    [InlineData(9_223_372_036_854_775_808UL, 2_098_142U)] // 2^63: 2^21 = 2 097 152 exactly; Linux's step lands 0.05 % above
    [InlineData(ulong.MaxValue, 2_641_850U)]
    public void Cube_root_is_linuxs_table_and_newton_step(ulong a, uint root)
    {
        Assert.Equal(root, BicTcp.CubeRoot(a));
    }

    [Fact]
    public void After_a_reduction_cwnd_climbs_concave_to_w_max_rests_there_around_k_then_grows_convex()
    {
        // An ECN echo at 10 segments, delay_min 98 ms (25 jiffies, rounded up), then one ACK of two segments every
        // 100 ms from 0.698 s: W_max 10, ssthresh 7, K = 2003/1024 s. Exactly what Linux 6.18 printed for the same ACKs
        // (tests/scripts/congestion/cubic-linux-cwnd-after-ecn-reduction.pkt), where RFC 9438's arithmetic differs.
        Cubic cubic = ReducedAt(10, TimeSpan.FromMilliseconds(98));
        Assert.Equal(7 * Mss, cubic.SlowStartThreshold);
        Assert.Equal(7 * Mss, cubic.Window);
        int[] linux =
        [
            7, 7, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
            10, 10, 10, 11, 11, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 15, 15, 16, 16, 17, 18, 19, 19, 21, 21, 23, 23, 25,
            26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
        ];
        var trajectory = new List<int>();
        for (int k = 0; k < linux.Length; k++)
        {
            cubic.OnAck(Ack(Seconds(0.698 + 0.1 * k), 2));
            trajectory.Add(cubic.Window / Mss);
            if (k == 0)
            {
                BicTcp bic = cubic.Linux!;
                Assert.Equal(2003U, bic.K);
                Assert.Equal(10U, bic.OriginPoint);
                Assert.Equal(10U, bic.LastMaxCwnd);
                Assert.Equal(BicTcp.Jiffies(Seconds(0.698)), bic.EpochStart);
                Assert.Equal(7U, bic.Count); // target 8 one delay_min ahead: 7 / (8 − 7)
            }
        }
        Assert.Equal(linux, trajectory);
    }

    [Fact]
    public void Growth_per_ack_slows_towards_k_and_speeds_up_after_it()
    {
        // A loss at 100 segments: ssthresh 70 (717/1024 of it), W_max 100, K = 4316/1024 s. One ACK of one segment
        // every 10 ms, delay_min 100 ms: cwnd one second apart, worked out from bictcp_update step by step.
        Cubic cubic = ReducedAt(100, TimeSpan.FromMilliseconds(100));
        Assert.Equal(70 * Mss, cubic.Window);
        var perSecond = new List<int>();
        for (int i = 1; i <= 800; i++)
        {
            cubic.OnAck(Ack(Seconds(i * 0.01), 1));
            if (i == 1) Assert.Equal(4316U, cubic.Linux!.K);
            if (i % 100 == 0) perSecond.Add(cubic.Window / Mss);
        }
        Assert.Equal([80, 90, 96, 99, 100, 101, 104, 112], perSecond);
        // Around K (4.2 s) the target is W_max itself: 100 × cwnd ACKs per segment, no growth to speak of.
        Assert.Equal(10, perSecond[1] - perSecond[0]);
        Assert.Equal(1, perSecond[4] - perSecond[3]);
        Assert.Equal(8, perSecond[7] - perSecond[6]);
    }

    [Fact]
    public void Fast_convergence_lowers_w_max_when_a_loss_comes_below_the_last_one()
    {
        // cubictcp_recalc_ssthresh: W_max = cwnd × (1024 + 717) / 2048 when cwnd is below the last W_max, else cwnd.
        Cubic cubic = ReducedAt(100, TimeSpan.FromMilliseconds(100));
        Assert.Equal(100U, cubic.Linux!.LastMaxCwnd);
        cubic.OnAck(Ack(Seconds(0.01), 1));
        Assert.Equal(70 * Mss, cubic.Window);
        cubic.OnCongestionEvent(Seconds(0.02), 70 * Mss, Mss); // 70 < 100: released to 59 (59.5 truncated)
        Assert.Equal(59U, cubic.Linux.LastMaxCwnd);
        Assert.Equal(49 * Mss, cubic.SlowStartThreshold); // 70 × 717 / 1024 = 49.01
        Assert.Null(cubic.Linux.EpochStart);

        // A loss at or above W_max keeps the window itself as W_max (here after an undo took cwnd back to 110).
        cubic.UndoReduction(110 * Mss, 77 * Mss);
        cubic.OnCongestionEvent(Seconds(0.03), 110 * Mss, Mss);
        Assert.Equal(110U, cubic.Linux.LastMaxCwnd);
        Assert.Equal(77 * Mss, cubic.SlowStartThreshold); // 110 × 717 / 1024 = 77.02
    }

    [Fact]
    public void Tcp_friendliness_takes_cwnd_past_the_cubic_curve_at_renos_pace()
    {
        // A loss at 20 segments (W_max 20, K ≈ 2.46 s), one ACK of one segment every 10 ms, delay_min 10 ms. The
        // Reno estimate gains a segment per cwnd × 15/8 ACKed segments (beta_scale 15); once it is above cwnd, cnt is
        // cwnd / (tcp_cwnd − cwnd) and cwnd follows it, where the curve alone sat at W_max (cnt 100 × cwnd).
        Cubic cubic = ReducedAt(20, TimeSpan.FromMilliseconds(10));
        Assert.Equal(14 * Mss, cubic.Window);
        for (int i = 1; i <= 400; i++)
        {
            uint before = (uint)(cubic.Window / Mss);
            cubic.OnAck(Ack(Seconds(i * 0.01), 1));
            BicTcp bic = cubic.Linux!;
            if (bic.TcpCwnd > before && bic.Count > 2) Assert.Equal(before / (bic.TcpCwnd - before), bic.Count);
            if (i == 200) Assert.Equal(20 * Mss, cubic.Window); // at W_max: the Reno estimate is 19, behind
        }
        Assert.Equal(24U, cubic.Linux!.TcpCwnd);
        Assert.Equal(24 * Mss, cubic.Window); // the curve alone: 20, plus one segment 4 s in
    }

    [Fact]
    public void Cwnd_grows_at_most_one_segment_per_two_acked_however_far_behind_the_curve()
    {
        // 30 s into an epoch that began at 10 segments the curve is thousands of segments ahead (cnt would be 0); Linux
        // keeps cnt at least 2: twenty ACKs of one segment add ten.
        var cubic = (Cubic)CongestionControl.Create(CongestionControlAlgorithm.Cubic, 10 * Mss, 10 * Mss, cubic: CubicArithmetic.Linux);
        cubic.OnAck(Ack(Seconds(0), 1)); // the epoch starts (cnt 20: no W_max yet)
        int start = cubic.Window;
        for (int i = 0; i < 20; i++) cubic.OnAck(Ack(Seconds(30 + i * 0.01), 1));
        Assert.Equal(2U, cubic.Linux!.Count);
        Assert.Equal(start + 10 * Mss, cubic.Window);

        // And ACKs of many segments at once: never more than half of them.
        cubic.OnAck(Ack(Seconds(31), 40));
        Assert.Equal(start + 30 * Mss, cubic.Window);
    }

    [Fact]
    public void Before_the_first_loss_growth_is_5_percent_per_rtt_until_the_curve_takes_over()
    {
        // No W_max: the curve starts flat at cwnd (K = 0), and Linux caps cnt at 20: one segment per 20 ACKed.
        var cubic = (Cubic)CongestionControl.Create(CongestionControlAlgorithm.Cubic, 40 * Mss, 40 * Mss, cubic: CubicArithmetic.Linux);
        for (int i = 0; i < 20; i++) cubic.OnAck(Ack(Seconds(0.1 * i), 2));
        Assert.Equal(20U, cubic.Linux!.Count);
        Assert.Equal(42 * Mss, cubic.Window);
    }

    [Fact]
    public void Idle_time_moves_the_epoch_on_by_the_jiffies_since_the_last_send_not_past_now()
    {
        // cubictcp_cwnd_event(CA_EVENT_TX_START): epoch_start += now − lsndtime, in jiffies, capped at now.
        Cubic cubic = ReducedAt(100, TimeSpan.FromMilliseconds(100));
        cubic.OnAck(Ack(Seconds(1), 1));
        Assert.Equal(250U, cubic.Linux!.EpochStart);
        cubic.OnRestartFromIdle(Seconds(11.5), idle: Seconds(10), appLimited: true); // last send at 1.5 s
        Assert.Equal(250U + 2500U, cubic.Linux.EpochStart);

        cubic.OnRestartFromIdle(Seconds(30), idle: Seconds(20), appLimited: true); // 20 s idle: would pass now (7500)
        Assert.Equal(BicTcp.Jiffies(Seconds(30)), cubic.Linux.EpochStart);

        // Without it the curve would be 28.5 s old and far above W_max; with it, the window stays near W_max.
        cubic.OnAck(Ack(Seconds(30.1), 1));
        Assert.InRange(cubic.Window / Mss, 70, 72);
    }

    [Fact]
    public void A_timeout_resets_bictcp_and_the_next_epoch_starts_its_curve_at_the_window_it_has()
    {
        // cubictcp_state(TCP_CA_Loss) → bictcp_reset: W_max, delay_min, the epoch and the Reno estimate all go.
        Cubic cubic = ReducedAt(100, TimeSpan.FromMilliseconds(100));
        cubic.OnAck(Ack(Seconds(0.5), 1));
        cubic.OnRetransmissionTimeout(Seconds(1), 70 * Mss, Mss, recurring: false);
        Assert.Equal(49 * Mss, cubic.SlowStartThreshold);
        Assert.Equal(Mss, cubic.Window);
        BicTcp bic = cubic.Linux!;
        Assert.Equal(0U, bic.LastMaxCwnd);
        Assert.Equal(0U, bic.DelayMinUs);
        Assert.Null(bic.EpochStart);
        Assert.Equal(0U, bic.CwndCount);
        cubic.OnAck(Ack(Seconds(2), 48)); // slow start to ssthresh
        cubic.OnAck(Ack(Seconds(2.1), 1));
        Assert.Equal(0U, bic.K);
        Assert.Equal(49U, bic.OriginPoint);
    }

    [Fact]
    public void The_rfc_9438_arithmetic_stays_the_default_and_keeps_its_numbers()
    {
        // The same ACKs as the Linux trajectory above, in the default arithmetic: RFC 9438's floating point, with its
        // own numbers (Linux's would be 53 segments at the end), and no bictcp state.
        Assert.Equal(CubicArithmetic.Rfc9438, new TcpConfig().CubicArithmetic);
        var rfc = (Cubic)CongestionControl.Create(CongestionControlAlgorithm.Cubic, 10 * Mss);
        Assert.Equal(CubicArithmetic.Rfc9438, rfc.Arithmetic);
        Assert.Null(rfc.Linux);
        rfc.OnAck(Ack(TimeSpan.Zero, 1, TimeSpan.FromMilliseconds(98)) with { CwndLimited = false });
        rfc.OnCongestionEvent(TimeSpan.Zero, 10 * Mss, Mss);
        Assert.Equal(7 * Mss, rfc.SlowStartThreshold);
        for (int k = 0; k < 86; k++) rfc.OnAck(Ack(Seconds(0.698 + 0.1 * k), 2));
        Assert.Equal(RfcWindowAfterEcnTrajectory, rfc.Window);
    }

    // What the RFC 9438 arithmetic gives for those ACKs, before the Linux arithmetic was added and after.
    private const int RfcWindowAfterEcnTrajectory = 51_197;
}
