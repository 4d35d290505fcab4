using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// Readiness (<see cref="UserTcpConnection.Poll"/>) and the epoll-like <see cref="UserTcpEventPoll"/> on a pumped pair:
/// every wakeup happens inside Pump, on the fake clock, so each test is exact. The scripts in tests/scripts/events
/// cover the same through the runner; these cover what a script cannot: WaitAsync, its timeout and Remove.
/// </summary>
public sealed class EventPollTests
{
    [Fact]
    public async Task WaitAsync_completes_when_data_arrives_and_not_before()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        using var poll = new UserTcpEventPoll(net.Server);
        poll.Add(server, UserTcpPollEvents.In, UserTcpPollMode.EdgeTriggered);
        var results = new UserTcpPollResult[4];

        ValueTask<int> waiting = poll.WaitAsync(results);
        Assert.False(waiting.IsCompleted); // nothing to read: the ADD of a socket that is not ready reports nothing
        await client.WriteAsync("ping"u8.ToArray());
        net.Pump();
        Assert.Equal(1, await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Same(server, results[0].Target);
        Assert.Equal(UserTcpPollEvents.In, results[0].Events);
        Assert.Equal(0, poll.Wait(results)); // edge-triggered: reported once
        Assert.Equal(UserTcpPollEvents.In | UserTcpPollEvents.Out, server.Poll());
    }

    [Fact]
    public async Task WaitAsync_returns_zero_when_its_time_on_the_stack_clock_runs_out()
    {
        await using var net = new PumpedPair();
        (_, _, UserTcpConnection server) = await net.ConnectAsync();
        using var poll = new UserTcpEventPoll(net.Server);
        poll.Add(server, UserTcpPollEvents.In, UserTcpPollMode.Level);

        ValueTask<int> waiting = poll.WaitAsync(new UserTcpPollResult[1], TimeSpan.FromMilliseconds(500));
        net.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(waiting.IsCompleted);
        net.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_removed_connection_is_never_reported_and_a_closed_peer_reads_as_hangup_of_the_read_side()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        using var poll = new UserTcpEventPoll(net.Server);
        poll.Add(server, UserTcpPollEvents.In | UserTcpPollEvents.ReadHangup, UserTcpPollMode.Level);
        Assert.Throws<InvalidOperationException>(() => poll.Add(server, UserTcpPollEvents.In, UserTcpPollMode.Level)); // EEXIST
        Assert.True(poll.Remove(server));
        Assert.False(poll.Remove(server)); // ENOENT
        Assert.Equal(0, poll.Count);

        await client.CloseAsync();
        net.Pump();
        var results = new UserTcpPollResult[1];
        Assert.Equal(0, poll.Wait(results));
        Assert.Equal(UserTcpPollEvents.In | UserTcpPollEvents.ReadHangup | UserTcpPollEvents.Out, server.Poll());
    }

    [Fact]
    public async Task A_full_send_buffer_is_not_writable_and_room_after_an_ack_wakes_an_edge_triggered_writer()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, _) = await net.ConnectAsync();
        client.SendBufferSize = 4000;
        using var poll = new UserTcpEventPoll(net.Client);
        poll.Add(client, UserTcpPollEvents.Out, UserTcpPollMode.EdgeTriggered);
        var results = new UserTcpPollResult[1];
        Assert.Equal(1, poll.Wait(results)); // the ADD of a writable socket

        Assert.Equal(4000, client.Send(new byte[10_000], out _));
        Assert.Equal(UserTcpPollEvents.None, client.Poll());
        Assert.Equal(0, poll.Wait(results));
        net.Pump(); // the peer's ACKs free the buffer: the write-space wakeup
        Assert.Equal(1, poll.Wait(results));
        Assert.Equal(UserTcpPollEvents.Out, results[0].Events);
    }

    [Fact]
    public async Task The_unsent_low_water_mark_limits_a_write_and_writability()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, _) = await net.ConnectAsync();
        client.NotSentLowWatermark = 1;
        Assert.Equal(1u, client.NotSentLowWatermark);
        int taken = client.Send(new byte[1_000_000], out _);
        // What the initial window lets go at once, and one chunk of the size goal on top: far less than the buffer.
        Assert.InRange(taken, 1, 200_000);
        Assert.True(client.BytesNotSent > 0);
        Assert.Equal(UserTcpPollEvents.None, client.Poll() & UserTcpPollEvents.Out);
        client.NotSentLowWatermark = null;
        Assert.Equal(UserTcpPollEvents.Out, client.Poll() & UserTcpPollEvents.Out);
    }
}
