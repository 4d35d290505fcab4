namespace UserTcp.Simulation.Tests;

/// <summary>What one transfer measured, from A's (the sender's) side.</summary>
internal readonly record struct TransferResult(long Bytes, TimeSpan Elapsed, int Timeouts, int Retransmissions, long BytesRetransmitted)
{
    public double GoodputMbps => Bytes * 8 / Elapsed.TotalSeconds / 1e6;
}

/// <summary>
/// Bulk data one way, A to B, as fast as the connection takes it: A keeps its send buffer full with a fixed pattern
/// until <see cref="Length"/> bytes are written (or for ever, with a length of long.MaxValue), B reads and discards.
/// Cheap enough for gigabytes: no hashing (BulkTransferTests checks content).
/// </summary>
internal sealed class OneWayTransfer
{
    private readonly Simulation _simulation;
    private readonly TcpPassiveOpen _listener;
    private readonly byte[] _chunk = new byte[256 * 1024];
    private readonly byte[] _sink = new byte[256 * 1024];
    private readonly TimeSpan _start;

    public OneWayTransfer(Simulation simulation, long length, TcpConfig? senderConfig = null)
    {
        _simulation = simulation;
        Length = length;
        _listener = simulation.B.Engine.Listen(80);
        _start = simulation.Now;
        Sender = simulation.A.Engine.Connect(new IpEndpoint(Simulation.AddressB, 80), config: senderConfig);
        for (int i = 0; i < _chunk.Length; i++) _chunk[i] = (byte)(i * 31 + 7);
    }

    public long Length { get; }
    public TcpConnection Sender { get; }
    public TcpConnection? Receiver { get; private set; }
    public long Written { get; private set; }
    public long Received { get; private set; }
    /// <summary>When B had every byte; null until then.</summary>
    public TimeSpan? CompletedAt { get; private set; }
    public bool Done => CompletedAt is not null;

    /// <summary>The applications' turn: A writes what fits, B reads what is there.</summary>
    public void Pump()
    {
        if (Receiver is null && _listener.TryAccept(out TcpConnection connection)) Receiver = connection;
        if (Sender.State is TcpState.Established or TcpState.CloseWait)
        {
            while (Written < Length)
            {
                int size = (int)Math.Min(_chunk.Length, Length - Written);
                int accepted = Sender.Send(_chunk.AsSpan(0, size));
                Written += accepted;
                if (accepted < size) break;
            }
        }
        if (Receiver is null) return;
        while (Receiver.BytesToRead > 0 && Receiver.Receive(_sink, out int read) == ReceiveStatus.Data) Received += read;
        if (Received >= Length && CompletedAt is null) CompletedAt = _simulation.Now;
    }

    /// <summary>Runs until B has everything (at most <paramref name="limit"/> of simulated time) and reports A's counts.</summary>
    public TransferResult RunToCompletion(TimeSpan limit)
    {
        _simulation.RunUntil(() => Done || Sender.State == TcpState.Closed, _start + limit, Pump, maxSteps: long.MaxValue);
        Assert.True(Done, $"{Received} of {Length} bytes by {_simulation.Now}; A: {Sender} {Sender.Error}");
        return Result(CompletedAt!.Value - _start);
    }

    /// <summary>Runs for <paramref name="duration"/> and reports what B received by then; <paramref name="applications"/> replaces <see cref="Pump"/> (and calls it).</summary>
    public TransferResult RunFor(TimeSpan duration, Action? applications = null)
    {
        _simulation.RunTo(_start + duration, applications ?? Pump);
        return Result(duration) with { Bytes = Received };
    }

    private TransferResult Result(TimeSpan elapsed) =>
        new(Received, elapsed, Sender.RetransmissionTimeouts, Sender.Retransmissions, Sender.BytesRetransmitted);
}
