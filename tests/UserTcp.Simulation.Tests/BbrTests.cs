using UserTcp.Link;
using Xunit.Abstractions;

namespace UserTcp.Simulation.Tests;

/// <summary>
/// BBR (Linux tcp_bbr.c, v1) on the simulated link, manual clock: STARTUP finds the bottleneck rate, DRAIN empties the
/// queue STARTUP built, PROBE_RTT comes once the min RTT is 10 s old and holds cwnd at 4 segments for 200 ms, random
/// loss does not shrink the window as it does CUBIC's, and BBR sends no segment and arms no timer more than CUBIC.
/// The path: 100 Mbit/s, 20 ms RTT (BDP 250 kB), the link's queue unbounded.
/// </summary>
public class BbrTests(ITestOutputHelper output)
{
    private static readonly TcpConfig BbrConfig = new()
    {
        CongestionControl = CongestionControlAlgorithm.Bbr,
        ReceiveBufferSize = 8 << 20,
        SendBufferSize = 8 << 20,
    };
    private const double LinkBitsPerSecond = 100e6;
    private static readonly TimeSpan OneWayDelay = TimeSpan.FromMilliseconds(10);

    private readonly record struct Sample(TimeSpan At, Bbr.BbrMode Mode, int Cwnd, int InFlight, double Bandwidth);

    private sealed record Run(List<Sample> Samples, TransferResult Result, int Mss);

    /// <summary>A transfer from A to B for <paramref name="duration"/>, sampling A's BBR every millisecond.</summary>
    private static Run Transfer(TimeSpan duration, double lossRate = 0, int seed = 1, TcpConfig? config = null)
    {
        config ??= BbrConfig;
        var faults = new FaultOptions { DropRate = lossRate };
        using var sim = new Simulation(config with { RandomSeed = seed }, config with { RandomSeed = seed + 1000 }, faults, faults,
            oneWayDelay: OneWayDelay, seed: seed, capture: false, bitsPerSecond: LinkBitsPerSecond, name: $"Bbr_{lossRate}_{seed}");
        sim.A.RecordEvents = sim.B.RecordEvents = false;
        var transfer = new OneWayTransfer(sim, long.MaxValue);
        var samples = new List<Sample>();
        TimeSpan next = TimeSpan.Zero;
        void Applications()
        {
            transfer.Pump();
            TcpConnection c = transfer.Sender;
            if (c.State == TcpState.Established && c.CongestionController is Bbr bbr && sim.Now >= next)
            {
                next = sim.Now + TimeSpan.FromMilliseconds(1);
                samples.Add(new Sample(sim.Now, bbr.Mode, c.CongestionWindow, c.SenderInFlight, bbr.BottleneckBandwidth));
            }
        }
        TransferResult result = transfer.RunFor(duration, Applications);
        sim.Pass();
        return new Run(samples, result, transfer.Sender.SendMss);
    }

    /// <summary>The link's rate in payload bytes per second: every 1500-byte packet carries one MSS.</summary>
    private static double PayloadRate(int mss) => LinkBitsPerSecond / 8 * mss / 1500;

    private static double Bdp(int mss) => PayloadRate(mss) * (2 * OneWayDelay).TotalSeconds;

    [Fact]
    public void Startup_finds_the_bottleneck_rate_then_drain_empties_the_queue_it_built()
    {
        Run run = Transfer(TimeSpan.FromSeconds(2));
        double rate = PayloadRate(run.Mss), bdp = Bdp(run.Mss);
        List<Bbr.BbrMode> modes = [.. run.Samples.Select(s => s.Mode).Distinct()];
        output.WriteLine($"modes {string.Join(" → ", modes)}; bandwidth {run.Samples[^1].Bandwidth * 8 / 1e6:F1} Mbit/s of {rate * 8 / 1e6:F1}; {run.Result.GoodputMbps:F1} Mbit/s");
        Assert.Equal([Bbr.BbrMode.Startup, Bbr.BbrMode.Drain, Bbr.BbrMode.ProbeBw], modes);

        // STARTUP ends within a second (it doubles per round, 20 ms each) with the bottleneck's rate, no more.
        Sample drainStart = run.Samples.First(s => s.Mode == Bbr.BbrMode.Drain);
        Assert.True(drainStart.At < TimeSpan.FromSeconds(1), $"STARTUP lasted until {drainStart.At}");
        Assert.InRange(drainStart.Bandwidth, 0.9 * rate, 1.01 * rate);
        // It built a queue (more than one BDP in flight); DRAIN ends once the flight is down to about one BDP.
        Assert.True(drainStart.InFlight > 2 * bdp, $"{drainStart.InFlight} bytes in flight when STARTUP ended, BDP {bdp:F0}");
        Sample probeStart = run.Samples.First(s => s.Mode == Bbr.BbrMode.ProbeBw);
        Assert.True(probeStart.InFlight <= 1.3 * bdp, $"{probeStart.InFlight} bytes in flight after DRAIN, BDP {bdp:F0}");
        // PROBE_BW keeps about 2 BDP in flight (cwnd gain 2, plus a few send quanta).
        foreach (Sample s in run.Samples.Where(s => s.Mode == Bbr.BbrMode.ProbeBw)) Assert.True(s.Cwnd <= 2.3 * bdp, $"cwnd {s.Cwnd} at {s.At}, BDP {bdp:F0}");
        Assert.True(run.Result.GoodputMbps > 0.85 * LinkBitsPerSecond / 1e6, $"{run.Result.GoodputMbps:F1} Mbit/s");
    }

