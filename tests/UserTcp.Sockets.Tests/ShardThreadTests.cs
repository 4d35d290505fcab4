using System.Diagnostics;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// A running stack's own threads. Its engine timers fire on time while the .NET thread pool is starved (docs/design.md
/// "Runtime", the timer): on the system clock each shard's deadlines come from a thread of its own, not from the system
/// timer, whose callbacks wait for a pool thread (a CLOSE-WAIT timer 824 ms late on a loaded CI machine). That thread
/// runs at nice -20 as root, and so do the readers when <see cref="NetStackOptions.HighPriorityReaders"/> asks. Real
/// time, so the bounds are loose. The class runs alone: a starved pool would delay every other test's continuations,
/// and other stacks' timer threads carry the same name.
/// </summary>
[Collection(nameof(ShardThreadTests))]
public sealed class ShardThreadTests
{
    private static readonly Ipv4Address Address = new(10, 0, 0, 2);
    private static readonly TimeSpan Rto = TimeSpan.FromMilliseconds(200);
    // How late the SYN's retransmission may be beside 64+ blocked pool threads: scheduling on a busy 2-vCPU machine. A
    // timer run by the starved pool waits behind all of them, seconds.
    private static readonly TimeSpan StarvedTolerance = TimeSpan.FromMilliseconds(400);

    [Fact]
    public async Task The_syns_retransmission_leaves_on_time_while_the_thread_pool_is_starved()
    {
        using var device = new SilentDevice();
        var tcp = new TcpConfig { InitialRto = Rto };
        var firing = new FiringThreads();
        await using NetStack stack = NetStack.Start(device, new NetStackOptions { Address = Address, Tcp = tcp, CloseOnDispose = CloseMode.Reset, Events = firing });
        long[] syns;
        long connecting;
        using (var starvation = ThreadPoolStarvation.Begin())
        {
            // A SYN to a peer that never answers: its retransmission is the engine's timer alone, armed from a clock read
            // after this instant (the SYN's own write comes later still, so the gap between the two writes may be short of the RTO).
            connecting = Stopwatch.GetTimestamp();
            _ = stack.Connect(new IpEndpoint(new Ipv4Address(10, 0, 0, 1), 9));
            bool resent = device.WaitForWrites(2, TimeSpan.FromSeconds(3));
            bool starved = starvation.StillStarved;
            syns = device.WriteInstants;

            Assert.True(resent, "the SYN was not sent and resent within 3 s");
            Assert.True(starved, "the thread pool ran the probe: it was not starved, so this test proves nothing");
        }
        Assert.InRange(Stopwatch.GetElapsedTime(connecting, syns[1]), Rto, Rto + StarvedTolerance);
        // Which thread fired it: the shard's own, not the pool's. (A starved pool still gets a thread injected about every
        // half second, which takes the timer's work item first, so the timing alone may pass by luck.)
        Assert.NotEmpty(firing.Threads);
        Assert.All(firing.Threads, thread => Assert.Equal(("usertcp timer 0", false), thread));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_timer_thread_runs_at_nice_minus_20_as_root_and_the_reader_when_asked(bool highPriorityReaders)
    {
        // Without CAP_SYS_NICE the kernel refuses the raise, and a thread keeps the nice value it was born with (the process's).
        int process = ProcessThreads.Nice("/proc/self");
        int raised = Environment.IsPrivilegedProcess ? -20 : process;
        // A reader is named "usertcp ADDRESS reader", of which Linux keeps 15 characters: an address no other test uses.
        var address = new Ipv4Address(10, 99, 7, 2);
        using var device = new SilentDevice();
        await using NetStack stack = NetStack.Start(device,
            new NetStackOptions { Address = address, CloseOnDispose = CloseMode.Reset, HighPriorityReaders = highPriorityReaders });
        _ = stack.Connect(new IpEndpoint(new Ipv4Address(10, 99, 7, 1), 9)); // arms the SYN's timer: the timer's thread starts

        // Each thread names itself and raises its priority as it starts: wait (bounded) for both.
        int? reader = null, timer = null;
        int readerWanted = highPriorityReaders ? raised : process;
        SpinWait.SpinUntil(() => ProcessThreads.Named("usertcp 10.99.7") is [string task] && (reader = ProcessThreads.Nice(task)) == readerWanted
            && ProcessThreads.Named("usertcp timer 0") is [string t] && (timer = ProcessThreads.Nice(t)) == raised, TimeSpan.FromSeconds(2));
        Assert.Equal(readerWanted, reader);
        Assert.Equal(raised, timer);
    }

    /// <summary>The thread each engine timer fired on (its name, and whether it is a thread-pool thread).</summary>
    private sealed class FiringThreads : ITcpEventSink
    {
        private readonly Lock _gate = new();
        private readonly List<(string? Name, bool Pooled)> _threads = [];

        public List<(string? Name, bool Pooled)> Threads
        {
            get
            {
                lock (_gate) return [.. _threads];
            }
        }

        public bool Consumes(TcpEventKind kind) => kind == TcpEventKind.TimerFired;

        public void OnEvent(in TcpEvent tcpEvent)
        {
            if (tcpEvent.Kind != TcpEventKind.TimerFired) return;
            lock (_gate) _threads.Add((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
        }
    }

    /// <summary>A device nothing arrives on (its reader waits, as on an idle TUN); writes are kept with their Stopwatch instant.</summary>
    private sealed class SilentDevice : IPacketDevice
    {
        private readonly ClockedWrites _writes = new();
        private readonly ManualResetEventSlim _disposed = new();

        public int Mtu => 1500;

        public bool WaitReadable(TimeSpan timeout)
        {
            _disposed.Wait(timeout);
            return false;
        }

        public bool TryRead(Span<byte> packet, out int length)
        {
            length = 0;
            return false;
        }

        public void Write(ReadOnlySpan<byte> packet) => _writes.Add(packet);

        public long[] WriteInstants => [.. _writes.All.Select(w => w.At)];

        /// <summary>Waits (bounded) until <paramref name="count"/> packets have been written in all.</summary>
        public bool WaitForWrites(int count, TimeSpan timeout) => _writes.WaitFor(count, timeout);

        public void Dispose() => _disposed.Set();
    }
}

/// <summary>Starving the thread pool runs with no other test beside it.</summary>
[CollectionDefinition(nameof(ShardThreadTests), DisableParallelization = true)]
public sealed class ShardThreadCollection;
