using System.Net.Sockets;
using UserTcp.Sockets.Runtime;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A read that finds nothing to return waits without a pass (docs/design.md "Runtime": no clock read, no engine poll,
/// nothing sent or retried), and everything a pass did for it still happens: the data that arrives later completes it,
/// cancellation ends it, the event poll still wakes, and a read that returns anything runs a pass on a fresh clock.
/// </summary>
public sealed class WaitingReadTests
{
    [Fact]
    public async Task A_read_that_finds_nothing_waits_without_a_pass_or_a_look_at_the_clock_and_the_data_that_arrives_completes_it()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        StackShard shard = net.Server.ShardAt(0);
        net.Time.Advance(TimeSpan.FromMilliseconds(5)); // no timer is due: nothing but a pass would bring the engine here
        TimeSpan engineNow = shard.Engine.Now;
        long passes = shard.CallPasses;
        byte[] buffer = new byte[16];

        ValueTask<int> read = server.ReadAsync(buffer);
        Assert.False(read.IsCompleted);
        Assert.Equal(SocketError.WouldBlock, Receive(server, buffer)); // the non-blocking read takes the same way
        Assert.Equal(passes, shard.CallPasses);
        Assert.Equal(engineNow, shard.Engine.Now); // the clock was not read for the engine: no pass ran
        Assert.Throws<InvalidOperationException>(() => { _ = server.ReadAsync(buffer).AsTask(); }); // one read pending at a time, as before

        await client.WriteAsync("ping"u8.ToArray());
        net.Pump();
        Assert.True(read.IsCompletedSuccessfully);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(buffer, 0, await read));
    }

    [Fact]
    public async Task A_read_that_returns_data_runs_a_pass_on_a_fresh_clock()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        StackShard shard = net.Server.ShardAt(0);
        await client.WriteAsync("ping"u8.ToArray());
        net.Pump();
        net.Time.Advance(TimeSpan.FromMilliseconds(7)); // the data waits; what reading it does is stamped with now, not then
        long passes = shard.CallPasses;

        byte[] buffer = new byte[16];
        Assert.Equal(4, await server.ReadAsync(buffer));
        Assert.Equal(passes + 1, shard.CallPasses);
        Assert.Equal(net.Server.Now, shard.Engine.Now);
    }

    [Fact]
    public async Task End_of_stream_and_a_reset_are_read_in_a_pass_as_before()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        StackShard shard = net.Server.ShardAt(0);
        byte[] buffer = new byte[16];
        await client.CloseAsync(); // a FIN
        net.Pump();
        long passes = shard.CallPasses;
        Assert.Equal(0, await server.ReadAsync(buffer));
        Assert.Equal(passes + 1, shard.CallPasses);

        await using var net2 = new PumpedPair();
        (_, UserTcpConnection client2, UserTcpConnection server2) = await net2.ConnectAsync();
        client2.Abort(); // a RST
        net2.Pump();
        Assert.Equal(-1, await server2.TryReadAsync(buffer));
        Assert.Equal(SocketError.ConnectionReset, server2.TakeError());
        Assert.Equal(0, await server2.ReadAsync(buffer)); // reported once; then end-of-stream
    }

    [Fact]
    public async Task A_waiting_read_cancelled_ends_at_once_and_the_next_read_takes_the_data()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        StackShard shard = net.Server.ShardAt(0);
        long passes = shard.CallPasses;
        byte[] buffer = new byte[16];
        using var cancel = new CancellationTokenSource();

        ValueTask<int> read = server.ReadAsync(buffer, cancel.Token);
        Assert.False(read.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await read);
        ValueTask<int> cancelledAlready = server.ReadAsync(buffer, cancel.Token);
        Assert.True(cancelledAlready.IsCanceled);
        Assert.Equal(passes, shard.CallPasses); // neither took a pass

        ValueTask<int> next = server.ReadAsync(buffer);
        await client.WriteAsync("pong"u8.ToArray());
        net.Pump();
        Assert.Equal(4, await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task An_event_poll_watching_a_connection_with_a_waiting_read_still_wakes_when_data_arrives()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        using var poll = new UserTcpEventPoll(net.Server);
        poll.Add(server, UserTcpPollEvents.In, UserTcpPollMode.EdgeTriggered);
        var results = new UserTcpPollResult[2];
        byte[] buffer = new byte[16];

        // The read takes half of what arrives; a wait reports readiness as it is then, so the other half keeps it readable.
        ValueTask<int> read = server.ReadAsync(buffer.AsMemory(0, 2));
        ValueTask<int> waiting = poll.WaitAsync(results);
        Assert.False(waiting.IsCompleted);
        await client.WriteAsync("ping"u8.ToArray());
        net.Pump();
        Assert.Equal(1, await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(UserTcpPollEvents.In, results[0].Events);
        Assert.Equal(2, await read);
        Assert.Equal(0, poll.Wait(results)); // edge-triggered: reported once
    }

    [Fact]
    public async Task A_waiting_read_ends_when_the_stack_stops_and_a_read_after_that_is_refused()
    {
        var net = new PumpedPair();
        (_, _, UserTcpConnection server) = await net.ConnectAsync();
        ValueTask<int> read = server.ReadAsync(new byte[16]);
        Assert.False(read.IsCompleted);
        await net.DisposeAsync(); // a stack without a reader resets its connections: the read sees its own abort, end-of-stream
        Assert.Equal(0, await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Throws<ObjectDisposedException>(() => { _ = server.ReadAsync(new byte[16]).AsTask(); });
    }

    private static SocketError Receive(UserTcpConnection connection, byte[] buffer)
    {
        connection.Receive(buffer, out SocketError error);
        return error;
    }
}
