using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using UserTcp.Sockets;
using UserTcp.Testing;

namespace UserTcp.AspNetCore.Tests;

/// <summary>
/// The transport waits for data with a zero-byte read before it takes a pool buffer (issue 10, memory on demand), as
/// Kestrel's socket transport does: an idle connection holds no buffer, one with data holds it only until read.
/// </summary>
public sealed class IdleBufferTests
{
    [Fact]
    public async Task An_idle_connection_holds_no_pool_buffer_and_one_with_data_only_until_it_is_read()
    {
        await using var net = new PumpedPair(new UserTcp.Engine.TcpConfig { NoDelay = true });
        using var pools = new CountingPoolFactory();
        var factory = new UserTcpTransportFactory(net.Server, memoryPoolFactory: pools);
        await using IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.Parse(PumpedPair.ServerAddress.ToString()), 80));
        ValueTask<ConnectionContext?> accepting = listener.AcceptAsync();
        UserTcpConnection client = net.Client.Connect(new UserTcp.Engine.IpEndpoint(PumpedPair.ServerAddress, 80));
        net.Pump();
        await using ConnectionContext server = (await accepting)!;
        net.Pump();
        await Task.Delay(50); // the receive loop is parked on its read
        Assert.Equal(0, pools.Outstanding);

        Assert.Equal(5, client.Send("hello"u8, out _));
        net.Pump();
        ReadResult read = await server.Transport.Input.ReadAsync();
        Assert.Equal("hello"u8.ToArray(), read.Buffer.ToArray());
        Assert.True(pools.Outstanding > 0); // the bytes sit in a pool buffer until Kestrel consumes them
        server.Transport.Input.AdvanceTo(read.Buffer.End);
        await Task.Delay(50);
        Assert.Equal(0, pools.Outstanding);
        client.Abort();
        net.Pump();
    }

    private sealed class CountingPoolFactory : IMemoryPoolFactory<byte>, IDisposable
    {
        private readonly CountingPool _pool = new();

        public int Outstanding => _pool.Outstanding;

        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => _pool;

        public void Dispose() => _pool.Dispose();
    }

    private sealed class CountingPool : MemoryPool<byte>
    {
        private int _outstanding;

        public int Outstanding => Volatile.Read(ref _outstanding);
        public override int MaxBufferSize => 4096;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _outstanding);
            return new Block(this, new byte[Math.Max(minBufferSize, 4096)]);
        }

        protected override void Dispose(bool disposing) { }

        private sealed class Block(CountingPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private bool _disposed;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (_disposed) return;
                _disposed = true;
                Interlocked.Decrement(ref pool._outstanding);
            }
        }
    }
}
