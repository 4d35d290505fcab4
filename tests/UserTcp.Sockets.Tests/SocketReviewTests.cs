using System.Net.Sockets;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>Defects found reviewing the socket layer line by line: each test failed before its fix.</summary>
public sealed class SocketReviewTests
{
    private static readonly IpEndpoint Server80 = new(PumpedPair.ServerAddress, 80);

    [Fact]
    public async Task A_connection_reset_while_it_waited_in_the_accept_queue_is_not_held_by_the_stack_once_accepted()
    {
        // Linux's accept() still hands out one reset after its data arrived; nothing will ever change it again, so the
        // shard's table (where engine events find pending calls) must not keep it: no later event would remove it.
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        UserTcpConnection client = net.Client.Connect(Server80);
        net.Pump();
        Assert.Equal(3, client.Send("abc"u8, out _));
        net.Pump();
        client.Abort();
        net.Pump();

        Assert.True(listener.TryAccept(out UserTcpConnection? server));
        Assert.Equal(TcpState.Closed, server.State);
        Assert.Empty(net.Server.ShardAt(0).HeldConnections);
        byte[] buffer = new byte[10];
        Assert.Equal(3, server.Receive(buffer, out SocketError error)); // what arrived before the reset is still read
        Assert.Equal(SocketError.Success, error);
        await server.CloseAsync();
        net.Pump();
        Assert.Empty(net.Server.ShardAt(0).HeldConnections);
    }

    [Fact]
    public async Task The_stream_fails_with_an_IOException_around_the_SocketException_as_NetworkStream_does()
    {
        // Stream users (StreamReader, SslStream, HttpClient, CopyToAsync callers) catch IOException for a failed transport;
        // HttpClient wraps only IOException into HttpRequestException and retries a reused connection only on one.
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();

        ValueTask<int> waiting = client.Stream.ReadAsync(new byte[10]);
        server.Abort();
        net.Pump();
        IOException reset = await Assert.ThrowsAsync<IOException>(async () => await waiting);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
        IOException broken = await Assert.ThrowsAsync<IOException>(async () => await client.Stream.WriteAsync(new byte[10]));
        Assert.Equal(SocketError.Shutdown, Assert.IsType<SocketException>(broken.InnerException).SocketErrorCode);
        Assert.Throws<IOException>(() => client.Stream.Write(new byte[10], 0, 10));

        // The connection's own calls keep SocketException, as Socket's do.
        await Assert.ThrowsAsync<SocketException>(async () => await client.WriteAsync(new byte[10]));
    }

    [Fact]
    public async Task A_write_the_stream_was_waiting_to_finish_fails_with_an_IOException_when_the_peer_resets()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync(clientOptions: new UserTcpConnectionOptions { SendBufferSize = 4096 });

        ValueTask writing = client.Stream.WriteAsync(new byte[1_000_000]);
        Assert.False(writing.IsCompleted);
        server.Abort();
        net.Pump();
        IOException reset = await Assert.ThrowsAsync<IOException>(async () => await writing);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task A_flush_whose_data_a_reset_destroyed_fails_instead_of_reporting_it_acknowledged()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();

        await client.WriteAsync(new byte[1000]);
        Task flush = client.FlushAsync();
        Assert.False(flush.IsCompleted); // not yet acknowledged
        server.Abort(); // the data meets a closed port: RST
        net.Pump();

