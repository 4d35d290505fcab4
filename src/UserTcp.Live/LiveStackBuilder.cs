using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Live;

/// <summary>
/// Builds a live stack, the one way every command, the demo, the bench, the lab and the integration tests bring
/// UserTcp up on a real TUN device:
/// <list type="number">
/// <item>the TUN device (<see cref="InterfaceName"/>, the kernel at <see cref="KernelAddress"/>, <see cref="Mtu"/>, in
/// <see cref="Mode"/>), made in the named network namespace <see cref="Namespace"/> or in the caller's own;</item>
/// <item>around it, when <see cref="Faults"/> are given, a <see cref="FaultInjectingDevice"/> applying them to both
/// directions; otherwise, when something captures, a <see cref="CapturingDevice"/>;</item>
/// <item>the capture: a pcapng file at <see cref="CapturePath"/> and/or the caller's <see cref="Tap"/>, both seeing every
/// packet as the link carried it, faults noted; in the file, the kernel's packets carry the instant the kernel sent them
/// (<see cref="KernelClockTap"/>), the tap's carry the instant UserTcp read them;</item>
/// <item>the <see cref="NetStack"/> at <see cref="Address"/> on top, its engine's events going to the caller's
/// <see cref="Events"/> and to the connection-state tracker the fault rules read.</item>
/// </list>
/// <see cref="LiveStack.DisposeAsync"/> undoes it in reverse: the stack (which closes its connections, then the device
/// chain and so the interface), then the capture file. Defaults are <see cref="LiveDefaults"/>'s. The MSS offered is
/// set here from the MTU (MTU less 40), once; the runtime only refuses to exceed what the device carries.
/// </summary>
public sealed record LiveStackBuilder
{
    /// <summary>The TUN interface's name.</summary>
    public string InterfaceName { get; init; } = LiveDefaults.InterfaceName;
    /// <summary>The kernel's address on the interface, with the prefix the kernel routes through it.</summary>
    public InterfaceAddress KernelAddress { get; init; } = LiveDefaults.KernelAddress;
    /// <summary>UserTcp's own address, inside the kernel's prefix.</summary>
    public Ipv4Address Address { get; init; } = LiveDefaults.StackAddress;
    /// <summary>The interface's MTU; the MSS offered follows from it.</summary>
    public int Mtu { get; init; } = LiveDefaults.Mtu;
    /// <summary>The TUN interface's transmit queue (txqueuelen); null keeps the kernel's 500 (<see cref="TunOptions.QueueLength"/>).</summary>
    public int? TunQueueLength { get; init; }
    /// <summary>An existing named network namespace (ip netns add) to make the interface in; null for the caller's own.</summary>
    public string? Namespace { get; init; }
    /// <summary>Plain packets, or the kernel's offloads (TSO both ways, partial checksums); by default <see cref="LiveDefaults.Mode"/>.</summary>
    public TunDeviceMode Mode { get; init; } = LiveDefaults.Mode;

