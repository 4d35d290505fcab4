using System.Diagnostics;

namespace UserTcp.Link.Tests;

/// <summary>
/// <see cref="DedicatedTimer"/> re-armed: the last instant armed is the one that counts, earlier or later than the one
/// before (a later one wakes nobody, so the thread must find it on its own), and a disarmed timer never fires. Real time,
/// so the bounds are loose; its on-time firing beside a starved pool is <see cref="FaultDelayLineTests"/>'.
/// </summary>
public sealed class DedicatedTimerTests
{
    // Scheduling on a busy 2-vCPU machine (a load of 19 made a wake-up 150 ms late): loose, since what these tests tell
    // apart is an instant far earlier (the lower bounds) or never.
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(1);

    [Fact]
    public void Re_armed_later_it_fires_once_at_the_later_instant_not_the_earlier()
    {
        using var fired = new SemaphoreSlim(0);
        long firedAt = 0;
        using var timer = new DedicatedTimer(() =>
        {
            Volatile.Write(ref firedAt, Stopwatch.GetTimestamp());
            fired.Release();
        }, "timer test");
        timer.Change(TimeSpan.FromMilliseconds(400), Timeout.InfiniteTimeSpan);
        Thread.Sleep(20); // the thread sleeps toward the first instant
        Assert.Equal(0, fired.CurrentCount); // (a machine so slow that 20 ms took 400 would prove nothing here)
        long rearmed = Stopwatch.GetTimestamp();
        timer.Change(TimeSpan.FromMilliseconds(800), Timeout.InfiniteTimeSpan);

        Assert.True(fired.Wait(TimeSpan.FromSeconds(3)), "the timer did not fire within 3 s");
        Assert.InRange(Stopwatch.GetElapsedTime(rearmed, Volatile.Read(ref firedAt)), TimeSpan.FromMilliseconds(800), TimeSpan.FromMilliseconds(800) + Tolerance);
        Assert.False(fired.Wait(TimeSpan.FromMilliseconds(200)), "the timer fired twice");
    }

    [Fact]
    public void Re_armed_sooner_it_fires_at_the_sooner_instant()
    {
        using var fired = new SemaphoreSlim(0);
        using var timer = new DedicatedTimer(() => fired.Release(), "timer test");
        timer.Change(TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
        Thread.Sleep(100); // the thread has started and sleeps toward the first instant: only a wake-up moves it
        long armed = Stopwatch.GetTimestamp();
        timer.Change(TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);

        Assert.True(fired.Wait(TimeSpan.FromSeconds(2)), "the timer still waited for the first instant");
        Assert.InRange(Stopwatch.GetElapsedTime(armed), TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Disarmed_it_never_fires()
    {
        using var fired = new SemaphoreSlim(0);
        using var timer = new DedicatedTimer(() => fired.Release(), "timer test");
        timer.Change(TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);
        timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        Assert.False(fired.Wait(TimeSpan.FromMilliseconds(300)), "a disarmed timer fired");
    }
}
