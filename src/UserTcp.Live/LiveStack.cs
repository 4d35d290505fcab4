using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Tun;

namespace UserTcp.Live;

/// <summary>
/// A running live stack made by <see cref="LiveStackBuilder.Start"/>: the <see cref="NetStack"/>, the fault injector
/// and capture around its TUN device. Disposing stops the stack (its connections close as the builder's CloseOnDispose
/// says; the device chain and the interface go with it), then closes the capture file.
/// </summary>
public sealed class LiveStack : IAsyncDisposable
{
    private readonly PcapNgWriter? _capture;
    private int _disposed;

    internal LiveStack(LiveStackBuilder settings, NetStack stack, IReadOnlyList<TunDevice> queues, FaultInjectingDevice? faults, PcapNgWriter? capture,
        KernelClockTap? kernelClock)
    {
        KernelClock = kernelClock;
        Settings = settings;
        Stack = stack;
        Queues = queues;
        Faults = faults;
        _capture = capture;
    }

    /// <summary>What was built.</summary>
    public LiveStackBuilder Settings { get; }
    /// <summary>The stack: listen, connect, snapshot.</summary>
    public NetStack Stack { get; }
    /// <summary>The TUN device under the wrappers (its first queue): the offloads the kernel granted, and that queue's counters.</summary>
    public TunDevice Device => Queues[0];
    /// <summary>Every queue of the TUN device, one shard of the stack each (one unless <see cref="LiveStackBuilder.Queues"/> asked for more and the kernel agreed).</summary>
    public IReadOnlyList<TunDevice> Queues { get; }
    /// <summary>The fault injector on the device, when rules were given: its counters and rules' counts.</summary>
    public FaultInjectingDevice? Faults { get; }
    /// <summary>
    /// The capture file's clock for the kernel's packets (how many got the kernel's instant), when a capture file is
    /// written and the packet socket opened; null otherwise.
    /// </summary>
    public KernelClockTap? KernelClock { get; }
    /// <summary>The stack's clock; packets in the capture are stamped with it (the kernel's converted to it).</summary>
    public TimeSpan Now => Stack.Now;
    /// <summary>"10.77.0.2 (utcp0)" or "10.77.0.2 (utcp0 in namespace demo)".</summary>
    public string Where => Settings.Where;

    /// <summary>Pushes the capture written so far to its file, for a reader while the stack runs.</summary>
    public void FlushCapture() => _capture?.Flush();

    /// <summary>Disposes of the stack (its connections as <see cref="LiveStackBuilder.CloseOnDispose"/> says, then its device), then the capture.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await Stack.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            KernelClock?.Dispose();
            _capture?.Dispose();
        }
    }
}
