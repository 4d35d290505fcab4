using UserTcp.Link;
using Xunit.Abstractions;

namespace UserTcp.Simulation.Tests;

/// <summary>
/// BBR (Linux tcp_bbr.c, v1) on the simulated link, manual clock: STARTUP finds the bottleneck rate, DRAIN empties the
/// queue STARTUP built, PROBE_RTT comes after 10 s of a stale min RTT with cwnd at 4 segments, and random loss does not
/// shrink the window as it does CUBIC's.
/// </summary>
public class BbrTests(ITestOutputHelper output)
{
    private static readonly TcpConfig BbrConfig = new() { CongestionControl = CongestionControlAlgorithm.Bbr, ReceiveBufferSize = 8 << 20, SendBufferSize = 8 << 20 };

    private readonly record struct Sample(TimeSpan At, Bbr.BbrMode Mode, int Cwnd, int InFlight, double Bandwidth, bool FullBandwidth);

    /// <summary>A transfer from A to B for <paramref name="duration"/>, sampling A's BBR after every step.</summary>
    private (List<Sample> Samples, TransferResult Result, TcpConnection Sender) Run(TimeSpan duration, double lossRate = 0, int seed = 1,
        double bitsPerSecond = 100e6, TimeSpan? oneWayDelay = null, TcpConfig? config = null)
    {
        config ??= BbrConfig;
        var faults = new FaultOptions { DropRate = lossRate };
        using var sim = new Simulation(config with { RandomSeed = seed }, config with { RandomSeed = seed + 1000 }, faults, faults,
            oneWayDelay: oneWayDelay ?? TimeSpan.FromMilliseconds(10), seed: seed, capture: false, bitsPerSecond: bitsPerSecond);
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
                samples.Add(new Sample(sim.Now, bbr.Mode, c.CongestionWindow, c.SenderInFlight, bbr.BottleneckBandwidth, bbr.FullBandwidthReached));
            }
        }
        sim.RunTo(duration, Applications);
        TransferResult result = transfer.RunFor(TimeSpan.Zero) with { Bytes = transfer.Received, Elapsed = duration };
        sim.Pass();
        return (samples, result, transfer.Sender);
    }

    [Fact]
    public void Explore()
    {
        foreach (double loss in (double[])[0, 0.01, 0.05])
        {
            var (samples, result, sender) = Run(TimeSpan.FromSeconds(12), loss);
            output.WriteLine($"loss {loss}: {result.GoodputMbps:F1} Mbit/s, {result.Timeouts} RTOs, {result.Retransmissions} retx");
            Bbr.BbrMode last = (Bbr.BbrMode)255;
            foreach (Sample s in samples)
            {
                if (s.Mode != last) output.WriteLine($"  {s.At.TotalMilliseconds:F0} ms {s.Mode} cwnd {s.Cwnd} inflight {s.InFlight} bw {s.Bandwidth * 8 / 1e6:F1} Mbit/s full {s.FullBandwidth}");
                last = s.Mode;
            }
            var probeBw = samples.Where(s => s.Mode == Bbr.BbrMode.ProbeBw).ToList();
            if (probeBw.Count > 0) output.WriteLine($"  PROBE_BW cwnd min {probeBw.Min(s => s.Cwnd)} avg {probeBw.Average(s => s.Cwnd):F0} max {probeBw.Max(s => s.Cwnd)}");
            var cubic = Run(TimeSpan.FromSeconds(12), loss, config: BbrConfig with { CongestionControl = CongestionControlAlgorithm.Cubic });
            output.WriteLine($"  cubic: {cubic.Result.GoodputMbps:F1} Mbit/s, {cubic.Result.Timeouts} RTOs");
        }
    }
}
