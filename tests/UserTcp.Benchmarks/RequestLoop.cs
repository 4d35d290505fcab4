namespace UserTcp.Benchmarks;

/// <summary>
/// A request benchmark run without BenchmarkDotNet, for a profiler (perf record) or a quick comparison on a busy machine:
/// rounds of N requests, each round's nanoseconds per request (the smallest is the least disturbed).
/// </summary>
internal static class RequestLoop
{
    /// <summary>
    /// The last run's rounds by the process's CPU time, ns per request: on a busy machine the wall clock also counts the
    /// time other processes held the CPU, and this does not.
    /// </summary>
    public static double[] LastCpuPerRequest { get; private set; } = [];

    /// <param name="request">One request; returns 1 when it was answered as it should be.</param>
    public static double[] Run(Func<int> request, int rounds, long count)
    {
        var perRequest = new double[rounds];
        var cpuPerRequest = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            long answered = 0;
            TimeSpan cpu = Environment.CpuUsage.TotalTime;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            for (long i = 0; i < count; i++) answered += request();
            perRequest[round] = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
            cpuPerRequest[round] = (Environment.CpuUsage.TotalTime - cpu).TotalNanoseconds / count;
            if (answered != count) throw new InvalidOperationException($"{count} requests, {answered} answered");
        }
        LastCpuPerRequest = cpuPerRequest;
        return perRequest;
    }
}
