using System.Net.Sockets;
using System.Security.Cryptography;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Sockets;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>Two stacks over an in-memory pipe, on real threads and the real clock, bounded by timeouts.</summary>
public sealed class NetStackTests : IAsyncLifetime, IDisposable
{
    private static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    private static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _timeout = new(Bound);
    private NetStack _server = null!;
    private NetStack _client = null!;

    private CancellationToken Token => _timeout.Token;

    public Task InitializeAsync()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        var tcp = new TcpConfig { TimeWait = TimeSpan.FromMilliseconds(100) };
        _server = NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress, Tcp = tcp });
        _client = NetStack.Start(pipe.B, new NetStackOptions { Address = ClientAddress, Tcp = tcp });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    public void Dispose() => _timeout.Dispose();

    private static async Task Echo(UserTcpListener listener, CancellationToken token)
    {
        await using UserTcpConnection connection = await listener.AcceptAsync(token);
        await connection.Stream.CopyToAsync(connection.Stream, token); // echo until the peer's FIN
    }

    [Fact]
    public async Task Echo_over_stream_returns_what_was_sent_and_closes_after_the_half_close()
    {
        using UserTcpListener listener = _server.Listen(7);
        Task server = Echo(listener, Token);

        await using UserTcpConnection client = await _client.ConnectAsync(new IpEndpoint(ServerAddress, 7), Token);
        Assert.Equal(TcpState.Established, client.State);
        byte[] message = "hello over UserTcp"u8.ToArray();
        await client.WriteAsync(message, Token);
        client.Shutdown(SocketShutdown.Send);

        var echoed = new MemoryStream();
        await client.Stream.CopyToAsync(echoed, Token);
        Assert.Equal(message, echoed.ToArray());
        await server.WaitAsync(Token);
    }

    [Fact]
    public async Task Ten_megabytes_each_way_through_pipes_arrive_intact()
    {
        const int Size = 10 * 1024 * 1024;
        byte[] up = RandomNumberGenerator.GetBytes(Size);
        byte[] down = RandomNumberGenerator.GetBytes(Size);
        using UserTcpListener listener = _server.Listen(5001);

        async Task<byte[]> ServerSide()
        {
            await using UserTcpConnection c = await listener.AcceptAsync(Token);
            Task send = Task.Run(async () =>
            {
                await c.Pipe.Output.WriteAsync(down, Token);
                await c.Pipe.Output.FlushAsync(Token);
                c.Shutdown(SocketShutdown.Send);
            }, Token);
            byte[] received = await ReadAll(c.Stream);
            await send;
            return received;
        }

        Task<byte[]> server = ServerSide();
        await using UserTcpConnection client = await _client.ConnectAsync(new IpEndpoint(ServerAddress, 5001), Token);
        Task sendUp = Task.Run(async () =>
        {
            await client.WriteAsync(up, Token);
            client.Shutdown(SocketShutdown.Send);
        }, Token);
        byte[] receivedDown = await ReadAll(client.Stream);
        await sendUp;

        Assert.Equal(SHA256.HashData(down), SHA256.HashData(receivedDown));
        Assert.Equal(SHA256.HashData(up), SHA256.HashData(await server.WaitAsync(Token)));
    }

    private async Task<byte[]> ReadAll(Stream stream)
    {
        var all = new MemoryStream();
        await stream.CopyToAsync(all, Token);
        return all.ToArray();
    }

    /// <summary>A connected pair: the client's end and the server's accepted end, on <paramref name="port"/>.</summary>
    private async Task<(UserTcpListener Listener, UserTcpConnection Client, UserTcpConnection Server)> Connect(ushort port)
    {
        UserTcpListener listener = _server.Listen(port);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync(Token);
        UserTcpConnection client = await _client.ConnectAsync(new IpEndpoint(ServerAddress, port), Token);
        return (listener, client, await accepted);
    }

    [Fact]
    public async Task Connecting_to_a_port_nobody_listens_on_is_connection_refused()
    {
        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => _client.ConnectAsync(new IpEndpoint(ServerAddress, 9), Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task A_reset_by_the_peer_surfaces_as_connection_reset_on_read()
    {
        (UserTcpListener listener, UserTcpConnection client, UserTcpConnection server) = await Connect(80);
        using (listener)
        await using (client)
        {
            server.Abort();
            SocketException reset = await Assert.ThrowsAsync<SocketException>(async () => await client.ReadAsync(new byte[10], Token));
            Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        }
    }

    [Fact]
    public async Task Writing_after_shutdown_is_refused_with_shutdown()
    {
        (UserTcpListener listener, UserTcpConnection client, UserTcpConnection server) = await Connect(80);
        using (listener)
        await using (client)
        await using (server)
        {
            client.Shutdown(SocketShutdown.Send);
            SocketException shut = await Assert.ThrowsAsync<SocketException>(async () => await client.WriteAsync(new byte[1], Token));
            Assert.Equal(SocketError.Shutdown, shut.SocketErrorCode);
        }
    }

    [Fact]
    public async Task A_pending_read_is_cancelled_by_its_token()
    {
        (UserTcpListener listener, UserTcpConnection client, UserTcpConnection server) = await Connect(80);
        using (listener)
        await using (client)
        await using (server)
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await client.ReadAsync(new byte[10], cancel.Token));
        }
    }

    [Fact]
    public async Task The_table_snapshot_shows_both_ends_of_a_connection()
    {
        (UserTcpListener listener, UserTcpConnection client, UserTcpConnection server) = await Connect(80);
        using UserTcpListener _ = listener;
        await using UserTcpConnection __ = client, ___ = server;

        ConnectionSnapshot row = Assert.Single(_server.Snapshot());
        Assert.Equal(TcpState.Established, row.State);
        Assert.Equal(client.LocalEndpoint, row.Remote);
        Assert.Contains("ESTABLISHED", row.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_the_stack_closes_its_connections_gracefully_so_the_peer_reads_end_of_stream()
    {
        (UserTcpListener listener, UserTcpConnection client, UserTcpConnection server) = await Connect(80);
        using UserTcpListener _ = listener;
        await using UserTcpConnection __ = server;

        await _client.DisposeAsync();
        Assert.Equal(0, await server.ReadAsync(new byte[10], Token));
        Assert.NotEqual(TcpState.Established, client.State);
    }
}

public sealed class ConnectionOptionsTests : IAsyncLifetime
{
    private NetStack _server = null!;
    private NetStack _client = null!;

    public Task InitializeAsync()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        _server = NetStack.Start(pipe.A, new NetStackOptions { Address = new Ipv4Address(10, 0, 0, 2) });
        _client = NetStack.Start(pipe.B, new NetStackOptions { Address = new Ipv4Address(10, 0, 0, 1) });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Per_connection_buffer_sizes_bound_what_a_write_can_queue_and_what_the_peer_may_send()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // The server accepts with a 4 KiB receive buffer; nobody reads, so its window closes after 2896 bytes: 4096 rounded
        // down to two segments of 1448, the MSS less timestamps, as Linux's SYN-ACK offers it (tcp_select_initial_window),
        // and the right edge never moves while less than a segment is free.
        using UserTcpListener listener = _server.Listen(80, options: new UserTcpConnectionOptions { ReceiveBufferSize = 4096 });
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync(timeout.Token);
        await using UserTcpConnection client = await _client.ConnectAsync(new IpEndpoint(new Ipv4Address(10, 0, 0, 2), 80),
            new UserTcpConnectionOptions { SendBufferSize = 8192, NoDelay = true }, timeout.Token);
        await using UserTcpConnection server = await accepted;
        Assert.True(client.NoDelay);

        // 2896 bytes fill the server's window and 8 KiB the client's send buffer; the next byte must wait.
        await client.WriteAsync(new byte[2896 + 8192], timeout.Token);
        using var blocked = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await client.WriteAsync(new byte[1], blocked.Token));
        Assert.Equal(2896, Assert.Single(_server.Snapshot()).ReceiveQueue);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _client.ConnectAsync(new IpEndpoint(new Ipv4Address(10, 0, 0, 2), 80),
            new UserTcpConnectionOptions { ReceiveBufferSize = 0 }, timeout.Token));
    }
}

