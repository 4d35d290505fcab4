using UserTcp.Link;
using Xunit.Abstractions;

namespace UserTcp.Simulation.Tests;

/// <summary>
/// Issue 15, "Must show": the live loss experiment (`usertcp bench --loss 5`, docs/goodput.md) on the simulated link, so
/// a change that brings retransmission timeouts back, or resends more than the losses call for, fails here. The link is
/// shaped like the live one — a TUN device in the same machine: 0.1 ms RTT, 1 Gbit/s, 5 % random loss each way — and
/// the bounds sit just above what today's engine needs on every seed (in the comments). The RTOs over all seeds pin the
/// probe fixes (paired probes, a second probe per stall): with RFC 8985's single probe, they come back. The simulated receiver is UserTcp, which delays the ACK of a lone segment as Linux does but acknowledges
/// every out-of-order segment at once; live, Linux's receiver also compresses ACKs, so the live run meets more tail
/// losses of ACKs (docs/goodput.md).
/// </summary>
public class GoodputRegressionTests(ITestOutputHelper output)
{
    private const long Length = 16 * 1024 * 1024;
    private static readonly int[] Seeds = [1, 2, 3, 4, 5, 6];

    /// <summary>Before the probe fixes of docs/goodput.md: one probe per stall, of one segment (RFC 8985, Linux).</summary>
    private static readonly TcpConfig SingleProbe = new() { PairedProbe = false, LossProbes = 1 };

    [Fact]
    public void Five_percent_loss_each_way_is_repaired_with_few_timeouts_and_little_more_than_the_losses_resent()
    {
        List<TransferResult> results = RunSeedsWithinBounds(new TcpConfig(), MaxBytesResent);
        int timeouts = results.Sum(r => r.Timeouts);
        Assert.True(timeouts <= MaxTotalTimeouts, $"{timeouts} RTOs over the seeds, at most {MaxTotalTimeouts} expected");
        // The bound on BBR's time has teeth: CUBIC, which shrinks its window for every random loss, takes longer.
        TimeSpan elapsed = TimeSpan.FromTicks(results.Sum(r => r.Elapsed.Ticks));
        Assert.True(elapsed > MaxBbrTime, $"CUBIC took {elapsed.TotalSeconds:F3} s over the seeds, within BBR's bound");
    }

    [Fact]
    public void Bbr_at_five_percent_loss_each_way_keeps_its_window_with_few_timeouts()
    {
        List<TransferResult> results = RunSeedsWithinBounds(new TcpConfig { CongestionControl = CongestionControlAlgorithm.Bbr }, MaxBbrBytesResent);
        int timeouts = results.Sum(r => r.Timeouts);
        Assert.True(timeouts <= MaxBbrTotalTimeouts, $"{timeouts} RTOs over the seeds, at most {MaxBbrTotalTimeouts} expected");
        TimeSpan elapsed = TimeSpan.FromTicks(results.Sum(r => r.Elapsed.Ticks));
        Assert.True(elapsed <= MaxBbrTime, $"{elapsed.TotalSeconds:F3} s over the seeds, at most {MaxBbrTime.TotalSeconds} s expected");
    }

    /// <summary>Every seed, each within the per-seed bounds: all bytes, at most <see cref="MaxTimeouts"/> RTOs and <paramref name="maxBytesResent"/>.</summary>
    private List<TransferResult> RunSeedsWithinBounds(TcpConfig config, long maxBytesResent)
    {
        var results = new List<TransferResult>();
        foreach (int seed in Seeds)
        {
            TransferResult result = Run(config, seed);
            results.Add(result);
            output.WriteLine($"{config.CongestionControl.LinuxName()}, seed {seed}: {result.Elapsed.TotalSeconds:F3} s simulated, {result.Timeouts} RTOs, "
                + $"{result.Retransmissions} retransmissions, {result.BytesRetransmitted} bytes resent");
            Assert.Equal(Length, result.Bytes);
            Assert.True(result.Timeouts <= MaxTimeouts, $"seed {seed}: {result.Timeouts} RTOs, at most {MaxTimeouts} expected");
            Assert.True(result.BytesRetransmitted <= maxBytesResent, $"seed {seed}: {result.BytesRetransmitted} bytes resent, at most {maxBytesResent} expected");
        }
        return results;
    }

    [Fact]
    public void The_bounds_catch_the_single_probe_of_rfc_8985()
    {
        // The total has teeth: with one probe of one segment per stall, a stall whose probe's ACK is lost as well ends in
        // an RTO. (The margin here is one RTO; live, against Linux's receiver, the difference is far larger: docs/goodput.md.)
        int timeouts = Seeds.Sum(seed => Run(SingleProbe, seed).Timeouts);
        output.WriteLine($"single probe: {timeouts} RTOs over the seeds");
        Assert.True(timeouts > MaxTotalTimeouts, $"only {timeouts} RTOs with a single probe");
    }

