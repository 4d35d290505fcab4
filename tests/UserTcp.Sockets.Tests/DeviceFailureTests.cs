using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>A device that fails under a running stack: every waiting call fails with a clear error, none hangs.</summary>
public sealed class DeviceFailureTests
{
    private static readonly Ipv4Address ServerAddress = new(10, 0, 0, 2);
    private static readonly Ipv4Address ClientAddress = new(10, 0, 0, 1);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Passes packets to and from <paramref name="inner"/> until <see cref="Fail"/>; then reads fail as a deleted TUN's do.</summary>
    private sealed class BreakableDevice(IPacketDevice inner) : IPacketDevice
    {
        private volatile bool _failed;

        public int Mtu => inner.Mtu;
        public void Fail() => _failed = true;

        public bool WaitReadable(TimeSpan timeout)
        {
            // Short waits, so the reader notices the failure at once.
            if (!_failed) return inner.WaitReadable(TimeSpan.FromMilliseconds(Math.Min(timeout.TotalMilliseconds, 10)));
            return true;
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            if (_failed) throw new IOException("read from the TUN device: File descriptor in bad state (EBADFD)");
            return inner.TryRead(packet, out length);
        }

        public void Write(ReadOnlySpan<byte> packet)
        {
            if (_failed) throw new IOException("write to the TUN device: File descriptor in bad state (EBADFD)");
            inner.Write(packet);
        }

        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public async Task When_the_device_fails_every_waiting_call_fails_with_an_error_that_says_so_and_new_calls_are_refused()
    {
        using var timeout = new CancellationTokenSource(Bound);
        CancellationToken token = timeout.Token;
        MemoryPacketPipe pipe = MemoryPacketPipe.Create();
        var device = new BreakableDevice(pipe.A);
        await using NetStack server = NetStack.Start(device, new NetStackOptions { Address = ServerAddress });
        await using NetStack client = NetStack.Start(pipe.B, new NetStackOptions { Address = ClientAddress });
        using UserTcpListener listener = server.Listen(7);
        using UserTcpListener idle = server.Listen(8);
        await using UserTcpConnection outgoing = await client.ConnectAsync(new IpEndpoint(ServerAddress, 7), token);
        await using UserTcpConnection accepted = await listener.AcceptAsync(token);

        // Calls that only the network could finish: a read, an accept, and a connect whose SYN-ACK will never come.
        ValueTask<int> read = accepted.ReadAsync(new byte[100], token);
        ValueTask<UserTcpConnection> accept = idle.AcceptAsync(token);
        Task<UserTcpConnection> connect = server.ConnectAsync(new IpEndpoint(new Ipv4Address(10, 0, 0, 3), 9), token); // nobody there
        Assert.False(read.IsCompleted || accept.IsCompleted || connect.IsCompleted);
        Assert.Null(server.DeviceFailure);

        device.Fail();

        IOException readError = await Assert.ThrowsAsync<IOException>(async () => await read.AsTask().WaitAsync(token));
        Assert.Contains("network device for 10.0.0.2 failed (read from the TUN device: File descriptor in bad state (EBADFD))", readError.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(readError.InnerException);
        await Assert.ThrowsAsync<IOException>(() => accept.AsTask().WaitAsync(token));
        await Assert.ThrowsAsync<IOException>(() => connect.WaitAsync(token));
        Assert.Same(server.DeviceFailure, await server.WhenDeviceFails.WaitAsync(token));

        // New calls that would wait, or need the network, are refused at once with the same explanation; closing and
        // disposing stay quiet.
        IOException refused = await Assert.ThrowsAsync<IOException>(async () => await accepted.WriteAsync(new byte[10], token));
        await Assert.ThrowsAsync<IOException>(async () => await accepted.ReadAsync(new byte[10], token));
        Assert.Equal((0, System.Net.Sockets.SocketError.NetworkDown), (accepted.Send(new byte[10], out var sendError), sendError));
        Assert.Contains("can no longer send or receive", refused.Message, StringComparison.Ordinal);
        Assert.Throws<IOException>(() => server.Listen(9));
        await accepted.CloseAsync(token);
        accepted.Abort();
        idle.Dispose();
        await server.DisposeAsync().AsTask().WaitAsync(token);
        Assert.Equal(0, server.ProcessingErrors);
    }
}