        SocketException reset = await Assert.ThrowsAsync<SocketException>(() => flush);
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode); // the failure, reported once
        SocketException after = await Assert.ThrowsAsync<SocketException>(() => client.FlushAsync());
        Assert.Equal(SocketError.Shutdown, after.SocketErrorCode); // as a write after it: EPIPE
    }

    [Fact]
    public async Task A_flush_ends_with_connection_aborted_when_the_application_aborts_first_and_succeeds_after_a_clean_close()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection client = net.Client.Connect(Server80);
        UserTcpConnection other = net.Client.Connect(Server80);
        net.Pump();
        UserTcpConnection server = await accepted;

        await client.WriteAsync(new byte[1000]);
        Task flush = client.FlushAsync();
        client.Abort();
        net.Pump();
        Assert.Equal(SocketError.ConnectionAborted, (await Assert.ThrowsAsync<SocketException>(() => flush)).SocketErrorCode);

        // Must not happen: a clean exchange and close never fail a flush.
        await other.WriteAsync(new byte[1000]);
        Task acknowledged = other.FlushAsync();
        net.Pump();
        await acknowledged;
        await other.CloseAsync();
        net.Pump();
        await other.FlushAsync();
    }

    [Fact]
    public async Task A_zero_byte_stream_read_waits_for_data_as_NetworkStreams_and_takes_none_of_it()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();

        ValueTask<int> waiting = server.Stream.ReadAsync(Memory<byte>.Empty);
        net.Pump();
        Assert.False(waiting.IsCompleted); // idle: it waits (HttpClient's read-ahead holds no buffer meanwhile)
        await client.WriteAsync("abc"u8.ToArray());
        net.Pump();
        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.Equal(0, await waiting);
        byte[] buffer = new byte[10];
        Assert.Equal(3, await server.Stream.ReadAsync(buffer)); // the data is all still there
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Calls_waiting_when_the_application_closes_or_aborts_end_as_documented_and_none_is_left_waiting(bool abort)
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync(clientOptions: new UserTcpConnectionOptions { SendBufferSize = 4096 });

        ValueTask<int> reading = client.ReadAsync(new byte[10]);
        ValueTask writing = client.WriteAsync(new byte[100_000]);
        Assert.False(reading.IsCompleted);
        Assert.False(writing.IsCompleted);
        if (abort) client.Abort();
        else await client.CloseAsync();

        Assert.True(reading.IsCompleted && writing.IsCompleted);
        Assert.Equal(0, await reading);
        Assert.Equal(SocketError.Shutdown, (await Assert.ThrowsAsync<SocketException>(async () => await writing)).SocketErrorCode);
        Assert.False(client.HasPendingCalls);
    }

    [Fact]
    public async Task A_connection_that_times_out_after_an_icmp_host_unreachable_reports_it_instead_of_reading_end_of_stream()
    {
        // Linux's sk_err_soft: the engine ends such a connection with EHOSTUNREACH rather than ETIMEDOUT. The runtime
        // reported only refused, reset and timed out, so this failure read as a clean end-of-stream and SO_ERROR said nothing.
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, _) = await net.ConnectAsync(clientOptions: new UserTcpConnectionOptions { UserTimeout = TimeSpan.FromSeconds(3) });

        await client.WriteAsync(new byte[100]);
        byte[] packet = new byte[2048];
        Assert.True(net.Pipe.A.TryRead(packet, out _)); // the data segment, lost on the way
        byte[] icmp = new byte[PacketWriter.Ipv4IcmpLength(28)];
        PacketWriter.TryWriteIpv4Icmp(icmp, new Ipv4Repr(new Ipv4Address(10, 0, 0, 254), PumpedPair.ClientAddress), IcmpType.DestinationUnreachable,
            (byte)IcmpUnreachableCode.Host, 0, packet.AsSpan(0, 28), out _);
        net.Pipe.A.Write(icmp); // a router says the host is unreachable
        net.Client.Pump();
        ValueTask<int> reading = client.ReadAsync(new byte[10]);
        for (int step = 0; step < 100 && client.State != TcpState.Closed; step++)
        {
            net.Time.Advance(TimeSpan.FromMilliseconds(500));
            while (net.Pipe.A.TryRead(packet, out _)) { } // every retransmission is lost too
            net.Client.Pump();
        }
        Assert.Equal(TcpState.Closed, client.State);
        Assert.Equal(TcpError.HostUnreachable, client.Error);

        Assert.True(reading.IsCompleted);
        SocketException failure = await Assert.ThrowsAsync<SocketException>(async () => await reading);
        Assert.Equal(SocketError.HostUnreachable, failure.SocketErrorCode);
        Assert.Equal(SocketError.Success, client.TakeError()); // reported once
        Assert.Equal(0, await client.ReadAsync(new byte[10]));
    }

    [Fact]
    public async Task A_connect_that_times_out_after_an_icmp_host_unreachable_leaves_it_for_SO_ERROR_and_poll()
    {
        await using var net = new PumpedPair();
        UserTcpConnection client = net.Client.Connect(Server80);
        byte[] packet = new byte[2048];
        Assert.True(net.Pipe.A.TryRead(packet, out _)); // the SYN, lost
        byte[] icmp = new byte[PacketWriter.Ipv4IcmpLength(28)];
        PacketWriter.TryWriteIpv4Icmp(icmp, new Ipv4Repr(new Ipv4Address(10, 0, 0, 254), PumpedPair.ClientAddress), IcmpType.DestinationUnreachable,
            (byte)IcmpUnreachableCode.Host, 0, packet.AsSpan(0, 28), out _);
        net.Pipe.A.Write(icmp);
        net.Client.Pump();
        for (int step = 0; step < 1000 && client.State != TcpState.Closed; step++)
        {
            net.Time.Advance(TimeSpan.FromSeconds(1));
            while (net.Pipe.A.TryRead(packet, out _)) { } // every SYN retransmission is lost
            net.Client.Pump();
        }
        Assert.Equal(TcpState.Closed, client.State);

        Assert.True((client.Poll() & UserTcpPollEvents.Error) != 0); // a non-blocking connect's failure: POLLERR...
        Assert.Equal(SocketError.HostUnreachable, client.TakeError()); // ...and SO_ERROR says why, once
        Assert.Equal(SocketError.Success, client.TakeError());
    }

    [Fact]
    public async Task Disposing_an_event_poll_or_removing_from_it_after_the_stack_stopped_does_not_throw()
    {
        var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection client = net.Client.Connect(Server80);
        UserTcpConnection other = net.Client.Connect(Server80);
        net.Pump();
        await accepted;
        var poll = new UserTcpEventPoll(net.Client);
        poll.Add(client, UserTcpPollEvents.In, UserTcpPollMode.Level);
        poll.Add(other, UserTcpPollEvents.In, UserTcpPollMode.Level);

        await net.DisposeAsync();

        Assert.True(poll.Remove(other)); // EPOLL_CTL_DEL of a connection whose stack has gone
        poll.Dispose(); // a `using` that ends after the stack's `await using` ended
        poll.Dispose();
    }

    [Fact]
    public async Task A_second_read_started_while_the_first_is_finished_but_not_yet_handed_over_is_refused_and_the_first_keeps_its_data()
    {
        // The window between a pass finishing a read (under the engine lock) and resuming its awaiter (after the batch
        // went out): a second read armed there reset the first's ValueTask source under it — the first awaiter saw a
        // version mismatch and the second took the first's result — instead of being refused as any concurrent read is.
        UserTcpConnection? server = null;
        ValueTask<int> first = default;
        Exception? refused = null;
        Task<int>? second = null;
        bool tried = false;
        await using var net = new PumpedPair(wrapServerDevice: device => new HookedDevice(device, () =>
        {
            if (tried || server is null || server.HasPendingCalls || first.IsCompleted) return;
            tried = true; // the first read is finished, its awaiter not yet resumed: this write is that pass's batch
            try
            {
                second = server.ReadAsync(new byte[10]).AsTask();
            }
            catch (InvalidOperationException e)
            {
                refused = e;
            }
        }));
        (_, UserTcpConnection client, server) = await net.ConnectAsync();
        byte[] buffer = new byte[10];
        first = server.ReadAsync(buffer);
        Assert.False(first.IsCompleted);

        await client.WriteAsync("abc"u8.ToArray());
        net.Pump();

        Assert.True(tried, "the server sent nothing in the pass that finished the read");
        Assert.Null(second);
        Assert.IsType<InvalidOperationException>(refused);
        Assert.True(first.IsCompletedSuccessfully);
        Assert.Equal(3, await first);
        Assert.Equal("abc"u8.ToArray(), buffer[..3]);
    }

    private sealed class HookedDevice(IPacketDevice inner, Action onWrite) : IPacketDevice
    {
        public int Mtu => inner.Mtu;
        public bool WaitReadable(TimeSpan timeout) => inner.WaitReadable(timeout);
        public bool TryRead(Span<byte> packet, out int length) => inner.TryRead(packet, out length);

        public void Write(ReadOnlySpan<byte> packet)
        {
            inner.Write(packet);
            onWrite();
        }

        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public async Task A_zero_byte_write_reports_a_failure_or_a_shutdown_as_Send_and_Linuxs_send_do()
    {
        await using var net = new PumpedPair();
        using UserTcpListener listener = net.Server.Listen(80);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection client = net.Client.Connect(Server80);
        UserTcpConnection other = net.Client.Connect(Server80);
        net.Pump();
        UserTcpConnection server = await accepted;

        await client.WriteAsync(ReadOnlyMemory<byte>.Empty); // healthy: nothing to do
        server.Abort();
        net.Pump();
        SocketException reset = await Assert.ThrowsAsync<SocketException>(async () => await client.WriteAsync(ReadOnlyMemory<byte>.Empty));
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode); // tcp_sendmsg checks sk_err before it copies anything
        Assert.Equal(SocketError.Success, client.TakeError()); // reported once, by that write

        other.Shutdown(SocketShutdown.Send);
        SocketException shut = await Assert.ThrowsAsync<SocketException>(async () => await other.WriteAsync(ReadOnlyMemory<byte>.Empty));
        Assert.Equal(SocketError.Shutdown, shut.SocketErrorCode);
        Assert.Equal(0, other.Send(ReadOnlySpan<byte>.Empty, out SocketError error)); // the non-blocking call agreed already
        Assert.Equal(SocketError.Shutdown, error);
    }

    [Fact]
    public async Task A_connect_given_a_token_already_cancelled_sends_nothing()
    {
        await using var net = new PumpedPair();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => net.Client.ConnectAsync(Server80, cancelled.Token));

        Assert.False(net.Pipe.A.TryRead(new byte[1500], out _)); // no SYN (and no RST after it) went out
        Assert.Empty(net.Client.Snapshot());
    }

    [Fact]
    public async Task An_event_poll_add_the_stopped_stack_refuses_leaves_nothing_registered()
    {
        var net = new PumpedPair();
        (_, UserTcpConnection client, _) = await net.ConnectAsync();
        using var poll = new UserTcpEventPoll(net.Client);
        await net.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => poll.Add(client, UserTcpPollEvents.In, UserTcpPollMode.Level));
        Assert.Equal(0, poll.Count); // EPOLL_CTL_ADD failed: not in the interest list
        Assert.False(poll.Remove(client));
    }

    [Fact]
    public async Task Shutdown_with_an_undefined_direction_throws_and_changes_nothing()
    {
        await using var net = new PumpedPair();
        (_, UserTcpConnection client, UserTcpConnection server) = await net.ConnectAsync();

        Assert.Throws<ArgumentOutOfRangeException>(() => client.Shutdown((SocketShutdown)7));
        net.Pump();

        // Must not happen: a FIN (as Both would send) or an end of stream.
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(TcpState.Established, server.State);
        await client.WriteAsync("still open"u8.ToArray());
        net.Pump();
        byte[] buffer = new byte[32];
        Assert.Equal(10, await server.ReadAsync(buffer));
    }
}
