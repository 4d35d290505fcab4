using System.Buffers;
using System.Collections.Concurrent;
using UserTcp.Engine;

namespace UserTcp.Sockets.Runtime;

/// <summary>The shard's reader thread (or the caller's pumping), packets steered to their owner shard, and its part of the stack's stop.</summary>
internal sealed partial class StackShard
{
    // How long the reader waits on an idle device before it looks at the stop flag again.
    private static readonly TimeSpan StopCheckInterval = TimeSpan.FromMilliseconds(200);
    private static readonly Action<object?> DrainCallback = static state => ((StackShard)state!).DrainHandedOver();

    // Packets another shard read from its queue that belong to a connection of this one: a copy each, taken in this
    // shard's next pass (the lock-free hand-off of docs/design.md "Several cores").
    private readonly ConcurrentQueue<HandedOver> _handedOver = new();
    // 1 while a thread-pool pass that takes _handedOver is queued and has not started.
    private int _drainQueued;
    // How many packets the reader takes before a pass; the reader thread's alone.
    private AdaptiveReadLimit _readLimit;
    // 1 while a thread reads the device and feeds the engine what it read: the reader from its read to its pass's end, or
    // a pass taking what the reader has not before it fires a due timer (TakeWaitingBeforeTimers). Packets so reach the
    // engine in the order they were read. Used only when passes may read (_passesMayRead).
    private int _deviceTaken;
    // The batch passes other than the reader's read into, made the first time one finds packets waiting.
    private ReceiveBatch? _passReceived;
    private long _takenBeforeTimers;

    /// <summary>Packets passes took from the device before firing a due timer, beyond what the reader had taken, for tests and the counters.</summary>
    public long PacketsTakenBeforeTimers => Interlocked.Read(ref _takenBeforeTimers);

    // Only for a stack with a reader thread (a pumped stack's caller reads) and a device whose reads may overlap its wait;
    // set once as the reader starts, so the reader's loop asks no interface each turn.
    private bool _passesMayRead;

