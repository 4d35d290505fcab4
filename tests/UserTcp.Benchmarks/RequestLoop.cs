namespace UserTcp.Benchmarks;

/// <summary>
/// A request benchmark run without BenchmarkDotNet, for a profiler (perf record) or a quick comparison on a busy machine:
/// rounds of N requests, each round's nanoseconds per request (the smallest is the least disturbed).
/// </summary>
internal static class RequestLoop
{
    /// <param name="request">One request; returns 1 when it was answered as it should be.</param>
    public static double[] Run(Func<int> request, int rounds, long count)
    {
        var perRequest = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            long answered = 0;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            for (long i = 0; i < count; i++) answered += request();
            perRequest[round] = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalNanoseconds / count;
            if (answered != count) throw new InvalidOperationException($"{count} requests, {answered} answered");
        }
        return perRequest;
    }
}
