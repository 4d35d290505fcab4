using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Sockets;

/// <summary>
/// The runtime: owns a device, the engine and a clock. One dedicated thread reads the device and runs the engine
/// for each packet inline (docs/design.md "Runtime": no per-packet thread hops); a timer runs the engine's
/// deadlines; application calls take the same lock, act, and send what they caused on their own thread.
/// Waiting applications are woken by completing tasks whose continuations run asynchronously, never inline.
/// </summary>
public sealed class NetStack : IAsyncDisposable
{
    private const int ReadBatch = 64;
    private static readonly TimeSpan StopCheckInterval = TimeSpan.FromMilliseconds(200);

    // Serializes every call into the engine (reader thread, timer, application threads).
    private readonly Lock _gate = new();
    private readonly TcpEngine _engine;
    private readonly IPacketDevice _device;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly ITimer _timer;
    private readonly Thread _reader;
    private readonly DeviceTransmitter _transmitter;
    private readonly ILogger _logger;
    // Application waits not yet satisfied; checked after every engine call. Guarded by _gate.
    private readonly List<Waiter> _waiters = [];
    // Listeners opened through Listen, for SnapshotListeners; closed ones are pruned there. Guarded by _gate.
    private readonly List<Engine.TcpListener> _listeners = [];
    // When the timer is set to fire (stack time); null when disarmed. Guarded by _gate.
    private TimeSpan? _timerDue;
    private volatile bool _stopping;
    private int _disposed;
    private long _processingErrors;
    // The first DisposeAsync's work; later calls wait for it.
    private Task? _disposal;