    /// <summary>Starts this shard's reader thread.</summary>
    public void StartReader(string name)
    {
        _passesMayRead = _device.ReadsMayOverlapWait;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = name };
        _reader.Start();
    }

    public bool HasReader => _reader is not null;

    /// <summary>Waits (bounded) for the reader thread to end after the stack stopped.</summary>
    public void JoinReader() => _reader?.Join(StopCheckInterval * 3);

    /// <summary>
    /// For a stack without reader threads: takes one batch from the device (and whatever other shards handed over) and
    /// runs one pass over it; with nothing read, the pass still fires the due timers. Returns the packets taken.
    /// </summary>
    public int PumpOnce()
    {
        int count = _received.Fill(_device);
        int handed = _handedOver.Count;
        int limit = ReceiveBatch.MaxPackets;
        ProcessReceived(ref limit);
        return count + handed;
    }

    private void ReadLoop()
    {
        // .NET ignores ThreadPriority on Linux: nice -20 for this thread alone (see NetStackOptions.HighPriorityReaders).
        if (_stack.Options.HighPriorityReaders && OperatingSystem.IsLinux()) UserTcp.Interop.Renice.CurrentThread();
        try
        {
            while (!_stack.ReadersStop) ReadOnce();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device that fails or is closed under the reader ends the stack; at shutdown that is expected.
            if (!_stack.ReadersStop && !_stack.IsStopping)
            {
                NetStackLog.ReadFailed(_logger, e);
                try
                {
                    _stack.FailDevice(e);
                }
                catch (Exception inner) when (inner is not OutOfMemoryException)
                {
                    // Never out of the reader thread (it would end the process); a stack disposed meanwhile gets here.
                    NetStackLog.ProcessingFailed(_logger, 0, inner);
                }
            }
        }
    }

    // One turn of the reader's loop, a method of its own so it is compiled like any hot method (with profile data) rather
    // than as the loop's on-stack replacement, which kept the reader's state in the unoptimized frame's slots.
    private void ReadOnce()
    {
        // Poll when the last read says the device is empty (or, reading one packet per pass, when a read right after a
        // pass tends to find nothing); take what is waiting — all of it, or one packet while the traffic is
        // request/response — and run one pass over it. AdaptiveReadLimit decides both from what reads found.
        if (_readLimit.PollNext && !_device.WaitReadable(StopCheckInterval)) return;
        bool passesMayRead = _passesMayRead;
        if (passesMayRead) TakeDevice();
        try
        {
            int limit = _readLimit.Limit;
            int count = _received.Fill(_device, limit);
            // The pass drains the device first when its clock finds a timer due (see ProcessReceived); it says so in limit.
            if (count > 0) count = ProcessReceived(ref limit);
            _readLimit.Record(limit, count, _received.Drained);
        }
        finally
        {
            if (passesMayRead) Volatile.Write(ref _deviceTaken, 0);
        }
    }

    // The reader waits out a pass that is taking packets (a few reads under the engine lock).
    private void TakeDevice()
    {
        var spin = default(SpinWait);
        while (Interlocked.CompareExchange(ref _deviceTaken, 1, 0) != 0) spin.SpinOnce();
    }

    /// <summary>
    /// Under the engine lock, in a pass about to fire a due timer (the timer's own, or an application call's), first: the
    /// packets waiting in the device that the reader has not read, fed to the engine, as the reader's own pass does when it
    /// finds a timer due (ProcessReceived). The timer thread runs at nice -20; a reader starved of CPU on a busy machine
    /// (or by a pause) leaves unread the ACKs that answer the timers' questions, and the timers then resend what arrived (a
    /// loss probe, a timeout). Skipped when the reader holds packets it read and has not fed yet: those go first, in its pass.
    /// </summary>
    private void TakeWaitingBeforeTimers(TimeSpan now)
    {
        if (!_passesMayRead || Interlocked.CompareExchange(ref _deviceTaken, 1, 0) != 0) return;
        try
        {
            FeedWaiting(now);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device that fails here fails the reader's next read too, which reports it and ends the stack (ReadLoop);
            // this pass, an application call's among them, goes on to its timers rather than leave the engine lock held.
        }
        finally
        {
            Volatile.Write(ref _deviceTaken, 0);
        }
    }

    /// <summary>
    /// One pass for the packets in <see cref="_received"/>, all stamped with one instant, and those other shards handed
    /// over. The packets go in before due timers fire (Exit polls): after a stall, the ACKs that waited in the device must
    /// reach the engine before the loss-detection timers they answer (a tail loss probe, RACK's reorder timer, the RTO)
    /// fire spuriously. So when the reader took one packet (<paramref name="limit"/> 1) and the pass's clock finds the
    /// engine's timer due (the reader was held up, say), the pass first takes whatever else waits in the device — under the
    /// engine lock, which that rare case holds a few reads longer — and sets <paramref name="limit"/> to a full batch's.
    /// Asked here, the question costs no clock read of its own. A packet whose 4-tuple another shard owns goes there
    /// instead. Returns the packets the batch holds.
    /// </summary>
    private int ProcessReceived(ref int limit)
    {
        TimeSpan now = Enter(pollFirst: false);
        try
        {
            if (limit < ReceiveBatch.MaxPackets && !_received.Drained && now.Ticks >= _timerDueTicks)
            {
                limit = ReceiveBatch.MaxPackets;
                _received.FillMore(_device, limit);
                now = BeginPass(pollFirst: false); // the packets just read are stamped with an instant after their arrival
            }
            Feed(_received, now);
            // The batch stopped full and a timer is due: what still waits goes in before Exit fires it, as in any pass about
            // to fire one (TakeWaitingBeforeTimers); the reader holds the device already.
            if (_reader is not null && !_received.Drained && now.Ticks >= _timerDueTicks) FeedWaiting(BeginPass(pollFirst: false));
        }
        finally
        {
            Exit();
        }
        return _received.Count;
    }

    /// <summary>
    /// Under the engine lock, holding the device: the packets waiting in it, a batch at a time, until it is empty or
    /// <see cref="MaxBatchesBeforeTimers"/> batches went in; counted in <see cref="PacketsTakenBeforeTimers"/>.
    /// </summary>
    private void FeedWaiting(TimeSpan now)
    {
        ReceiveBatch batch = _passReceived ??= new ReceiveBatch(_device);
        for (int i = 0; i < MaxBatchesBeforeTimers; i++)
        {
            if (batch.Fill(_device) == 0) return;
            Interlocked.Add(ref _takenBeforeTimers, batch.Count);
            Feed(batch, now);
            if (batch.Drained) return;
        }
    }

    // A device that never empties (a flood) still lets a due timer fire, after at most this many batches (1,024 packets).
    private const int MaxBatchesBeforeTimers = 16;

    /// <summary>
    /// Under the engine lock: the batch's packets into the engine, all stamped <paramref name="now"/>, except those whose
    /// 4-tuple another shard owns, which go there; then what other shards handed over.
    /// </summary>
    private void Feed(ReceiveBatch batch, TimeSpan now)
    {
        FourTupleOwners? owners = _stack.Owners;
        for (int i = 0; i < batch.Count; i++)
        {
            ReadOnlySpan<byte> packet = batch[i];
            bool trusted = batch.Offload(i).ChecksumTrusted;
            if (owners is not null && owners.OwnerOf(packet) is int owner && owner != Index)
            {
                _stack.ShardAt(owner).HandOver(packet, trusted);
                continue;
            }
            Receive(packet, trusted, now);
        }
        if (owners is not null) TakeHandedOver(now); // only shards of one stack hand packets over
    }

    /// <summary>
    /// From another shard's reader: a packet that arrived on its queue but belongs here (the kernel steered it by a flow
    /// entry that expired or was never made). Copied, queued without a lock, and taken by this shard's next pass: a
    /// thread-pool pass queued here, or the reader's next batch, whichever comes first.
    /// </summary>
    public void HandOver(ReadOnlySpan<byte> packet, bool checksumTrusted)
    {
        byte[] copy = ArrayPool<byte>.Shared.Rent(packet.Length);
        packet.CopyTo(copy);
        _handedOver.Enqueue(new HandedOver(copy, packet.Length, checksumTrusted));
        _stack.CountHandedOver();
        // A pumped stack takes them at its next pump; a running one must not wait for this queue's next packet.
        if (_reader is not null && Interlocked.Exchange(ref _drainQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(DrainCallback, this, preferLocal: false);
        }
    }

    private void DrainHandedOver()
    {
        Volatile.Write(ref _drainQueued, 0); // a packet queued from now on queues another pass
        if (_handedOver.IsEmpty || _stack.ReadersStop || _stack.DeviceFailure is not null) return;
        TimeSpan now;
        try
        {
            now = Enter(pollFirst: false);
        }
        catch (ObjectDisposedException)
        {
            return; // the stack stopped meanwhile
        }
        try
        {
            TakeHandedOver(now);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Under the engine lock: feeds what other shards handed over.</summary>
    private void TakeHandedOver(TimeSpan now)
    {
        while (_handedOver.TryDequeue(out HandedOver packet))
        {
            Receive(packet.Buffer.AsSpan(0, packet.Length), packet.ChecksumTrusted, now);
            ArrayPool<byte>.Shared.Return(packet.Buffer);
        }
    }

    /// <summary>
    /// The device failed (the stack has recorded why): under this shard's lock, its timer stops and every waiting call of
    /// its connections fails with <paramref name="error"/>'s message.
    /// </summary>
    public void FailPending(Func<IOException> error)
    {
        _gate.Enter();
        try
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timerDueTicks = TimerDisarmed;
            foreach (UserTcpConnection connection in _connections.Values) connection.FailPending(error());
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Graceful stop, first step: stops listening here and closes (FIN) or counts the connections still open.</summary>
    public int CloseAll(bool graceful)
    {
        int open;
        Enter();
        try
        {
            foreach (UserTcpListener.Part listener in _listeners.Values.ToList()) listener.CloseHere();
            open = _engine.Connections.Count(c => c.State != TcpState.TimeWait);
            if (graceful)
            {
                foreach (TcpConnection c in _engine.Connections.ToList()) c.Close();
            }
        }
        finally
        {
            Exit();
        }
        return open;
    }

    /// <summary>Done once every FIN is acknowledged: the peer has the whole stream (FIN-WAIT-2 counts as done).</summary>
    public bool AllClosesFinished()
    {
        lock (_gate) return _engine.Connections.All(c => c.State is TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed);
    }

    /// <summary>Last steps of a stop: resets what did not finish closing, then fails whatever still waits.</summary>
    public void AbortRemaining()
    {
        Enter();
        try
        {
            foreach (TcpConnection c in _engine.Connections.ToList())
            {
                if (c.State is not (TcpState.TimeWait or TcpState.FinWait2)) c.Abort();
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Under its lock: fails every call still waiting; from here on application calls are refused.</summary>
    public void FailWaitingAndStop()
    {
        Enter();
        try
        {
            foreach (UserTcpConnection connection in _connections.Values) connection.FailPending(new ObjectDisposedException(nameof(NetStack)));
            _stopped = true;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Stops the timer and the reader and closes the device (the last queue closed removes a TUN interface).</summary>
    public async ValueTask StopAsync()
    {
        await _timer.DisposeAsync().ConfigureAwait(false);
        JoinReader();
        _device.Dispose();
        while (_handedOver.TryDequeue(out HandedOver packet)) ArrayPool<byte>.Shared.Return(packet.Buffer);
    }

    private readonly record struct HandedOver(byte[] Buffer, int Length, bool ChecksumTrusted);
}