    /// <summary>
    /// Device queues (IFF_MULTI_QUEUE), one engine shard and reader thread each; by default <see cref="LiveDefaults.Queues"/>.
    /// When the kernel refuses a multi-queue interface the stack runs on one queue (and logs why); captures run on one
    /// queue (<see cref="EffectiveQueues"/>).
    /// </summary>
    public int Queues
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TunOptions.MaxQueues);
            field = value;
        }
    } = LiveDefaults.Queues;

    /// <summary>Fault rules applied to both directions on the device; none for a clean link.</summary>
    public IReadOnlyList<FaultRule> Faults { get; init; } = [];
    /// <summary>Seeds the faults' random choices (probabilities, corruption).</summary>
    public int FaultSeed { get; init; } = 1;

    /// <summary>Write every packet, faults marked, to this pcapng file.</summary>
    public string? CapturePath { get; init; }
    /// <summary>Also hand every packet, faults noted, to this tap (the lab's recorder).</summary>
    public IPacketTap? Tap { get; init; }

    /// <summary>The engine's tunables; the MSS is replaced by the MTU's.</summary>
    public TcpConfig Tcp { get; init; } = new();
    /// <summary>Another consumer of the engine's events (a trace, the lab's recorder).</summary>
    public ITcpEventSink? Events { get; init; }
    /// <summary>The stack's reader threads run at nice -20 (<see cref="NetStackOptions.HighPriorityReaders"/>; the lab's do).</summary>
    public bool HighPriorityReaders { get; init; }
    /// <summary>What disposing of the stack does to open connections: close them (FIN) or abort them (RST).</summary>
    public CloseMode CloseOnDispose { get; init; } = CloseMode.Graceful;
    /// <summary>How long a graceful dispose waits for connections to finish closing; null for the runtime's default.</summary>
    public TimeSpan? ShutdownTimeout { get; init; }
    /// <summary>Where the stack and the engine log; null for no logging.</summary>
    public ILoggerFactory? Logging { get; init; }
    /// <summary>The clock; null for the system's.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>What the TUN link joins, as a capture describes its interface: "kernel 10.77.0.1/24 - UserTcp 10.77.0.2".</summary>
    public string LinkDescription => $"kernel {KernelAddress} - UserTcp {Address}";

    /// <summary>"10.77.0.2 (utcp0)" or "10.77.0.2 (utcp0 in namespace demo)".</summary>
    public string Where => Namespace is null ? $"{Address} ({InterfaceName})" : $"{Address} ({InterfaceName} in namespace {Namespace})";

    /// <summary>Makes the device, its wrappers and the stack; on failure, undoes what was made.</summary>
    /// <exception cref="TunException">The interface cannot be made (name in use, no CAP_NET_ADMIN, no such namespace).</exception>
    /// <exception cref="IOException">The capture file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The capture file cannot be written.</exception>
    public LiveStack Start()
    {
        ILoggerFactory logging = Logging ?? NullLoggerFactory.Instance;
        ILogger logger = logging.CreateLogger("UserTcp.Live");
        TimeProvider time = Time ?? TimeProvider.System;
        var tunOptions = new TunOptions(InterfaceName, KernelAddress, Mtu) { QueueLength = TunQueueLength };
        PcapNgWriter? file = null;
        KernelClockTap? kernelClock = null;
        IReadOnlyList<IPacketDevice>? devices = null;
        IReadOnlyList<TunDevice>? queues = null;
        try
        {
            if (CapturePath is not null) file = PcapNgWriter.Create(CapturePath, time.GetUtcNow(), InterfaceName, LinkDescription);
            queues = OpenQueues(tunOptions, EffectiveMode, EffectiveQueues, logger);
            devices = queues;
            if (file is not null) kernelClock = OpenKernelClock(file, queues[0].Name, logger);
            IPacketTap? capture = (IPacketTap?)kernelClock ?? file;
            IPacketTap? tap = (capture, Tap) switch
            {
                (null, null) => null,
                ({ } f, null) => f,
                (null, { } t) => t,
                ({ } f, { } t) => new TeeTap(f, t),
            };
            // The wrappers stamp packets with the stack's clock, which starts a moment later: until then it reads zero.
            NetStack? started = null;
            Func<TimeSpan> clock = () => started?.Now ?? TimeSpan.Zero;
            ConnectionStateTracker? states = null;
            FaultInjectingDevice? faults = null;
            if (Faults.Count > 0)
            {
                states = new ConnectionStateTracker();
                // One injector per queue, all on one link: the rules count, and the counters add up, over every queue.
                IReadOnlyList<FaultInjectingDevice> injectors = FaultInjectingDevice.ForQueues(queues, Faults, FaultSeed, time, states, tap, clock);
                faults = injectors[0];
                faults.OnFault = e => LiveLog.Fault(logger, e.At.TotalSeconds, e.Detail, e.Packet);
                if (logger.IsEnabled(LogLevel.Information))
                {
                    string rules = string.Join("; ", Faults.Select(r => r.Description));
                    LiveLog.FaultRules(logger, InterfaceName, rules, FaultSeed);
                }
                devices = injectors;
            }
            else if (tap is not null)
            {
                devices = [new CapturingDevice(queues[0], tap, clock)]; // one queue (EffectiveQueues)
            }
            ITcpEventSink? events = (states, Events) switch
            {
                (null, null) => null,
                ({ } s, null) => s,
                (null, { } e) => e,
                ({ } s, { } e) => new FanOutEventSink(s, e),
            };
            var options = new NetStackOptions
            {
                Address = Address,
                Tcp = Tcp with { Mss = (ushort)Math.Min(Mtu - 40, ushort.MaxValue) },
                CloseOnDispose = CloseOnDispose,
                Events = events,
                HighPriorityReaders = HighPriorityReaders,
            };
            if (ShutdownTimeout is TimeSpan shutdown) options = options with { ShutdownTimeout = shutdown };
            started = devices.Count > 1 ? NetStack.StartQueues(devices, options, logging, time) : NetStack.Start(devices[0], options, logging, time);
            NetStack stack = started;
            kernelClock?.Calibrate(() => stack.Now); // the stack's clock stamps the packets, so the kernel's is measured against it
            return new LiveStack(this, started, queues, faults, file, kernelClock);
        }
        catch
        {
            if (devices is not null && !ReferenceEquals(devices, queues))
            {
                foreach (IPacketDevice wrapper in devices) wrapper.Dispose(); // each disposes its queue
            }
            if (queues is not null)
            {
                foreach (TunDevice queue in queues) queue.Dispose();
            }
            kernelClock?.Dispose();
            file?.Dispose();
            throw;
        }
    }

    // The capture's kernel clock: a packet socket on the interface just made; none (and the read instants stand) without CAP_NET_RAW.
    private KernelClockTap? OpenKernelClock(PcapNgWriter file, string interfaceName, ILogger logger)
    {
        KernelPacketSocket? socket = KernelPacketSocket.Open(Address, Namespace, interfaceName, out string? failure);
        if (socket is null)
        {
            LiveLog.CapturingAtReads(logger, interfaceName, CapturePath!, failure!);
            return null;
        }
        LiveLog.Capturing(logger, interfaceName, CapturePath!);
        return new KernelClockTap(file, socket);
    }

    /// <summary>
    /// The TUN device alone, as <see cref="Start"/> would make it (name, addresses, MTU, namespace) but always plain, for
    /// commands that run no stack on it (capture, doctor) and read whole packets of at most the MTU. The caller disposes
    /// it, which removes the interface.
    /// </summary>
    /// <exception cref="TunException">The interface cannot be made.</exception>
    public IPacketDevice OpenDevice() => OpenDevice(new TunOptions(InterfaceName, KernelAddress, Mtu), TunDeviceMode.Plain);

    /// <summary>The mode the device really runs in: fault injection needs plain, whole packets (a rule acts on segments as the peer sees them).</summary>
    public TunDeviceMode EffectiveMode => Faults.Count > 0 ? TunDeviceMode.Plain : Mode;

    /// <summary>
    /// The queues asked of the kernel: <see cref="Queues"/>, or one when a capture or a tap records the link (its file and
    /// the lab's recorder take the packets as one ordered stream). Faults run on every queue, one injector each, sharing
    /// the rules and counters (<see cref="FaultInjectingDevice.ForQueues"/>).
    /// </summary>
    public int EffectiveQueues => CapturePath is not null || Tap is not null ? 1 : Queues;

    // <asm-generic/errno-base.h>: EINVAL, no IFF_MULTI_QUEUE (or flags the driver refuses); E2BIG, more than MAX_TAP_QUEUES.
    private const int ErrnoInvalid = 22;
    private const int ErrnoTooManyQueues = 7;

    // The device's queues, made in the namespace; one when the kernel refuses several (an old kernel, a driver without IFF_MULTI_QUEUE).
    private IReadOnlyList<TunDevice> OpenQueues(TunOptions options, TunDeviceMode mode, int queues, ILogger logger)
    {
        if (queues == 1) return [OpenDevice(options, mode)];
        options = options with { Queues = queues };
        if (mode == TunDeviceMode.Offload) options = options with { Offloads = true };
        try
        {
            return Namespace is null ? TunDevice.OpenQueues(options) : NetworkNamespace.Invoke(Namespace, () => TunDevice.OpenQueues(options));
        }
        catch (TunException e) when (e.Errno is ErrnoInvalid or ErrnoTooManyQueues)
        {
            LiveLog.OneQueue(logger, queues, options.Name, e.Message);
            return [OpenDevice(options with { Queues = 1 }, mode)];
        }
    }

    // The device of the given mode, made in the namespace.
    private TunDevice OpenDevice(TunOptions options, TunDeviceMode mode)
    {
        options = mode switch
        {
            TunDeviceMode.Plain => options,
            TunDeviceMode.Offload => options with { Offloads = true },
            _ => throw new InvalidOperationException($"{mode} is not a TUN device mode"),
        };
        return Namespace is null ? TunDevice.Open(options) : NetworkNamespace.Invoke(Namespace, () => TunDevice.Open(options));
    }

    /// <summary>Hands every record to two taps.</summary>
    private sealed class TeeTap(IPacketTap first, IPacketTap second) : IPacketTap
    {
        public void Record(ReadOnlySpan<byte> packet, PacketDirection direction, TimeSpan at, FaultNote? fault)
        {
            first.Record(packet, direction, at, fault);
            second.Record(packet, direction, at, fault);
        }
    }
}
