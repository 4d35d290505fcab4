using System.Globalization;
using CsCheck;
using Xunit.Abstractions;

namespace UserTcp.Engine.Tests.Fuzz;

/// <summary>
/// The engine fuzzed with CsCheck-generated scenarios (<see cref="FuzzRig"/>): a million packets or more on every
/// run, from a fixed seed so CI sees the same ones each time. Long mode, for manual runs with fresh seeds on every
/// core, and replay of a failing seed (which CsCheck then shrinks to the smallest scenario that still fails):
/// <code>
/// USERTCP_FUZZ_MINUTES=30 dotnet test tests/UserTcp.Engine.Tests -c Release --filter FullyQualifiedName~EngineFuzzTests.Long_mode
/// USERTCP_FUZZ_REPLAY=SEED dotnet test tests/UserTcp.Engine.Tests -c Release --filter FullyQualifiedName~EngineFuzzTests.Replay
/// </code>
/// </summary>
public sealed class EngineFuzzTests(ITestOutputHelper output)
{
    private const long PacketsPerRun = 1_000_000;
    private const int MaxSteps = 400;
    private const uint Stream = 5961;
    private const ulong Seed = 20261205;

    private static readonly Gen<FuzzScenario> Scenarios =
        Gen.Select(Gen.Int[0, FuzzRig.StartNames.Length - 1], Gen.UInt.Array[FuzzStep.Words, FuzzStep.Words * MaxSteps],
            (start, genome) => new FuzzScenario(start, genome[..(genome.Length / FuzzStep.Words * FuzzStep.Words)]));

    [Fact]
    public void A_million_fuzzed_packets_break_no_invariant_and_leave_nothing_behind()
    {
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        var pcg = new PCG(Stream, Seed);
        var total = new FuzzTally();
        while (total.Packets < PacketsPerRun)
        {
            string seed = pcg.ToString(pcg.State);
            FuzzScenario scenario = Scenarios.Generate(pcg, null, out _);
            try
            {
                total.Add(FuzzRig.Run(scenario));
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"scenario {total.Scenarios} failed; replay and shrink it with USERTCP_FUZZ_REPLAY={seed}\n{e}\n{scenario}");
            }
        }
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Report(total);
        output.WriteLine($"managed heap: {baseline / 1024} KiB before, {after / 1024} KiB after");

        // The run reached what it claims to: every start state, refusals of every kind, data read and checked.
        Assert.True(total.Malformed > total.Packets / 20, $"only {total.Malformed} refused packets");
        Assert.True(total.BytesRead > 1_000_000, $"only {total.BytesRead} bytes read back and checked");
        Assert.True(total.EndStates[(int)TcpState.Established] > 0 && total.EndStates[(int)TcpState.TimeWait] > 0, "the scenarios ended in too few states");
        // Memory back to baseline: the engines are gone and nothing static grew (a few MiB of JIT and GC noise allowed).
        Assert.True(after - baseline < 8 << 20, $"managed heap grew from {baseline} to {after} bytes");
    }

    [Fact]
    public void Long_mode()
    {
        string? minutes = Environment.GetEnvironmentVariable("USERTCP_FUZZ_MINUTES");
        if (minutes is null)
        {
            output.WriteLine("long mode runs only with USERTCP_FUZZ_MINUTES set");
            return;
        }
        var total = new FuzzTally();
        DateTime began = DateTime.UtcNow;
        Scenarios.Sample((Action<FuzzScenario>)(scenario =>
        {
            FuzzTally one = FuzzRig.Run(scenario);
            lock (total) total.Add(one);
        }), time: (int)(double.Parse(minutes, CultureInfo.InvariantCulture) * 60));
        output.WriteLine($"long mode: {DateTime.UtcNow - began:hh\\:mm\\:ss}");
        Report(total);
    }

    [Fact]
    public void Replay()
    {
        string? seed = Environment.GetEnvironmentVariable("USERTCP_FUZZ_REPLAY");
        if (seed is null)
        {
            output.WriteLine("replay runs only with USERTCP_FUZZ_REPLAY set to a failing scenario's seed");
            return;
        }
        // The seed's scenario runs first; if it fails, CsCheck spends the remaining iterations shrinking it.
        Scenarios.Sample((Action<FuzzScenario>)(scenario => FuzzRig.Run(scenario)), seed: seed, iter: 5_000, threads: 1);
    }

    private void Report(FuzzTally t)
    {
        output.WriteLine($"{t.Scenarios} scenarios, {t.Packets} packets in ({t.Segments} segments, {t.Malformed} refused, {t.Icmp} ICMP), {t.PacketsOut} out, {t.BytesRead} bytes read and checked");
        output.WriteLine("states at the end: " + string.Join(", ", Enum.GetValues<TcpState>().Where(s => t.EndStates[(int)s] > 0).Select(s => $"{s.ToRfcName()} {t.EndStates[(int)s]}")));
    }
}
