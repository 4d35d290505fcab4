using System.Net.Sockets;
using UserTcp.Testing;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// The runtime driven by the test: two stacks made with <see cref="NetStack.Create"/> on one FakeTimeProvider, pumped
/// synchronously (no reader thread, no real clock). Every user call's task is complete, or not, when Pump returns.
/// </summary>
public sealed class PumpedStackTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);

    [Fact]
    public async Task A_pumped_pair_connects_exchanges_and_closes_without_threads_and_the_same_way_every_run()
    {
        string first = await RunExchange();
        string second = await RunExchange();
        Assert.Equal(first, second); // deterministic: identical event traces, times included
        Assert.Contains("TIME-WAIT -> CLOSED", first, StringComparison.Ordinal);
    }

    private static async Task<string> RunExchange()
    {
        var events = new EventRecorder();
        await using var net = new PumpedPair(clientEvents: events);
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();

        ValueTask<int> read = server.ReadAsync(new byte[100]);
        Assert.False(read.IsCompleted); // nothing sent yet: the read waits
        ValueTask write = client.WriteAsync("hello"u8.ToArray());
        Assert.True(write.IsCompletedSuccessfully); // room in the send buffer: done at once
        net.Pump();
        Assert.True(read.IsCompletedSuccessfully);
        Assert.Equal(5, await read);

        await client.CloseAsync();
        await server.CloseAsync();
        net.Pump();
        Assert.Equal(TcpState.TimeWait, client.State);
        net.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(TcpState.TimeWait, client.State);
        net.Advance(TimeSpan.FromSeconds(1)); // Linux's 60 s TIME-WAIT, in microseconds of test time
        Assert.Equal(TcpState.Closed, client.State);
        return string.Join("\n", events.Events.Select(e => e.ToString()));
    }

    [Fact]
    public void A_lost_syn_is_retransmitted_when_the_fake_clock_reaches_the_rto()
    {
        var events = new EventRecorder();
        var net = new PumpedPair(clientEvents: events);
        UserTcpConnection client = net.Client.Connect(Server80);
        Assert.True(net.Pipe.A.TryRead(new byte[1500], out _)); // the SYN, taken off the wire: lost
        Assert.Equal(TimeSpan.FromSeconds(1), net.Client.NextDeadline);

        net.Time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.DoesNotContain(events.Events, e => e.Kind == TcpEventKind.Retransmission);
        net.Time.Advance(TimeSpan.FromMilliseconds(1)); // the stack's timer fires inside Advance, on this thread
        TcpEvent retransmission = Assert.Single(events.Events, e => e.Kind == TcpEventKind.Retransmission);
        Assert.Equal(TimeSpan.FromSeconds(1), retransmission.Time);
        Assert.True(net.Pipe.A.TryRead(new byte[1500], out _)); // the second SYN is on the wire
        Assert.Equal(TcpState.SynSent, client.State);
    }

    [Fact]
    public async Task Pump_is_refused_on_a_stack_with_its_own_reader()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        await using NetStack started = NetStack.Start(pipe.A, new NetStackOptions { Address = PumpedPair.ServerAddress });
        Assert.Throws<InvalidOperationException>(() => started.Pump());
    }

    [Fact]
    public async Task Non_blocking_calls_answer_would_block_while_connecting_and_when_there_is_nothing_to_read()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        UserTcpConnection client = net.Client.Connect(Server80);

        Assert.Equal(0, client.Send("x"u8, out SocketError sendError));
        Assert.Equal(SocketError.WouldBlock, sendError); // data waits for the handshake (Linux: EAGAIN)
        Assert.Equal(0, client.Receive(new byte[10], out SocketError receiveError));
        Assert.Equal(SocketError.WouldBlock, receiveError);
        Assert.False(listener.TryAccept(out _));

        net.Pump();
        Assert.Equal(SocketError.Success, client.TakeError());
        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        Assert.Equal(0, server.Receive(new byte[10], out receiveError));
        Assert.Equal(SocketError.WouldBlock, receiveError);
        Assert.Equal(3, client.Send("abc"u8, out sendError));
        net.Pump();
        byte[] buffer = new byte[10];
        Assert.Equal(3, server.Receive(buffer, out receiveError));
        Assert.Equal(SocketError.Success, receiveError);
        Assert.Equal("abc"u8.ToArray(), buffer[..3]);
    }

    [Fact]
    public async Task A_reset_is_reported_once_then_reads_see_end_of_stream_and_writes_a_broken_pipe()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        server.Abort();
        net.Pump();

        Assert.Equal(0, client.Receive(new byte[10], out SocketError first));
        Assert.Equal(SocketError.ConnectionReset, first);
        Assert.Equal(0, client.Receive(new byte[10], out SocketError second));
        Assert.Equal(SocketError.Success, second); // end-of-stream from now on, as Linux after sock_error
        Assert.Equal(0, client.Send("x"u8, out SocketError write));
        Assert.Equal(SocketError.Shutdown, write); // EPIPE
        Assert.Equal(SocketError.Success, client.TakeError());
    }

    [Fact]
    public async Task TryReadAsync_returns_minus_one_on_a_reset_and_leaves_the_failure_for_TakeError_once()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        byte[] buffer = new byte[10];
        ValueTask<int> waiting = client.TryReadAsync(buffer); // pending: nothing has arrived
        Assert.False(waiting.IsCompleted);
        server.Abort();
        net.Pump();

        Assert.True(waiting.IsCompletedSuccessfully); // no exception for the reset
        Assert.Equal(-1, await waiting);
        Assert.Equal(-1, await client.TryReadAsync(buffer)); // still failed, still not reported
        Assert.Equal(SocketError.ConnectionReset, client.TakeError()); // SO_ERROR, once
        Assert.Equal(SocketError.Success, client.TakeError());
        Assert.Equal(0, await client.TryReadAsync(buffer)); // end-of-stream from now on, as after a reported failure
        Assert.Equal(0, await client.ReadAsync(buffer));
    }

    [Fact]
    public async Task A_reset_after_the_peers_fin_reads_as_a_broken_pipe_as_on_linux()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        server.Shutdown(SocketShutdown.Send);
        net.Pump();
        Assert.Equal(TcpState.CloseWait, client.State);
        server.Abort();
        net.Pump();

        Assert.Equal(SocketError.Shutdown, client.TakeError()); // tcp_reset in CLOSE-WAIT sets EPIPE
        Assert.Equal(SocketError.Success, client.TakeError());
    }

    [Fact]
    public async Task A_pending_write_finishes_as_the_peers_acks_free_the_send_buffer()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync(clientOptions: new UserTcpConnectionOptions { SendBufferSize = 4096 });
        byte[] data = new byte[20_000];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)i;
        ValueTask write = client.WriteAsync(data);
        Assert.False(write.IsCompleted);

        byte[] received = new byte[data.Length];
        int total = 0;
        for (int round = 0; round < 100 && total < data.Length; round++)
        {
            net.Pump();
            total += server.Receive(received.AsSpan(total), out _);
        }
        net.Pump();
        Assert.True(write.IsCompletedSuccessfully);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task Waiting_accepts_are_served_in_order_and_a_cancelled_one_leaves_the_queue()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        using var cancel = new CancellationTokenSource();
        ValueTask<UserTcpConnection> cancelled = listener.AcceptAsync(cancel.Token);
        ValueTask<UserTcpConnection> first = listener.AcceptAsync();
        ValueTask<UserTcpConnection> second = listener.AcceptAsync();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.AsTask());

        UserTcpConnection a = net.Client.Connect(Server80);
        net.Pump();
        UserTcpConnection b = net.Client.Connect(Server80);
        net.Pump();
        Assert.Equal(a.LocalEndpoint, (await first).RemoteEndpoint);
        Assert.Equal(b.LocalEndpoint, (await second).RemoteEndpoint);
    }

    [Fact]
    public async Task Options_set_on_a_listener_after_listen_apply_to_the_connections_it_accepts_next()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80, options: new UserTcpConnectionOptions { ReceiveBufferSize = 8192 });
        listener.Options = listener.Options with { NoDelay = true, Linger = TimeSpan.Zero };
        Assert.Throws<InvalidOperationException>(() => listener.Options = listener.Options with { ReceiveBufferSize = 4096 });
        net.Client.Connect(Server80);
        net.Pump();
        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        Assert.True(server.NoDelay);
        Assert.Equal(TimeSpan.Zero, server.Linger);
        Assert.Equal(8192, server.ReceiveBufferSize);
    }

    [Fact]
    public async Task A_pending_read_is_cancelled_by_its_token_and_the_next_read_gets_the_data()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();
        using var cancel = new CancellationTokenSource();
        ValueTask<int> read = server.ReadAsync(new byte[10], cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await read);
        Assert.False(server.HasPendingCalls);

        await client.WriteAsync("x"u8.ToArray());
        net.Pump();
        Assert.Equal(1, await server.ReadAsync(new byte[10]));
    }

    [Fact]
    public async Task A_second_read_while_one_is_pending_is_refused()
    {
        await using var net = new PumpedPair();
        (_, _, UserTcpConnection server) = await net.ConnectAsync();
        ValueTask<int> pending = server.ReadAsync(new byte[10]);
        Assert.False(pending.IsCompleted);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await server.ReadAsync(new byte[10]));
    }

    [Fact]
    public async Task Keepalive_options_given_at_connect_time_drive_the_probes_on_the_fake_clock()
    {
        var events = new EventRecorder();
        await using var net = new PumpedPair(clientEvents: events);
        (_, UserTcpConnection client, _) = await net.ConnectAsync(clientOptions: new UserTcpConnectionOptions
        {
            KeepAlive = true,
            KeepAliveIdle = TimeSpan.FromSeconds(10),
            KeepAliveInterval = TimeSpan.FromSeconds(3),
            KeepAliveCount = 2,
        });
        Assert.Equal(TimeSpan.FromSeconds(10), client.KeepAliveIdle);
        Assert.Throws<ArgumentOutOfRangeException>(() => client.KeepAliveCount = 128);
        net.Advance(TimeSpan.FromSeconds(10));
        TcpEvent fired = Assert.Single(events.Events, e => e is { Kind: TcpEventKind.TimerFired, Timer: TcpTimer.KeepAlive });
        Assert.Equal(TimeSpan.FromSeconds(10), fired.Time);
    }
}

/// <summary>Regressions found against the kernel.</summary>
public sealed class PumpedStackRegressionTests
{
    [Fact]
    public async Task A_new_connection_on_the_four_tuple_of_a_reset_one_is_accepted_by_a_waiting_accept()
    {
        // The lwIP harness's connection-rate test closes with RST and reuses ports at once: the stack must not take the
        // new connection's events for the old one's.
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        var fixedPort = new UserTcpConnectionOptions { LocalPort = 5000 };
        for (int round = 0; round < 3; round++)
        {
            ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
            UserTcpConnection client = net.Client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 80), fixedPort);
            net.Pump();
            Assert.True(accepted.IsCompletedSuccessfully, $"round {round}: the accept was not woken");
            UserTcpConnection server = await accepted;
            ValueTask<int> read = server.ReadAsync(new byte[10]);
            Assert.Equal(1, client.Send("x"u8, out _));
            net.Pump();
            Assert.True(read.IsCompleted, $"round {round}: the read was not woken");
            Assert.Equal(1, await read);
            client.Abort();
            net.Pump();
            Assert.Equal(TcpState.Closed, server.State);
        }
    }
}