    [Fact]
    public void Five_percent_random_loss_each_way_does_not_shrink_the_window_as_it_does_cubics()
    {
        Run bbr = Transfer(TimeSpan.FromSeconds(5), lossRate: 0.05);
        Run cubic = Transfer(TimeSpan.FromSeconds(5), lossRate: 0.05, config: BbrConfig with { CongestionControl = CongestionControlAlgorithm.Cubic });
        double bdp = Bdp(bbr.Mss);
        var probeBw = bbr.Samples.Where(s => s.Mode == Bbr.BbrMode.ProbeBw).ToList();
        output.WriteLine($"BBR {bbr.Result.GoodputMbps:F1} Mbit/s ({bbr.Result.Retransmissions} resent, {bbr.Result.Timeouts} RTOs), average cwnd in "
            + $"PROBE_BW {probeBw.Average(s => s.Cwnd) / bdp:F2} BDP; CUBIC {cubic.Result.GoodputMbps:F1} Mbit/s");
        Assert.True(bbr.Result.Retransmissions > 0, "no losses: the test would not test loss");
        // The bandwidth estimate stays at the bottleneck's, so cwnd stays near 2 BDP and the link stays busy.
        Assert.True(probeBw.Average(s => s.Cwnd) >= 1.8 * bdp, $"average cwnd {probeBw.Average(s => s.Cwnd):F0}, BDP {bdp:F0}");
        Assert.True(bbr.Result.GoodputMbps > 0.85 * LinkBitsPerSecond / 1e6, $"BBR {bbr.Result.GoodputMbps:F1} Mbit/s");
        Assert.Equal(0, bbr.Result.Timeouts);
        // CUBIC halves (×0.7) per loss and is held to a few segments: the contrast is what BBR is for.
        Assert.True(cubic.Result.GoodputMbps < bbr.Result.GoodputMbps / 5, $"CUBIC {cubic.Result.GoodputMbps:F1} Mbit/s");
    }

    [Fact]
    public void Probe_rtt_comes_after_ten_seconds_holds_four_segments_for_200_ms_and_restores_cwnd()
    {
        Run run = Transfer(TimeSpan.FromSeconds(11));
        var probeRtt = run.Samples.Where(s => s.Mode == Bbr.BbrMode.ProbeRtt).ToList();
        Assert.NotEmpty(probeRtt);
        TimeSpan start = probeRtt[0].At, end = probeRtt[^1].At;
        output.WriteLine($"PROBE_RTT {start.TotalSeconds:F3}–{end.TotalSeconds:F3} s");
        // The min RTT of the first round (10 s old by then) expires: the link's queue never let the RTT fall back to it.
        Assert.InRange(start, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10.2));
        Assert.All(probeRtt, s => Assert.True(s.Cwnd <= Bbr.MinCwndSegments * run.Mss, $"cwnd {s.Cwnd} in PROBE_RTT at {s.At}"));
        // 200 ms once the flight is down to 4 segments (which takes about the time the queue needs to drain), and a round.
        Assert.InRange(end - start, Bbr.ProbeRttDuration, Bbr.ProbeRttDuration + TimeSpan.FromMilliseconds(100));
        Sample before = run.Samples.Last(s => s.At < start);
        Sample after = run.Samples.First(s => s.At > end);
        Assert.Equal(Bbr.BbrMode.ProbeBw, after.Mode);
        Assert.True(after.Cwnd >= before.Cwnd * 0.95, $"cwnd {after.Cwnd} after PROBE_RTT, {before.Cwnd} before");
    }

    [Fact]
    public void Bbr_sends_no_segment_and_leaves_no_timer_that_cubic_would_not()
    {
        (long Packets, int Retransmissions, TcpConnection Sender) Send(CongestionControlAlgorithm algorithm)
        {
            var config = BbrConfig with { CongestionControl = algorithm, RandomSeed = 3 };
            using var sim = new Simulation(config, config with { RandomSeed = 1003 }, oneWayDelay: OneWayDelay, capture: false,
                bitsPerSecond: LinkBitsPerSecond, name: $"BbrNoExtra_{algorithm}");
            sim.A.RecordEvents = sim.B.RecordEvents = false;
            var transfer = new OneWayTransfer(sim, 4 << 20);
            transfer.RunToCompletion(TimeSpan.FromSeconds(10));
            sim.RunUntil(() => transfer.Sender.SenderInFlight == 0 && transfer.Sender.CongestionController.Window > 0, sim.Now + TimeSpan.FromSeconds(1));
            sim.RunFor(TimeSpan.FromMilliseconds(100));
            sim.Pass();
            return (sim.Link.AToB.PacketsSent, transfer.Sender.Retransmissions, transfer.Sender);
        }
        var bbr = Send(CongestionControlAlgorithm.Bbr);
        var cubic = Send(CongestionControlAlgorithm.Cubic);
        output.WriteLine($"A sent {bbr.Packets} packets with BBR, {cubic.Packets} with CUBIC");
        Assert.Equal(0, bbr.Retransmissions);
        Assert.Equal(cubic.Packets, bbr.Packets); // the data segments, the handshake's ACK: nothing more
        foreach (TcpTimer timer in (TcpTimer[])[TcpTimer.Retransmission, TcpTimer.LossProbe, TcpTimer.ReorderTimeout, TcpTimer.Persist])
        {
            Assert.False(bbr.Sender.Timers.IsArmed(timer), $"{timer} still armed with everything acknowledged");
        }
    }
}
