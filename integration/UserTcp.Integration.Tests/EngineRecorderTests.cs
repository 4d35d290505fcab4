using UserTcp.Engine;
using UserTcp.Lab;

namespace UserTcp.Integration.Tests;

/// <summary>The lab's wait for a state: completes when the engine reports it, without a thread held for it (no root).</summary>
public sealed class EngineRecorderTests
{
    private static readonly FourTuple Connection = new(new IpEndpoint(Addresses.StackAddress, 5004), new IpEndpoint(Addresses.KernelAddress, 40000));

    [Fact]
    public async Task A_wait_ends_when_the_state_is_entered_and_not_before()
    {
        var recorder = new EngineRecorder();
        Task<bool> waiting = recorder.WaitForStateAsync(Connection, TcpState.TimeWait, TimeSpan.FromSeconds(30), CancellationToken.None);

        recorder.OnEvent(State(TcpState.FinWait1, TcpState.Closing));
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        recorder.OnEvent(State(TcpState.Closing, TcpState.TimeWait));

        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        // Already entered: at once.
        Assert.True(recorder.WaitForStateAsync(Connection, TcpState.Closing, TimeSpan.Zero, CancellationToken.None).IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_wait_times_out_false_and_a_cancelled_one_throws()
    {
        var recorder = new EngineRecorder();
        using var cancel = new CancellationTokenSource();

        Assert.False(await recorder.WaitForStateAsync(Connection, TcpState.TimeWait, TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Task<bool> cancelled = recorder.WaitForStateAsync(Connection, TcpState.TimeWait, TimeSpan.FromSeconds(30), cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
    }

    [Fact]
    public async Task Waits_hold_no_thread_while_they_wait()
    {
        // Many lab waits at once (each as long as a TIME-WAIT) must leave the thread pool free: a timer queued meanwhile
        // (the fault injector's release of a delayed packet) runs on time. A wait that blocked a pool thread each would
        // hold more threads than the pool has.
        var recorder = new EngineRecorder();
        Task<bool>[] waits = [.. Enumerable.Range(0, 64).Select(_ => recorder.WaitForStateAsync(Connection, TcpState.TimeWait, TimeSpan.FromSeconds(30), CancellationToken.None))];

        Task<int> probe = Task.Run(() => 1);
        Task ran = await Task.WhenAny(probe, Task.Delay(TimeSpan.FromSeconds(2)));
        Assert.True(ran == probe, "a work item queued behind 64 waits did not run within 2 s");
        recorder.OnEvent(State(TcpState.Closing, TcpState.TimeWait));
        Assert.All(await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10)), Assert.True);
    }

    private static TcpEvent State(TcpState from, TcpState to) => new(TimeSpan.Zero, TcpEventKind.StateChanged, Connection, from, to);
}
