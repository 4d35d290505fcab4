using System.Globalization;
using System.Text.RegularExpressions;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// local-queue-full: the sender's own interface queue refuses every packet for two seconds — local congestion, not a loss
/// on the link — while its application writes 20,000 bytes. The kernel's queue is a `pfifo limit 0` qdisc on the lab's
/// interface in the run's namespace (`tc`, added and removed by the scenario); UserTcp's is the link's `refuse` rule,
/// which answers as that qdisc does. Linux's rules, read in net/ipv4/tcp_output.c (__tcp_transmit_skb, tcp_write_xmit,
/// tcp_check_probe_timer) and tcp_timer.c (tcp_probe_timer, tcp_send_probe0): the queue's NET_XMIT_DROP reaches TCP at
/// once; the data stays unsent (not lost, not in flight), the window is reduced as for congestion (tcp_enter_cwr), and the
/// probe timer tries again one RTO later, then every 500 ms (TCP_RESOURCE_PROBE_INTERVAL) without backing off, counting
/// each refused try in tcpi_probes. docs/design.md "A local queue that refuses segments" has UserTcp's side.
/// </summary>
public sealed partial class LocalQueueFull : LabScenario
{
    private const ushort Port = 5060;
    public const int Size = 20000;
    /// <summary>
    /// When UserTcp's queue starts and stops refusing, since the stack started (the kernel's qdisc: from when `tc` has added
    /// it, for as long); the application writes a tenth of a second into it.
    /// </summary>
    internal static readonly TimeSpan QueueFull = TimeSpan.FromSeconds(2), QueueOpen = TimeSpan.FromSeconds(4), WriteAfter = TimeSpan.FromSeconds(0.1);
    /// <summary>Linux's TCP_RESOURCE_PROBE_INTERVAL: how soon a refused probe is tried again.</summary>
    internal static readonly TimeSpan ResourceProbeInterval = TimeSpan.FromMilliseconds(500);
    // Timers fire on jiffies and this shared machine schedules late at times: instants are judged within this.
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(120);

    public override string Name => "local-queue-full";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "The sender's own interface queue is full and refuses every packet for two seconds (local congestion, not a loss on the link). "
        + "What does TCP do with the data it cannot send: is it a loss, does it back off, and how soon does it send once the queue has room?";

    // UserTcp's queue refuses what UserTcp sends on the connection for those two seconds (the rule acts on UserTcp's side only).
    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? [string.Create(CultureInfo.InvariantCulture, $"refuse port={Port} time={QueueFull.TotalSeconds}s..{QueueOpen.TotalSeconds}s")]
        : [];

    /// <summary>
    /// The lab's knobs, but Linux's own tcp_retries2 (15): refused probes count against it (tcp_probe_timer), and the lab's
    /// 5 would end the connection after five refused tries, where a busy machine's slow `tc` can let five fit the window.
    /// </summary>
    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(LabDefaults.KernelSettings(full)) { ["tcp_retries2"] = "15" };

