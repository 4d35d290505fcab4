namespace UserTcp.Engine.Tests;

/// <summary>RFC 6298's arithmetic in integer ticks gives exactly what TimeSpan's double division gave (pinned RTOs stay).</summary>
public class RtoArithmeticTests
{
    [Fact]
    public void Integer_division_rounds_as_timespan_division_does_halves_and_negatives_included()
    {
        var random = new Random(6298);
        long[] divisors = [2, 4, 8, 12, 16, 24, 32, 40, 80, 4 * 1000, 8 * 1000];
        for (int i = 0; i < 200_000; i++)
        {
            long divisor = divisors[i % divisors.Length];
            // Small values hit every remainder (the halves among them); large ones span RTTs up to minutes.
            long ticks = i % 2 == 0 ? random.NextInt64(-1000, 1000) : random.NextInt64(-TimeSpan.TicksPerMinute, TimeSpan.TicksPerMinute);
            var value = TimeSpan.FromTicks(ticks);
            Assert.Equal(value / divisor, RtoEstimator.Divide(value, divisor));
        }
        Assert.Equal(TimeSpan.FromTicks(2), RtoEstimator.Divide(TimeSpan.FromTicks(5), 2)); // 2.5 to even
        Assert.Equal(TimeSpan.FromTicks(4), RtoEstimator.Divide(TimeSpan.FromTicks(7), 2)); // 3.5 to even
        Assert.Equal(TimeSpan.FromTicks(-2), RtoEstimator.Divide(TimeSpan.FromTicks(-5), 2));
    }
}