    private NetStack(IPacketDevice device, NetStackOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _device = device;
        Options = options;
        _time = time;
        _startTimestamp = time.GetTimestamp();
        _logger = loggerFactory.CreateLogger("UserTcp.Sockets");
        ITcpEventSink log = new LoggingEventSink(loggerFactory.CreateLogger("UserTcp.Engine"));
        // The MSS we offer can never exceed what the device carries (MTU minus IPv4 and TCP headers).
        TcpConfig tcp = options.Tcp.Mss > device.Mtu - 40 ? options.Tcp with { Mss = (ushort)(device.Mtu - 40) } : options.Tcp;
        _engine = new TcpEngine(options.Address, tcp, options.Events is null ? log : new FanOutEventSink(log, options.Events));
        _transmitter = new DeviceTransmitter(this);
        _timer = time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"usertcp {options.Address} reader" };
    }

    /// <summary>Starts a stack on <paramref name="device"/>; it owns the device from now on and disposes it.</summary>
    public static NetStack Start(IPacketDevice device, NetStackOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        var stack = new NetStack(device, options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System);
        stack._reader.Start();
        NetStackLog.Started(stack._logger, options.Address, device.Mtu);
        return stack;
    }

    public NetStackOptions Options { get; }
    public Ipv4Address Address => Options.Address;
    /// <summary>Time since the stack started: the engine's clock.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_startTimestamp);
    /// <summary>What the engine has counted (read without the lock; values may be a moment old).</summary>
    public EngineCounters Counters => _engine.Counters;
    /// <summary>The engine's configuration in force (the options' TcpConfig, with the MSS fitted to the device).</summary>
    public TcpConfig TcpConfig => _engine.Config;
    /// <summary>Packets whose processing threw (a bug, or a failing event sink); each is logged and dropped.</summary>
    public long ProcessingErrors => Interlocked.Read(ref _processingErrors);
    /// <summary>The stack has begun disposing: application calls are refused, closes and disposes do nothing.</summary>
    public bool IsStopping => _disposed != 0;

    internal TimeProvider TimeProvider => _time;

    /// <summary>Listens on <paramref name="port"/> of this stack's address; <paramref name="options"/> apply to the connections it accepts.</summary>
    public UserTcpListener Listen(ushort port, int backlog = 128, ConnectionOptions? options = null)
    {
        options?.Validate();
        lock (_gate)
        {
            try
            {
                Engine.TcpListener listener = _engine.Listen(port, backlog, options?.Apply(_engine.Config));
                _listeners.Add(listener);
                return new UserTcpListener(this, listener);
            }
            catch (TcpException e)
            {
                throw e.ToSocketException();
            }
        }
    }

    /// <summary>Opens a connection; completes when it is established, throws <see cref="SocketException"/> when refused or timed out.</summary>
    public Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, CancellationToken cancellationToken = default) =>
        ConnectAsync(remote, null, cancellationToken);

    /// <summary>Opens a connection with its own <paramref name="options"/> (buffer sizes, NoDelay, KeepAlive).</summary>
    public async Task<UserTcpConnection> ConnectAsync(IpEndpoint remote, ConnectionOptions? options, CancellationToken cancellationToken = default)
    {
        options?.Validate();
        TcpConnection tcb = Call(() =>
        {
            try
            {
                return _engine.Connect(remote, config: options?.Apply(_engine.Config));
            }
            catch (TcpException e)
            {
                throw e.ToSocketException();
            }
        });
        var connection = new UserTcpConnection(this, tcb);
        try
        {
            await WaitAsync(() => tcb.State is not (TcpState.SynSent or TcpState.SynReceived), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Call(tcb.Abort);
            throw;
        }
        if (tcb.State == TcpState.Closed && tcb.Error != TcpError.None) throw tcb.Error.ToSocketException();
        return connection;
    }

    /// <summary>A consistent copy of the connection table, for `usertcp ss` and diagnostics.</summary>
    public IReadOnlyList<ConnectionSnapshot> Snapshot()
    {
        lock (_gate)
        {
            TimeSpan now = Now;
            return [.. _engine.Connections.Select(c => ConnectionSnapshot.Of(c, now))];
        }
    }

    /// <summary>
    /// The open listeners as LISTEN rows, the way `ss -tln` shows them: <see cref="ConnectionSnapshot.ReceiveQueue"/> is the
    /// number of established connections waiting to be accepted, <see cref="ConnectionSnapshot.SendQueue"/> the backlog,
    /// and the remote endpoint is 0.0.0.0:0. Read-only, for `usertcp ss` and diagnostics.
    /// </summary>
    public IReadOnlyList<ConnectionSnapshot> SnapshotListeners()
    {
        lock (_gate)
        {
            _listeners.RemoveAll(l => l.IsClosed);
            return [.. _listeners.Select(l => new ConnectionSnapshot(TcpState.Listen, l.LocalEndpoint, default, l.PendingAccepts, l.Backlog,
                TcpTimer.None, null, 0, TimeSpan.Zero, 0))];
        }
    }

    /// <summary>Runs an application call against the engine, then sends what it caused and wakes whoever it unblocked.</summary>
    internal T Call<T>(Func<T> call)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0 && _stopping, this);
            // Bring the engine to the present first: timers the call arms count from now, not from the last packet.
            TimeSpan now = Now;
            _engine.Poll(now, _transmitter);
            try
            {
                return call();
            }
            finally
            {
                AfterEngine(now);
            }
        }
    }

    internal void Call(Action call) => Call(() =>
    {
        call();
        return true;
    });

    /// <summary>Completes when <paramref name="ready"/> holds (checked now and after every engine call).</summary>
    internal Task WaitAsync(Func<bool> ready, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (ready()) return Task.CompletedTask;
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled(cancellationToken);
            // Once disposal has woken every waiter, nothing would wake a new one.
            if (_stopping) return Task.FromException(new ObjectDisposedException(nameof(NetStack)));
            var waiter = new Waiter(ready);
            _waiters.Add(waiter);
            if (cancellationToken.CanBeCanceled)
            {
                // A cancelled wait leaves the list at once, so abandoned reads and accepts cost nothing later.
                waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
                {
                    var (stack, cancelled) = ((NetStack, Waiter))state!;
                    lock (stack._gate) stack._waiters.Remove(cancelled);
                    cancelled.Completion.TrySetCanceled(token);
                }, (this, waiter));
            }
            return waiter.Completion.Task;
        }
    }

    private void ReadLoop()
    {
        byte[] buffer = GC.AllocateArray<byte>(Math.Max(_device.Mtu, 1500), pinned: true);
        try
        {
            while (!_stopping)
            {
                // Take what is waiting, in batches, and wait only once the device is empty.
                bool more = true;
                while (more && !_stopping)
                {
                    lock (_gate)
                    {
                        TimeSpan now = Now;
                        // One wake-up of the waiters per batch, not per packet.
                        int count = 0;
                        while (count < ReadBatch && (more = _device.TryRead(buffer, out int length)))
                        {
                            ReceiveOne(buffer.AsSpan(0, length), now);
                            count++;
                        }
                        if (count > 0) AfterEngine(now);
                    }
                }
                if (!_stopping) _device.WaitReadable(StopCheckInterval);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device that fails or is closed under the reader ends receiving; at shutdown that is expected.
            if (!_stopping) NetStackLog.ReadFailed(_logger, e);
        }
    }

    // One packet whose processing throws is logged and dropped; the stack goes on receiving.
    private void ReceiveOne(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        try
        {
            _engine.Receive(packet, now, _transmitter);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _processingErrors);
            NetStackLog.ProcessingFailed(_logger, packet.Length, e);
        }
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (_stopping && _disposed != 0) return;
            _timerDue = null;
            try
            {
                AfterEngine(Now);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // An exception must not escape into the timer's thread (it would end the process).
                Interlocked.Increment(ref _processingErrors);
                NetStackLog.ProcessingFailed(_logger, 0, e);
            }
        }
    }

    /// <summary>Under the lock: run due timers and pending output, wake waiters, and re-arm the timer.</summary>
    private void AfterEngine(TimeSpan now)
    {
        _engine.Poll(now, _transmitter);
        for (int i = _waiters.Count - 1; i >= 0; i--)
        {
            Waiter waiter = _waiters[i];
            if (waiter.Completion.Task.IsCompleted || waiter.Ready())
            {
                waiter.Registration.Unregister(); // never Dispose here: it would wait for a running callback that needs this lock
                waiter.Completion.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
        TimeSpan? due = _engine.PollAt;
        if (due == _timerDue) return;
        _timerDue = due;
        if (!_stopping || _disposed == 0)
        {
            _timer.Change(due is TimeSpan at ? Max(at - now, TimeSpan.FromMilliseconds(1)) : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// Closes every connection (gracefully with a deadline, or by RST, per <see cref="NetStackOptions.CloseOnDispose"/>),
    /// stops the reader and timer, and disposes the device (which removes a TUN interface).
    /// </summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed == 0)
            {
                _disposed = 1;
                _disposal = DisposeCoreAsync();
            }
        }
        return new ValueTask(_disposal!);
    }

    private async Task DisposeCoreAsync()
    {
        await Task.Yield(); // the caller may hold the lock's thread; the work runs after DisposeAsync returns its task
        // New connections would only delay the graceful close and then be reset: stop listening first.
        Call(() =>
        {
            foreach (Engine.TcpListener listener in _listeners) listener.Close();
        });
        int open = Call(() => _engine.Connections.Count(c => c.State != TcpState.TimeWait));
        if (Options.CloseOnDispose == CloseMode.Graceful && open > 0)
        {
            Call(() =>
            {
                foreach (TcpConnection c in _engine.Connections.ToList()) c.Close();
            });
            try
            {
                // Done once every FIN is acknowledged: the peer has the whole stream. FIN-WAIT-2 is left as it is
                // (no RST): the peer reads end-of-stream, and whatever it sends later meets a stack that is gone.
                await WaitAsync(() => _engine.Connections.All(c => c.State is TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closed), CancellationToken.None)
                    .WaitAsync(Options.ShutdownTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Whatever has not finished by the deadline is reset below.
            }
        }
        Call(() =>
        {
            foreach (TcpConnection c in _engine.Connections.ToList())
            {
                if (c.State is not (TcpState.TimeWait or TcpState.FinWait2)) c.Abort();
            }
        });
        lock (_gate)
        {
            _stopping = true;
            foreach (Waiter waiter in _waiters)
            {
                waiter.Registration.Unregister();
                waiter.Completion.TrySetResult();
            }
            _waiters.Clear();
        }
        await _timer.DisposeAsync().ConfigureAwait(false);
        _reader.Join(StopCheckInterval * 3);
        _device.Dispose();
        NetStackLog.Stopped(_logger, Address, open, Options.CloseOnDispose);
    }

    private sealed class Waiter(Func<bool> ready)
    {
        public Func<bool> Ready { get; } = ready;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    /// <summary>Hands the engine's packets to the device, on whichever thread holds the lock.</summary>
    private sealed class DeviceTransmitter(NetStack stack) : IPacketTransmitter
    {
        public void Transmit(ReadOnlySpan<byte> packet)
        {
            try
            {
                stack._device.Write(packet);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A lost packet is what TCP recovers from; a failing device must not take the engine down with it.
                NetStackLog.WriteFailed(stack._logger, packet.Length, e);
            }
        }
    }
}