    /// <summary>The lab's timers, and Linux's retry limit for the same reason (refused probes count against it).</summary>
    public override TcpConfig UserTcpConfig(LabRole role, bool full) => LabDefaults.UserTcpConfig(full) with { DataRetries = 15 };

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        byte[] data = Pattern();
        IReadOnlyDictionary<string, long> before = KernelCounters.Read(s.Namespace);
        await using (await TcpInfoWatch.StartAsync(s, c, congestion: true, probes: true).ConfigureAwait(false))
        {
            await UntilAsync(s, QueueFull).ConfigureAwait(false);
            // `tc` can take a while on a busy machine: the kernel's two seconds count from when its qdisc is in place.
            if (!userTcpSends) Qdisc(s, c, 0, "add", "root", "pfifo", "limit", "0");
            TimeSpan full = s.Now, open = userTcpSends ? QueueOpen : full + (QueueOpen - QueueFull);
            await UntilAsync(s, full + WriteAfter).ConfigureAwait(false);
            Task<(byte[] Got, TimeSpan At)> received;
            if (userTcpSends)
            {
                PeerThread<(byte[], TimeSpan)> reader = await PeerThread.StartAsync("lab kernel read",
                    () => (KernelReadsExactly(c.Kernel, Size), s.Now), s.Token).ConfigureAwait(false);
                received = reader.Completion;
                s.Mark(LabSide.UserTcp, $"write {Size} bytes", c.Id);
                await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
            }
            else
            {
                received = ReceiveAsync(s, c);
                s.Mark(LabSide.Kernel, $"send {Size} bytes", c.Id);
                // The kernel's send returns once its buffer holds the data; on a thread of its own, as its application would.
                PeerThread<bool> sender = await PeerThread.StartAsync("lab kernel send", () =>
                {
                    c.Kernel.Send(data);
                    return true;
                }, s.Token).ConfigureAwait(false);
                await sender.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            }
            await UntilAsync(s, open).ConfigureAwait(false);
            if (!userTcpSends)
            {
                // Room first, in the same qdisc (its counters stay), so no try can be refused between reading the count and the end.
                Qdisc(s, c, 1000, "change", "root", "pfifo", "limit", "1000");
                ToolOutcome shown = Tc(s, "-s", "qdisc", "show", "dev", s.Live.Settings.InterfaceName);
                Match dropped = DroppedCount().Match(shown.Output);
                if (dropped.Success) s.Note(LabSide.Kernel, c.Id, "qdisc_dropped", long.Parse(dropped.Groups[1].Value, CultureInfo.InvariantCulture));
                s.Mark(LabSide.Kernel, dropped.Success ? $"the qdisc had dropped {dropped.Groups[1].Value} packets" : $"tc -s qdisc show: {shown.Describe()}", c.Id);
                Qdisc(s, c, null, "del", "root");
            }
            (byte[] got, TimeSpan at) = await received.WaitAsync(StateTimeout + QueueOpen, s.Token).ConfigureAwait(false);
            s.Mark(userTcpSends ? LabSide.Kernel : LabSide.UserTcp, TailLoss.Received(got, data), c.Id, at);
            await s.UntilAsync(() => userTcpSends ? c.UserTcp.BytesNotAcknowledged == 0 : c.Kernel.Info().Unacked == 0, StateTimeout).ConfigureAwait(false);
        }
        foreach ((string name, long gained) in KernelCounters.Change(before, KernelCounters.Read(s.Namespace))) s.Note(LabSide.Kernel, c.Id, name, gained);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    private static async Task<(byte[], TimeSpan)> ReceiveAsync(LabSession s, LabConnection c)
    {
        byte[] got = await UserTcpReadsExactlyAsync(s, c.UserTcp, Size).ConfigureAwait(false);
        return (got, s.Now);
    }

    // Waits until the stack's clock reads `at` (at once if it already does).
    private static async Task UntilAsync(LabSession s, TimeSpan at)
    {
        TimeSpan left = at - s.Now;
        if (left > TimeSpan.Zero) await s.Delay(left).ConfigureAwait(false);
    }

    /// <summary>
    /// `tc qdisc VERB dev IFACE ARGS` in the run's namespace, marked on the kernel's side when it was started, with how it
    /// went; a <paramref name="limit"/> it sets is noted as the reading "qdisc_limit" when tc returned. The change takes
    /// effect somewhere between the two, and on a busy machine tc took up to 0.76 s: a queue surely refuses from the
    /// reading of limit 0 to the mark of the change, and surely has room from the reading of its new limit.
    /// </summary>
    private static void Qdisc(LabSession s, LabConnection c, long? limit, string verb, params string[] args)
    {
        string[] command = ["qdisc", verb, "dev", s.Live.Settings.InterfaceName, .. args];
        TimeSpan started = s.Now;
        ToolOutcome outcome = Tc(s, command);
        s.Mark(LabSide.Kernel, $"tc {string.Join(' ', command)}{(outcome.Succeeded ? "" : $" failed: {outcome.Describe()}")}", c.Id, started);
        if (outcome.Succeeded && limit is long set) s.Note(LabSide.Kernel, c.Id, QdiscLimit, set);
    }

    internal const string QdiscLimit = "qdisc_limit";

    private static ToolOutcome Tc(LabSession s, params string[] args)
    {
        string tc = ExternalProgram.Find("tc") ?? throw new InvalidOperationException("the tc tool is not installed: apt-get install iproute2");
        return ExternalProgram.Run(tc, TimeSpan.FromSeconds(10), ["-n", s.Namespace.Name, .. args]);
    }

    [GeneratedRegex(@"dropped (\d+)")]
    private static partial Regex DroppedCount();

