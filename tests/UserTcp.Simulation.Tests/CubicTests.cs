using UserTcp.Link;
using Xunit.Abstractions;

namespace UserTcp.Simulation.Tests;

/// <summary>CUBIC (RFC 9438) on the simulated link: its window follows the cubic curve, and it beats NewReno on a long fat path.</summary>
public class CubicTests(ITestOutputHelper output)
{
    private const double C = 0.4, Beta = 0.7, Alpha = 3 * (1 - Beta) / (1 + Beta);

    private readonly record struct Sample(TimeSpan At, double Cwnd, double Ssthresh, bool InRecovery, TimeSpan Srtt);

    [Fact]
    public void Cwnd_follows_rfc_9438s_window_function_at_half_a_percent_loss()
    {
        // A long RTT (500 ms) so each epoch spans several RTTs and the cubic curve, not the Reno-friendly line, leads.
        var config = new TcpConfig { ReceiveBufferSize = 4 << 20, SendBufferSize = 4 << 20 };
        using var sim = new Simulation(config with { RandomSeed = 5 }, config with { RandomSeed = 6 }, new FaultOptions { DropRate = 0.005 },
            oneWayDelay: TimeSpan.FromMilliseconds(250), seed: 5, capture: false, bitsPerSecond: 1e9);
        sim.A.RecordEvents = sim.B.RecordEvents = false;
        var transfer = new OneWayTransfer(sim, long.MaxValue);
        var samples = new List<Sample>();
        void Applications()
        {
            transfer.Pump();
            TcpConnection c = transfer.Sender;
            if (c.State == TcpState.Established)
            {
                samples.Add(new Sample(sim.Now, c.CongestionWindow / (double)c.SendMss, c.SlowStartThreshold / (double)c.SendMss, c.InFastRecovery, c.SmoothedRtt));
            }
        }
        sim.RunTo(TimeSpan.FromSeconds(150), Applications);

        // Epochs: a reduction (cwnd falls) gives W_max (RFC 9438 §4.7 fast convergence included) and ssthresh; the epoch
        // starts at the first sample out of recovery, with cwnd_epoch = ssthresh, and lasts until the next reduction.
        int checkedSamples = 0, withinTolerance = 0, cubicRegion = 0, epochs = 0;
        double wMax = 0;
        for (int i = 1; i < samples.Count; i++)
        {
            // An epoch starts where a recovery starts, or where cwnd falls outside recovery (a timeout); inside a recovery
            // PRR moves cwnd with what is in flight (RFC 6937), which is no new epoch.
            bool entersRecovery = samples[i].InRecovery && !samples[i - 1].InRecovery;
            bool falls = samples[i].Cwnd < samples[i - 1].Cwnd - 0.5 && !samples[i].InRecovery && !samples[i - 1].InRecovery;
            if (!entersRecovery && !falls) continue;
            double before = samples[i - 1].Cwnd;
            wMax = before < wMax ? before * (1 + Beta) / 2 : before;
            int start = i;
            while (start < samples.Count && samples[start].InRecovery) start++;
            if (start >= samples.Count || samples[start].Ssthresh < 2 || samples[i].Cwnd <= 1.01) continue; // a timeout: slow start follows
            double cwndEpoch = samples[start].Ssthresh;
            // t counts from the first ACK that grows the window in congestion avoidance (RFC 9438 §4.2; Linux's bictcp_update
            // sets epoch_start there), which can come up to an RTT after recovery ends, when the window first fills.
            while (start + 1 < samples.Count && !samples[start + 1].InRecovery && samples[start + 1].Cwnd <= samples[start].Cwnd
                   && samples[start + 1].Cwnd >= samples[start].Cwnd - 0.5) start++;
            double k = Math.Cbrt(Math.Max(0, wMax - cwndEpoch) / C);
            epochs++;
            for (int j = start; j < samples.Count && samples[j].Cwnd >= samples[j - 1].Cwnd - 0.5 && !samples[j].InRecovery; j++)
            {
                double t = (samples[j].At - samples[start].At).TotalSeconds;
                double rtt = samples[j].Srtt.TotalSeconds;
                double wCubic = C * Math.Pow(t - k, 3) + wMax;                              // RFC 9438 eq. 1
                double wEst = cwndEpoch + Alpha * t / rtt;                                    // §4.3, one α per RTT
                double expected = Math.Max(wCubic, wEst);
                checkedSamples++;
                if (wCubic > wEst + 1) cubicRegion++;
                if (Math.Abs(samples[j].Cwnd - expected) <= Math.Max(2, 0.1 * expected)) withinTolerance++;
            }
        }
        output.WriteLine($"{epochs} epochs, {checkedSamples} samples, {cubicRegion} in the cubic region, {withinTolerance} within tolerance");
        Assert.True(epochs >= 10, $"only {epochs} epochs");
        Assert.True(cubicRegion > checkedSamples / 2, $"only {cubicRegion} of {checkedSamples} samples in the cubic region: the test would not test the curve");
        Assert.True(withinTolerance >= 0.9 * checkedSamples, $"{withinTolerance} of {checkedSamples} samples within max(2 segments, 10 %) of W(t)");
        sim.Pass();
    }

    [Fact]
    public void Cubic_beats_newreno_on_a_100_ms_1_gbit_path_with_a_hundredth_of_a_percent_loss()
    {
        // 30 s from the connection's start: slow start, the losses that end it, and the regrowth after each loss,
        // which is where CUBIC's time-based curve outpaces one segment per RTT. Under random loss fast convergence keeps
        // CUBIC close to NewReno, so one seed may see them level (seed 21: CUBIC 66.2, NewReno 67.4 Mbit/s with a
        // receiver that ACKs every second segment, as Linux): CUBIC must win over both seeds and lose none by more than 5 %.
        double cubicTotal = 0, newRenoTotal = 0;
        foreach (int seed in (int[])[11, 21])
        {
            double cubic = Goodput(CongestionControlAlgorithm.Cubic, seed);
            double newReno = Goodput(CongestionControlAlgorithm.NewReno, seed);
            output.WriteLine($"goodput over 30 s, seed {seed}: CUBIC {cubic:0.0} Mbit/s, NewReno {newReno:0.0} Mbit/s");
            Assert.True(cubic > 0.95 * newReno, $"seed {seed}: CUBIC {cubic:0.0} Mbit/s, NewReno {newReno:0.0} Mbit/s");
            cubicTotal += cubic;
            newRenoTotal += newReno;
        }
        Assert.True(cubicTotal > newRenoTotal, $"CUBIC {cubicTotal:0.0} Mbit/s, NewReno {newRenoTotal:0.0} Mbit/s over both seeds");
    }

    private static double Goodput(CongestionControlAlgorithm algorithm, int seed)
    {
        var config = new TcpConfig { CongestionControl = algorithm, ReceiveBufferSize = 32 << 20, SendBufferSize = 32 << 20 };
        using var sim = new Simulation(config with { RandomSeed = seed }, config with { RandomSeed = seed + 1 }, new FaultOptions { DropRate = 0.0001 },
            oneWayDelay: TimeSpan.FromMilliseconds(50), seed: seed, capture: false, bitsPerSecond: 1e9, name: $"LongFatPath_{algorithm}_{seed}");
        sim.A.RecordEvents = sim.B.RecordEvents = false;
        TransferResult result = new OneWayTransfer(sim, long.MaxValue).RunFor(TimeSpan.FromSeconds(30));
        sim.Pass();
        return result.GoodputMbps;
    }
}
