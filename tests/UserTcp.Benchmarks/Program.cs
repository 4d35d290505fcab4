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
    return;
}

// In process: no child project to build and restore (the NuGet mirror here lacks some of what one would need).
IConfig config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