public sealed class LifecycleTests
{
    private static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);

    private static (NetStack Server, NetStack Client) Pair()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        return (NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress }),
                NetStack.Start(pipe.B, new NetStackOptions { Address = new Ipv4Address(10, 0, 0, 1) }));
    }

    [Fact]
    public async Task Cancelled_waits_do_not_accumulate()
    {
        (NetStack server, NetStack client) = Pair();
        await using (server)
        await using (client)
        {
            using UserTcpListener listener = server.Listen(7);
            ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
            await using UserTcpConnection c = await client.ConnectAsync(new IpEndpoint(ServerAddress, 7));
            await using UserTcpConnection s = await accepted;
            for (int i = 0; i < 200; i++)
            {
                using var cancel = new CancellationTokenSource();
                Task<int> read = c.ReadAsync(new byte[10], cancel.Token).AsTask();
                cancel.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
            }
            // The connection still works, and the next read is woken by the data (nothing stale in the way).
            Task<int> next = c.ReadAsync(new byte[10]).AsTask();
            await s.WriteAsync("x"u8.ToArray());
            Assert.Equal(1, await next.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.False(c.HasPendingCalls); // white-box: nothing left armed on the connection
        }
    }

    [Fact]
    public async Task Disposing_connections_and_listeners_after_their_stack_does_not_throw()
    {
        (NetStack server, NetStack client) = Pair();
        UserTcpListener listener = server.Listen(7);
        ValueTask<UserTcpConnection> accepted = listener.AcceptAsync();
        UserTcpConnection c = await client.ConnectAsync(new IpEndpoint(ServerAddress, 7));
        UserTcpConnection s = await accepted;
        Stream stream = c.Stream;
        await client.DisposeAsync();
        await server.DisposeAsync();
        await c.DisposeAsync();
        await s.DisposeAsync();
        await stream.DisposeAsync();
        c.Abort();
        listener.Dispose();
        await client.DisposeAsync(); // twice is fine too
        Assert.True(client.IsStopping);
    }

    [Fact]
    public async Task The_offered_mss_fits_the_device_mtu()
    {
        MemoryPacketPipe pipe = MemoryPacketPipe.Create(mtu: 1280);
        await using NetStack stack = NetStack.Start(pipe.A, new NetStackOptions { Address = ServerAddress });
        Assert.Equal(1240, stack.TcpConfig.Mss);
        pipe.B.Dispose();
    }
}
