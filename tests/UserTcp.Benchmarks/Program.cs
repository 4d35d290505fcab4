using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using UserTcp.Benchmarks;

// `--loop ROUNDS N`: the request/response exchange in rounds of N without BenchmarkDotNet, for a profiler (perf record) or
// a quick comparison on a busy machine: prints each round's ns per request, then the smallest and the median.
// `--loop-runtime ROUNDS N` does the same for the whole runtime's request (EchoRuntimeBenchmarks).
if (args is [string loop and ("--loop" or "--loop-runtime"), string rounds, string count])
{
    int r = int.Parse(rounds, CultureInfo.InvariantCulture);
    long n = long.Parse(count, CultureInfo.InvariantCulture);
    double[] perRequest = loop == "--loop" ? RequestResponseBenchmarks.Loop(r, n) : EchoRuntimeBenchmarks.Loop(r, n);
    Console.WriteLine(string.Join(" ", perRequest.Select(ns => ns.ToString("F0", CultureInfo.InvariantCulture))));
    Array.Sort(perRequest);
    string name = loop == "--loop" ? "EchoOneByte (engine)" : "EchoOneByte (runtime)";
    Console.WriteLine(FormattableString.Invariant($"{name}: min {perRequest[0]:F1} ns, median {perRequest[perRequest.Length / 2]:F1} ns per request"));
    double[] cpu = RequestLoop.LastCpuPerRequest.Order().ToArray();
    Console.WriteLine(FormattableString.Invariant($"{name}, by CPU time: min {cpu[0]:F1} ns, median {cpu[cpu.Length / 2]:F1} ns per request"));
    return;
}

// `--loop-plain-ab ROUNDS N`: the engine's exchange with and without PlainSegmentWriter, round by round in one process.
if (args is ["--loop-plain-ab", string abRounds, string abCount])
{
    (double[] with, double[] without, double[] cpuWith, double[] cpuWithout) = RequestResponseBenchmarks.LoopPlainSegments(
        int.Parse(abRounds, CultureInfo.InvariantCulture), long.Parse(abCount, CultureInfo.InvariantCulture));
    Console.WriteLine(FormattableString.Invariant($"EchoOneByte (engine), wall: {Compare(with, without)}"));
    Console.WriteLine(FormattableString.Invariant($"EchoOneByte (engine), CPU:  {Compare(cpuWith, cpuWithout)}"));
    return;
}

static string Compare(double[] with, double[] without)
{
    double[] ratios = with.Zip(without, (a, b) => a / b).Order().ToArray();
    double[] a = with.Order().ToArray(), b = without.Order().ToArray();
    return FormattableString.Invariant(
        $"plain writer min {a[0]:F1} median {a[a.Length / 2]:F1} ns; PacketWriter alone min {b[0]:F1} median {b[b.Length / 2]:F1} ns; round ratio median {ratios[ratios.Length / 2]:F3}");
}

// In process: no child project to build and restore (the NuGet mirror here lacks some of what one would need).
IConfig config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
