using BenchmarkDotNet.Attributes;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Testing;

namespace UserTcp.Benchmarks;

/// <summary>
/// User calls on the runtime: two stacks over an in-memory pipe, pumped on this thread on a fake clock
/// (<see cref="PumpedPair"/>), so each operation is exactly one call, the passes it causes, and the peer's answer.
/// The delayed ACK is off, so every segment is acknowledged at once and the exchange stays in steady state.
/// </summary>
[MemoryDiagnoser]
public class RuntimeBenchmarks : IDisposable
{
    private readonly byte[] _message = new byte[64];
    private readonly byte[] _buffer = new byte[4096];
    private PumpedPair _pair = null!;
    private UserTcpConnection _client = null!;
    private UserTcpConnection _server = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pair = new PumpedPair(new TcpConfig { DelayedAck = TimeSpan.Zero, NoDelay = true });
        UserTcpListener listener = _pair.Server.Listen(80);
        _client = _pair.Client.Connect(new IpEndpoint(PumpedPair.ServerAddress, 80));
        _pair.Pump();
        if (!listener.TryAccept(out UserTcpConnection? server)) throw new InvalidOperationException("not connected");
        _server = server;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _pair.DisposeAsync().AsTask().GetAwaiter().GetResult();
        GC.SuppressFinalize(this);
    }

    /// <summary>A 64-byte WriteAsync that completes at once (room in the send buffer); the peer takes the data and acknowledges it.</summary>
    [Benchmark]
    public int UserWrite()
    {
        ValueTask write = _client.WriteAsync(_message);
        if (!write.IsCompletedSuccessfully) throw new InvalidOperationException("the write had to wait");
        write.GetAwaiter().GetResult();
        _pair.Pump();
        return _server.Receive(_buffer, out _);
    }

    /// <summary>A ReadAsync that waits (nothing has arrived), then completes in the pass that brings 64 bytes.</summary>
    [Benchmark]
    public int UserRead()
    {
        ValueTask<int> read = _server.ReadAsync(_buffer);
        if (read.IsCompleted) throw new InvalidOperationException("the read did not wait");
        _client.Send(_message, out _);
        _pair.Pump();
        if (!read.IsCompleted) throw new InvalidOperationException("the read was not completed by the pass");
        return read.GetAwaiter().GetResult();
    }
}
