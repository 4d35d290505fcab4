using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using UserTcp.Engine;
using UserTcp.Lab;
using UserTcp.Sockets;
using UserTcp.Wire;
using Xunit.Abstractions;

namespace UserTcp.Integration.Tests;

/// <summary>
/// Attacks on UserTcp over TUN, from inside the test's namespace (issue 11): a SYN flood from forged addresses while the
/// kernel's curl keeps fetching, and blind RST, SYN and data injection against an established connection (RFC 5961).
/// The attacker is <see cref="AttackPeers.Raw"/>, a raw socket; UserTcp's answers to forged addresses die in the namespace.
/// </summary>
public sealed class AttackTests(ITestOutputHelper output)
{
    private const int FloodSyns = 100_000;
    private const int BlindSegments = 100_000;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan InvalidAckInterval = new TcpConfig().InvalidAckInterval;
    // How often the flood's sampler takes a full collection to read the live heap: often enough to see the flood's
    // peak (the flood lasts seconds), seldom enough that its pauses do not slow the stack.
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The managed heap's live objects: its size after a full collection (GCMemoryInfo.HeapSizeBytes). Without one,
    /// GC.GetTotalMemory counted gen0's garbage (36–96 MiB of it under load), and the heap after a gen0 or gen1 collection
    /// what those had promoted and has died since (82 MiB once), whatever the stack kept.
    /// </summary>
    private static long LiveHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetGCMemoryInfo().HeapSizeBytes;
    }

    [RequiresNetAdminFact("python3", "curl")]
    public async Task A_flood_of_100000_forged_syns_is_answered_with_cookies_while_the_kernel_keeps_fetching()
    {
        await using LiveStack live = LiveStack.Start(TimeSpan.FromMinutes(4), recordSegments: false, services: true);
        EngineCounters counters = live.Stack.Counters;
        LengthenTunQueue(live);
        Fetch(live); // the service is up before the flood
        int backlog = live.Stack.SnapshotListeners().Single(l => l.Local.Port == 80).SendQueue;
        long heapBefore = LiveHeap();
        long receivedBefore = counters[MibCounter.IpInReceives];
        long droppedBefore = TunDropped(live);

        PeerProgram flood = live.Namespace.Start("python3", "-c", AttackPeers.Raw, Addresses.Stack, "80", $"{FloodSyns}", "11", "150", "flood");
        long peakHeap = heapBefore;
        int peakConnections = 0;
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peakHeap = Math.Max(peakHeap, LiveHeap());
                peakConnections = Math.Max(peakConnections, live.Stack.Snapshot().Count);
                await Task.Delay(SampleInterval, CancellationToken.None);
            }
        }, CancellationToken.None);

        // The kernel's client keeps fetching for as long as the flood lasts; every fetch must succeed.
        var stopwatch = Stopwatch.StartNew();
        int fetches = 0;
        while (!flood.HasExited || fetches < 3)
        {
            Fetch(live);
            fetches++;
            Assert.True(stopwatch.Elapsed < TimeSpan.FromMinutes(3), flood.Transcript);
        }
        await sampling.CancelAsync();
        await sampler;
        long heapLeft = LiveHeap(); // what the flood left behind, all garbage gone
        peakHeap = Math.Max(peakHeap, heapLeft);
        Assert.True(flood.ExitCode == 0, flood.Transcript);
        string[] report = flood.OutputLines.Single(l => l.StartsWith("sent ", StringComparison.Ordinal)).Split(' ');
        Assert.Equal($"{FloodSyns}", report[1]);

        long seen = counters[MibCounter.IpInReceives] - receivedBefore;
        long dropped = TunDropped(live) - droppedBefore;
        long cookies = counters[MibCounter.TcpExtSyncookiesSent];
        output.WriteLine($"{FloodSyns} forged SYNs in {report[2]} s; the stack received {seen} packets, the kernel's TUN queue dropped {dropped}; {cookies} SYN cookies sent, "
            + $"{counters[MibCounter.TcpExtSyncookiesRecv]} came back valid, {counters[MibCounter.TcpExtSyncookiesFailed]} failed; "
            + $"{fetches} fetches, all succeeded; peak {peakConnections} connections (backlog {backlog}), managed heap {heapBefore >> 20} MiB before, peak {peakHeap >> 20} MiB, {heapLeft >> 20} MiB after");

        // Every SYN is accounted for: UserTcp read it, or the kernel's queue for the TUN device dropped it (and counted it).
        Assert.True(seen + dropped >= FloodSyns, $"the stack saw {seen} packets and the TUN queue dropped {dropped}");
        Assert.True(seen >= FloodSyns / 2, $"the stack saw only {seen} packets");
        // Cookies engaged: every forged SYN beyond the full SYN queue was answered with one and cost no connection.
        long arrived = FloodSyns - dropped;
        Assert.True(cookies >= arrived - backlog - 100, $"only {cookies} cookies for {arrived} SYNs that arrived");
        Assert.True(counters[MibCounter.TcpExtTCPReqQFullDoCookies] >= arrived - backlog - 100);
        // The kernel's fetches during the flood got in through cookies.
        Assert.True(counters[MibCounter.TcpExtSyncookiesRecv] >= 1, "no cookie came back from the kernel's client");
        // Memory stays bounded: the SYN queue and the accept queue, each at most the backlog, and a few fetches.
        Assert.True(peakConnections <= 2 * backlog + 16, $"{peakConnections} connections at the peak");
        Assert.True(peakHeap - heapBefore < 64 << 20, $"managed heap grew by {(peakHeap - heapBefore) >> 20} MiB");
    }

    [RequiresNetAdminFact("python3")]
    public async Task Blind_rsts_syns_and_data_neither_kill_nor_corrupt_a_connection_and_challenge_acks_stay_within_the_limit()
    {
        await using LiveStack live = LiveStack.Start(TimeSpan.FromMinutes(4), services: true);
        EngineCounters counters = live.Stack.Counters;
        LengthenTunQueue(live);
        PeerProgram client = live.Namespace.StartInteractive("python3", "-c", AttackPeers.EchoClient, Addresses.Stack, "7");
        Assert.True(client.WaitForOutputLine(l => l.StartsWith("local ", StringComparison.Ordinal), Wait), client.Transcript);
        ushort port = ushort.Parse(client.OutputLines[0]["local ".Length..], CultureInfo.InvariantCulture);
        var id = new FourTuple(new IpEndpoint(Addresses.StackAddress, 7), new IpEndpoint(Addresses.KernelAddress, port));
        Echo(client, 100_000);

        // An attacker who guessed well (the test reads the numbers off UserTcp's own segments), one kind at a time.
        (SeqNumber rcvNxt, SeqNumber sndNxt) = Numbers(live, id);
        Expect(live, id, "rst", rcvNxt + 1000, sndNxt, challenges: 1); // RFC 5961 §3.2: in the window, not exact
        Expect(live, id, "rst", rcvNxt + 0x4000_0000, sndNxt, challenges: 0); // §3.2: outside the window, silently dropped
        Expect(live, id, "syn", rcvNxt + 1000, sndNxt, challenges: 1); // §4: any SYN
        Expect(live, id, "data", rcvNxt, sndNxt - 0x4000_0000, challenges: 1); // §5: in the window, ACK older than MAX.SND.WND
        Expect(live, id, "data", rcvNxt + 0x4000_0000, sndNxt, challenges: 0); // outside the window: a duplicate ACK (data is always answered, as Linux)
        Echo(client, 100_000);

        // The blind attacker: RST, SYN and data at random sequence (and acknowledgment) numbers. What TCP cannot stop, a
        // RST exactly at RCV.NXT or data in the window with an acceptable ACK (RFC 5961 §1), has a chance of about 1e-3
        // per run here (a 256 KiB window, the kernel's window of a few MiB, 33,333 tries each).
        long challengesBefore = counters[MibCounter.TcpExtTCPChallengeACK];
        long skippedBefore = counters[MibCounter.TcpExtTCPACKSkippedChallenge];
        long resetsBefore = counters[MibCounter.TcpEstabResets];
        long synsBefore = counters[MibCounter.TcpExtTCPSYNChallenge];
        long droppedBefore = TunDropped(live);
        long receivedBefore = counters[MibCounter.IpInReceives];
        var stopwatch = Stopwatch.StartNew();
        PeerProgram blind = Inject(live, port, "rst,syn,data", "random", "random", BlindSegments);
        // The injector is done once the kernel took its packets; the stack may still be reading the last of them.
        for (var settle = Stopwatch.StartNew(); settle.Elapsed < Wait; Thread.Sleep(50))
        {
            if (counters[MibCounter.IpInReceives] - receivedBefore + TunDropped(live) - droppedBefore >= BlindSegments) break;
        }
        TimeSpan took = stopwatch.Elapsed;
        long challenges = counters[MibCounter.TcpExtTCPChallengeACK] - challengesBefore;
        long skipped = counters[MibCounter.TcpExtTCPACKSkippedChallenge] - skippedBefore;
        long syns = counters[MibCounter.TcpExtTCPSYNChallenge] - synsBefore;
        long dropped = TunDropped(live) - droppedBefore;
        output.WriteLine($"blind: {blind.OutputLines.Single()} (sent, seconds), the kernel's TUN queue dropped {dropped}; {syns} SYNs reached the connection; "
            + $"{challenges} challenge ACKs sent, {skipped} held back by the limit, in {took.TotalSeconds:F1} s");

        // Within the per-connection limit (one per InvalidAckInterval), and the limit really held most of them back.
        long allowed = (long)(took / InvalidAckInterval) + 2;
        Assert.True(challenges <= allowed, $"{challenges} challenge ACKs in {took.TotalSeconds:F1} s, the limit allows {allowed}");
        // Every SYN that arrived drew a challenge ACK or was held back (RFC 5961 §4, §7).
        Assert.True(syns >= BlindSegments / 3 - dropped, $"only {syns} of {BlindSegments / 3} SYNs reached the connection, {dropped} dropped");
        Assert.True(challenges + skipped >= syns, $"{challenges} challenge ACKs and {skipped} held back for {syns} SYNs");
        Assert.Equal(resetsBefore, counters[MibCounter.TcpEstabResets]);

        // The connection survived, uncorrupted: a megabyte each way comes back exactly.
        Assert.Equal(TcpState.Established, State(live, id));
        Echo(client, 1_000_000);
        client.WriteInput("quit");
        Assert.True(client.WaitForOutputLine(l => l == "closed", Wait), client.Transcript);
    }

    // The kernel queues what it routes to the TUN device in a ring of txqueuelen packets (500) and drops beyond it; a
    // longer ring lets the attack's bursts wait for UserTcp instead.
    private static void LengthenTunQueue(LiveStack live)
    {
        PeerProgram ip = live.Namespace.Ip("link", "set", Addresses.Interface, "txqueuelen", "20000");
        Assert.True(ip.ExitCode == 0, ip.Transcript);
    }

    // What that ring dropped: the interface's tx_dropped counter.
    private static long TunDropped(LiveStack live)
    {
        PeerProgram ip = live.Namespace.Ip("-s", "-j", "link", "show", Addresses.Interface);
        Assert.True(ip.ExitCode == 0, ip.Transcript);
        using var json = JsonDocument.Parse(ip.OutputText);
        return json.RootElement[0].GetProperty("stats64").GetProperty("tx").GetProperty("dropped").GetInt64();
    }

    private static void Fetch(LiveStack live)
    {
        PeerProgram curl = live.Namespace.Run(Wait, "curl", "-sf", "-o", "/dev/null", "--max-time", "20", $"http://{Addresses.Stack}/");
        Assert.True(curl.ExitCode == 0, curl.Transcript);
    }

    private static void Echo(PeerProgram client, int bytes)
    {
        int before = client.OutputLines.Count;
        client.WriteInput($"echo {bytes}");
        Assert.True(client.WaitForOutputLine(l => l.StartsWith("echo ", StringComparison.Ordinal) && client.OutputLines.Count > before, Wait), client.Transcript);
        Assert.Equal($"echo ok {bytes}", client.OutputLines[before]);
    }

    // One forged segment; afterwards the connection must still be ESTABLISHED, with exactly the challenge ACKs expected.
    private void Expect(LiveStack live, FourTuple id, string kind, SeqNumber seq, SeqNumber ack, int challenges)
    {
        Thread.Sleep(InvalidAckInterval + TimeSpan.FromMilliseconds(100)); // the per-connection limit has room again
        long before = live.Stack.Counters[MibCounter.TcpExtTCPChallengeACK];
        Inject(live, id.Remote.Port, kind, $"{seq.Value}", $"{ack.Value}", 1);
        Assert.True(Poll.Until(() => live.Stack.Counters[MibCounter.TcpExtTCPChallengeACK] - before >= challenges, TimeSpan.FromSeconds(5)));
        Thread.Sleep(200); // and no more than that
        long sent = live.Stack.Counters[MibCounter.TcpExtTCPChallengeACK] - before;
        output.WriteLine($"{kind} seq {seq} ack {ack}: {sent} challenge ACK(s)");
        Assert.True(sent == challenges, $"{kind} at seq {seq} ack {ack}: {sent} challenge ACKs, expected {challenges}");
        Assert.Equal(TcpState.Established, State(live, id));
    }

    private static PeerProgram Inject(LiveStack live, ushort kernelPort, string kinds, string seq, string ack, int count)
    {
        PeerProgram raw = live.Namespace.Run(TimeSpan.FromSeconds(120), "python3", "-c", AttackPeers.Raw, Addresses.Stack, "7", $"{count}", "5961", "100",
            "blind", Addresses.KernelAddress.ToString(), $"{kernelPort}", kinds, seq, ack);
        Assert.True(raw.ExitCode == 0, raw.Transcript);
        return raw;
    }

    private static TcpState? State(LiveStack live, FourTuple id) =>
        live.Stack.Snapshot().FirstOrDefault(c => c.Local == id.Local && c.Remote == id.Remote)?.State;

    // RCV.NXT and SND.NXT from UserTcp's latest segments on the connection (the echo is done: nothing in flight).
    private static (SeqNumber RcvNxt, SeqNumber SndNxt) Numbers(LiveStack live, FourTuple id)
    {
        IReadOnlyList<TcpEvent> events = live.Events.EventsOf(id);
        SegmentSummary lastIn = events.Last(e => e.Kind == TcpEventKind.SegmentIn).Segment;
        SegmentSummary lastOut = events.Last(e => e.Kind == TcpEventKind.SegmentOut).Segment;
        return (lastIn.Seq + lastIn.PayloadLength, lastOut.Seq + lastOut.PayloadLength);
    }
}