    // Bytes that differ from a shifted copy of themselves, so a misplaced segment shows.
    private static byte[] Pattern() => [.. Enumerable.Range(0, Size).Select(i => (byte)((i * 7 + i / 251 + Port) & 0xFF))];

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        FourTuple c = First(r);
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, _) = TransferSides(userTcpSends);

        // When the queue refused: the rule's window for UserTcp; for the kernel, from when tc had set limit 0 to when the
        // change was started (surely refusing), and with room from when tc had set the new limit (see Qdisc).
        TimeSpan full = userTcpSends ? QueueFull : LimitSetAt(r, c, 0) ?? MarkAt(r, c, "tc qdisc add") ?? QueueFull;
        TimeSpan open = userTcpSends ? QueueOpen : MarkAt(r, c, "tc qdisc change") ?? QueueOpen;
        TimeSpan room = userTcpSends ? QueueOpen : LimitSetAt(r, c, 1000) ?? open;
        LabMark? write = r.Marks.FirstOrDefault(m => m.Side == sender && m.Connection == c && (m.What.StartsWith("write ", StringComparison.Ordinal) || m.What.StartsWith("send ", StringComparison.Ordinal)));
        bool premise = write is not null && write.At > full && write.At < open - TimeSpan.FromSeconds(1)
            && (userTcpSends || r.Marks.Any(m => m.What.StartsWith("tc qdisc add", StringComparison.Ordinal) && !m.What.Contains("failed", StringComparison.Ordinal)));
        v.Expect("the write comes while the sender's queue refuses (a second or more before it has room again)", premise,
            write is null ? "no write" : $"queue full {LabRecord.Seconds(full)}–{LabRecord.Seconds(open)}, write at {LabRecord.Seconds(write.At)}");

        IReadOnlyList<WirePacket> reached = r.From(c, sender, p => p.Fault?.Action is not (FaultAction.Refused or FaultAction.Dropped));
        IReadOnlyList<WirePacket> whileFull = [.. reached.Where(p => p.At > full + TimeSpan.FromMilliseconds(5) && p.At < open)];
        v.Expect($"nothing {senderName} sends reaches the link while its queue refuses", whileFull.Count == 0,
            whileFull.Count == 0 ? "nothing" : $"{whileFull.Count} packets, the first at {LabRecord.Seconds(whileFull[0].At)}");

        // Each refused retry raises tcpi_probes; the readings say when.
        IReadOnlyList<LabReading> probeCounts = [.. r.Readings.Where(x => x.Connection == c && x.Side == sender && x.Name == "tcpi_probes" && x.At > full)];
        IReadOnlyList<TimeSpan> retries = [.. probeCounts.Where((x, i) => x.Value > 0 && (i == 0 || x.Value > probeCounts[i - 1].Value)).Select(x => x.At)];
        // The first refused send: UserTcp's is on the record; the kernel's never reaches the device, but its window is cut
        // at that instant (tcp_enter_cwr), which the readings show.
        LabReading? cut = r.Readings.FirstOrDefault(x => x.Connection == c && x.Side == sender && x.Name == "tcpi_snd_ssthresh" && write is not null && x.At >= write.At && x.Value < int.MaxValue);
        TimeSpan? firstRefusal = userTcpSends ? FirstOf(r.From(c, sender, p => p.Fault?.Action == FaultAction.Refused && p.Segment.PayloadLength > 0))?.At : cut?.At;
        long? rto = firstRefusal is TimeSpan refusedAt ? r.ReadingAt(c, sender, "tcpi_rto", refusedAt) : null;
        TimeSpan? firstAfter = retries.Count > 0 && firstRefusal is TimeSpan fr ? retries[0] - fr : null;
        TimeSpan expectedFirst = rto is long us ? TimeSpan.FromMicroseconds(us) : TimeSpan.Zero;
        v.Expect("the first retry comes one RTO after the first refused send (the probe timer, tcp_check_probe_timer)",
            firstAfter is TimeSpan f && rto is not null && f >= expectedFirst - Slack && f <= expectedFirst + Slack + TimeSpan.FromMilliseconds(20),
            firstAfter is TimeSpan g ? $"{LabRecord.Milliseconds(g)} after it, RTO {LabRecord.Milliseconds(expectedFirst)}" : "no retry counted in tcpi_probes, or no refusal seen");
        IReadOnlyList<TimeSpan> gaps = [.. retries.Skip(1).Zip(retries, (later, earlier) => later - earlier)];
        v.Expect($"then one every {LabRecord.Milliseconds(ResourceProbeInterval)}, never backed off (TCP_RESOURCE_PROBE_INTERVAL)",
            gaps.Count >= 1 && gaps.All(x => x >= ResourceProbeInterval - Slack && x <= ResourceProbeInterval + Slack), $"gaps: {List(gaps)}");

        // Every try the queue refused: the first send and each counted retry.
        long probes = probeCounts.Select(x => x.Value).DefaultIfEmpty(0).Max();
        long? refused = userTcpSends
            ? r.From(c, sender, p => p.Fault?.Action == FaultAction.Refused).Count
            : r.Readings.FirstOrDefault(x => x.Connection == c && x.Name == "qdisc_dropped")?.Value;
        v.Expect("tcpi_probes counts each refused retry, and the queue refused one try more (the first send)", probes > 0 && refused == probes + 1,
            $"tcpi_probes up to {probes}; {(userTcpSends ? "the refuse rule" : "the qdisc")} refused {refused?.ToString(CultureInfo.InvariantCulture) ?? "?"}");

        v.Expect("the sender reduces its window as for congestion (CWR): its ssthresh falls", cut is not null,
            cut is null ? "ssthresh unchanged" : $"ssthresh {cut.Value} at {LabRecord.Seconds(cut.At)}");

        // A retry between the change's start and tc's return may already find room: a wait below zero.
        WirePacket? resumed = FirstOf([.. reached.Where(p => p.At >= open && p.Segment.PayloadLength > 0)]);
        TimeSpan? wait = resumed is null ? null : resumed.At - room;
        v.Expect($"data reaches the link at the next retry after the queue has room, within {LabRecord.Milliseconds(ResourceProbeInterval)}",
            wait is TimeSpan w && w <= ResourceProbeInterval + Slack, resumed is null || wait is not TimeSpan x2 ? "no data"
                : x2 >= TimeSpan.Zero ? $"{LabRecord.Milliseconds(x2)} after" : $"at {LabRecord.Seconds(resumed.At)}, while tc was giving it room ({LabRecord.Seconds(open)}–{LabRecord.Seconds(room)})");

        // Nothing was in flight, so nothing is lost or sent twice on the link.
        int resent = reached.Where(p => p.Segment.PayloadLength > 0).GroupBy(p => p.Segment.SequenceNumber.Value).Count(g => g.Count() > 1);
        long kernelResent = r.KernelCounterNoted(c, "TcpRetransSegs");
        int userTcpResent = r.UserTcpRetransmissions(c).Count;
        v.Expect("nothing is counted lost or sent twice: the data was never in flight", resent == 0 && (userTcpSends ? userTcpResent == 0 : kernelResent == 0),
            $"{resent} segments on the link twice; {(userTcpSends ? $"UserTcp's retransmission events: {userTcpResent}" : $"TcpRetransSegs {kernelResent}")}");

        LabMark? got = r.Marks.FirstOrDefault(m => m.Side == receiver && m.Connection == c && m.What.StartsWith("read ", StringComparison.Ordinal));
        v.Expect("all the data arrives once, in order", got?.What == $"read {Size} bytes, as written", got?.What ?? "nothing read");

        string slowTc = room - open > TimeSpan.FromMilliseconds(50) ? $" (tc gave it room by {LabRecord.Seconds(room)})" : "";
        string observed = $"{Capitalized(senderName)}'s queue refused from {LabRecord.Seconds(full)} to {LabRecord.Seconds(open)}{slowTc}; its application "
            + $"{(userTcpSends ? "wrote" : "sent")} {Size} bytes at {(write is null ? "?" : LabRecord.Seconds(write.At))}. Nothing reached the link: the first send was refused, "
            + $"then {senderName} retried {(firstAfter is TimeSpan a ? $"{LabRecord.Milliseconds(a)} after that first refusal (one RTO, {LabRecord.Milliseconds(expectedFirst)})" : "never")} "
            + $"and every {List(gaps)} after (tcpi_probes up to {probes}; {refused?.ToString(CultureInfo.InvariantCulture) ?? "?"} refused in all), and "
            + $"cut its window ({(cut is null ? "no ssthresh change seen" : $"ssthresh {cut.Value}")}). When the queue had room, data went "
            + $"{(wait is TimeSpan b ? $"{LabRecord.Milliseconds(b)} later, at the next retry" : "never")}, and none of it as a retransmission: "
            + "to TCP a local refusal is congestion, not loss. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    // When tc had set the qdisc's limit to `limit` (the reading Qdisc notes as it returns).
    private static TimeSpan? LimitSetAt(LabRecord r, FourTuple c, long limit) =>
        r.Readings.FirstOrDefault(x => x.Connection == c && x.Side == LabSide.Kernel && x.Name == QdiscLimit && x.Value == limit)?.At;

    private static TimeSpan? MarkAt(LabRecord r, FourTuple c, string prefix) =>
        r.Marks.FirstOrDefault(m => m.Connection == c && m.Side == LabSide.Kernel && m.What.StartsWith(prefix, StringComparison.Ordinal))?.At;
}
