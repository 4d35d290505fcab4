using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using UserTcp.Benchmarks;

// `--loop ROUNDS N`: the request/response exchange in rounds of N without BenchmarkDotNet, for a profiler (perf record) or
// a quick comparison on a busy machine: prints each round's ns per request, then the smallest and the median.
if (args is ["--loop", string rounds, string count])
{
    double[] perRequest = RequestResponseBenchmarks.Loop(int.Parse(rounds, CultureInfo.InvariantCulture), long.Parse(count, CultureInfo.InvariantCulture));
    Console.WriteLine(string.Join(" ", perRequest.Select(ns => ns.ToString("F0", CultureInfo.InvariantCulture))));
    Array.Sort(perRequest);
    Console.WriteLine(FormattableString.Invariant($"EchoOneByte: min {perRequest[0]:F1} ns, median {perRequest[perRequest.Length / 2]:F1} ns per request"));
    return;
}

// In process: no child project to build and restore (the NuGet mirror here lacks some of what one would need).
IConfig config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