    [Fact]
    public void The_bounds_catch_recovery_without_sack()
    {
        // The bounds have teeth: NewReno without SACK — the kernel's fallback against a stack that offers no SACK, the
        // cause named in issue 15 — breaks the RTO bound on every seed.
        foreach (int seed in Seeds[..3])
        {
            TransferResult result = Run(new TcpConfig { Sack = false }, seed);
            output.WriteLine($"no SACK, seed {seed}: {result.Timeouts} RTOs, {result.BytesRetransmitted} bytes resent");
            Assert.True(result.Timeouts > MaxTimeouts, $"seed {seed}: only {result.Timeouts} RTOs without SACK");
        }
    }

    // Today (16 MiB, seeds 1–6, re-measured 2026-12-07 after the ACK that ends a recovery grows cwnd, counts a D-SACKed
    // copy as delivered and may start the next recovery, as Linux's): 0, 1, 0, 0, 0 and 1 RTOs (2; seed 6's is its SYN's,
    // the SYN-ACK lost); 874,592–957,129 bytes resent (5.2–5.7 % of the length, every lost segment once plus the lost
    // retransmissions); 6.68 s in all. With a single probe: 7 RTOs. Without SACK: 84 RTOs on seed 1. (Before that:
    // 0, 0, 0, 1, 0, 2 RTOs, 7.20 s, 4 with a single probe; earlier 0, 0, 0, 0, 0, 2 and 11 with a single probe, then
    // 0, 0, 0, 1, 0, 1; the SYN-ACK that answers seed 6's repeated SYN restarting its timer, as Linux's, sends one
    // SYN-ACK fewer there, and the rest of that run takes another course.)
    // The margin over the single probe is small (the simulated receiver does not compress ACKs as Linux does); if another
    // engine change moves these counts, re-measure both tests — PairedProbeTests and SecondProbeTests pin the mechanisms.
    private const int MaxTimeouts = 2;
    private const int MaxTotalTimeouts = 3;
    private const long MaxBytesResent = Length * 13 / 200; // 6.5 %: meant to catch resending what was SACKed, or spurious retransmissions

    // BBR today (seeds 1–6, re-measured 2026-12-07 after its rate samples count a D-SACKed copy as delivered, as Linux's
    // tcp_dsack_seen adds it to tp->delivered): 0, 0, 0, 0, 0, 1 RTOs; 0.15–1.16 s each, 2.42 s in all (CUBIC: 6.68 s);
    // 5.4–13.7 % resent (seeds 2 and 3 at 13.7 and 12.5 %: the higher bandwidth keeps more in flight, more of which the
    // receiver holds unSACKed). Bound 15 % (was 13 %). The same after bbr_init's first pacing rate (session 26): at this
    // 0.1 ms SRTT it allows TSO packets of half of cwnd, as no rate did. (Before that, after the recovery-end changes above: a recovery may
    // now start on the ACK that ends the last, which BBR's packet conservation follows: 0, 0, 0, 0, 0, 1 RTOs; 3.14 s in
    // all; 5.4–9.9 % resent. Before: 0, 0, 0, 1, 0, 1 RTOs, 3.46 s, 5.6–11.1 % resent, after that
    // day's loss-phase changes; 0, 0, 0, 0, 0, 1 RTOs, 2.39 s in all, 6.7–12.1 % resent before them; earlier 1, 2, 3, …
    // before a probe sent in recovery ended its episode when SACKed, docs/design.md.)
    // With ~150 segments in flight and a twentieth of the ACKs lost, some segments the receiver holds are never SACKed
    // (an ACK carries 3 blocks) and RACK resends them. Since a SACKed resend moves RACK as in Linux (RackAdvanceTests) it
    // does so sooner: before, 0, 1, 0, 0, 0, 1 RTOs, 3.13 s in all and 5.5–8.6 % resent (bound 10 %). The time bound
    // fails if BBR's window shrinks for random loss.
    private const int MaxBbrTotalTimeouts = 3;
    private const long MaxBbrBytesResent = Length * 3 / 20;
    private static readonly TimeSpan MaxBbrTime = TimeSpan.FromSeconds(4.5);

    private static TransferResult Run(TcpConfig config, int seed)
    {
        var faults = new FaultOptions { DropRate = 0.05 };
        using var sim = new Simulation(config with { RandomSeed = seed }, config with { RandomSeed = seed + 1000 }, faults, faults,
            oneWayDelay: TimeSpan.FromMicroseconds(50), seed: seed, capture: false, bitsPerSecond: 1e9, name: $"Goodput_{seed}");
        sim.A.RecordEvents = false;
        sim.B.RecordEvents = false;
        TransferResult result = new OneWayTransfer(sim, Length).RunToCompletion(TimeSpan.FromMinutes(30));
        sim.Pass();
        return result;
    }
}
