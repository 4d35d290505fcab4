using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// dead-peer: the peer of an idle connection vanishes without a word — a host that lost power or a cable pulled — so
/// nothing reaches it and nothing comes back, and no RST ever tells anyone. The side that stays (the one that connected)
/// has keepalive on with short timers on two connections, one with keepalive alone, one with TCP_USER_TIMEOUT as well,
/// and a third connection without keepalive. Its application waits in read() on all three. Linux's rules, read in net/ipv4/tcp_timer.c (tcp_keepalive_timer) and
/// tcp_output.c (tcp_write_wakeup, tcp_xmit_probe_skb): idle time counts from the last segment received; a probe is an
/// empty ACK one below SND.UNA, so the peer must answer it with an ACK; unanswered probes go every TCP_KEEPINTVL; after
/// TCP_KEEPCNT of them — or, with TCP_USER_TIMEOUT set, once that long has passed since the last segment received, with
/// at least one probe out, whatever the count — the connection is reset (a RST is sent) and read() fails with ETIMEDOUT.
/// </summary>
public sealed class DeadPeer : LabScenario
{
    private const ushort KeepAlivePort = 5050, UserTimeoutPort = 5051, NoKeepAlivePort = 5052;
    internal static readonly TimeSpan Idle = TimeSpan.FromSeconds(2), Interval = TimeSpan.FromSeconds(1);
    internal const int Count = 3;
    // Longer than idle + count × interval, so the user timeout, not the count, decides (and more probes go out than the count).
    internal static readonly TimeSpan UserTimeout = TimeSpan.FromSeconds(7);
    // How long the read() on the connection without keepalive waits: past the other two's give-up.
    internal static readonly TimeSpan Watched = UserTimeout + TimeSpan.FromSeconds(1);
    // A packet's instant on this shared machine may stray from the timer's by scheduling; judged within this.
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(400);

    public override string Name => "dead-peer";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp connects and keeps alive; the kernel vanishes"
        : "the kernel connects and keeps alive; UserTcp vanishes";

    public override string Question =>
        "The peer of an idle connection vanishes without a word (its host loses power): nothing reaches it and nothing comes back. "
        + "With keepalive on, when does the first probe go and what is in it, how many follow, how does the connection end and what "
        + "does the application see — and what changes with TCP_USER_TIMEOUT?";

    public override SeedClaim Seed => new("seed 003 (quoting Stephen Cleary)",
        "If an intermediate router dies, the side that waits to receive will wait for ever: broken connections can only be detected "
        + "by sending data.");

    // After each handshake's three segments the link carries nothing more of that connection, either way.
    public override IReadOnlyList<string> Faults(LabRole role) =>
        [$"drop port={KeepAlivePort} nth=4..", $"drop port={UserTimeoutPort} nth=4..", $"drop port={NoKeepAlivePort} nth=4.."];

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpStays = s.Role == LabRole.UserTcpActive;
        LabConnection keepAlive = await OpenAsync(s, KeepAlivePort, userTimeout: null).ConfigureAwait(false);
        LabConnection withUserTimeout = await OpenAsync(s, UserTimeoutPort, UserTimeout).ConfigureAwait(false);
        LabConnection without = await OpenAsync(s, NoKeepAlivePort, userTimeout: null, keepAlive: false).ConfigureAwait(false);
        TimeSpan bound = Idle + UserTimeout + StateTimeout;
        Task[] reads = userTcpStays
            ? [UserTcpReadAsync(s, keepAlive, bound), UserTcpReadAsync(s, withUserTimeout, bound), UserTcpReadAsync(s, without, Watched)]
            : [KernelReadAsync(s, keepAlive, bound), KernelReadAsync(s, withUserTimeout, bound), KernelReadAsync(s, without, Watched)];
        await Task.WhenAll(reads).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
    }

    // The staying side connects with keepalive (and the user timeout) set before its SYN.
    private static Task<LabConnection> OpenAsync(LabSession s, ushort port, TimeSpan? userTimeout, bool keepAlive = true)
    {
        if (s.Role == LabRole.UserTcpActive)
        {
            var options = keepAlive
                ? new UserTcpConnectionOptions { KeepAlive = true, KeepAliveIdle = Idle, KeepAliveInterval = Interval, KeepAliveCount = Count, UserTimeout = userTimeout }
                : new UserTcpConnectionOptions { KeepAlive = false };
            return s.OpenAsync(port, kernelConnects: false, options: options);
        }
        return s.OpenAsync(port, kernelConnects: true, kernelOptions: k =>
        {
            if (keepAlive) k.KeepAlive(Idle, Interval, Count);
            if (userTimeout is TimeSpan t) k.UserTimeout(t);
        });
    }

    private static async Task UserTcpReadAsync(LabSession s, LabConnection c, TimeSpan bound)
    {
        s.Mark(LabSide.UserTcp, "read() (waits)", c.Id);
        try
        {
            int read = await c.UserTcp.ReadAsync(new byte[64], s.Token).AsTask().WaitAsync(bound, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read() = {read}", c.Id);
        }
        catch (SocketException e)
        {
            s.Mark(LabSide.UserTcp, $"read() fails: {e.SocketErrorCode}", c.Id);
        }
        catch (TimeoutException)
        {
            s.Mark(LabSide.UserTcp, StillWaiting(bound), c.Id);
        }
    }

    private static async Task KernelReadAsync(LabSession s, LabConnection c, TimeSpan bound)
    {
        s.Mark(LabSide.Kernel, "read() (waits)", c.Id);
        try
        {
            byte[]? read = await ScenarioKit.KernelReadAsync(s, c.Kernel, bound).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, read is null ? StillWaiting(bound) : $"read() = {read.Length}", c.Id);
        }
        catch (SocketException e)
        {
            s.Mark(LabSide.Kernel, $"read() fails: {e.SocketErrorCode}", c.Id);
        }
    }

    private static string StillWaiting(TimeSpan waited) => $"read() still waiting after {LabRecord.Seconds(waited)} (given up by the lab)";

    /// <summary>
    /// The probes a keepalive with these timers sends before it gives up: every interval from the idle time on, until the
    /// count is reached — or, with a user timeout, while less than that has passed since the last segment received.
    /// </summary>
    internal static int ExpectedProbes(TimeSpan? userTimeout)
    {
        if (userTimeout is not TimeSpan limit) return Count;
        int probes = 0;
        for (TimeSpan at = Idle; at < limit; at += Interval) probes++;
        return Math.Max(probes, 1);
    }

    /// <summary>When the staying side gives up, counted from the last segment it received.</summary>
    internal static TimeSpan ExpectedGiveUp(TimeSpan? userTimeout) => userTimeout is TimeSpan limit
        ? Idle + Interval * Math.Max((int)Math.Ceiling((limit - Idle) / Interval), 1)
        : Idle + Interval * Count;

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpStays = r.Role == LabRole.UserTcpActive;
        LabSide stays = userTcpStays ? LabSide.UserTcp : LabSide.Kernel, vanishes = userTcpStays ? LabSide.Kernel : LabSide.UserTcp;
        string staysName = userTcpStays ? "UserTcp" : "the kernel", vanishesName = userTcpStays ? "the kernel" : "UserTcp";
        var observed = new List<string>();
        foreach ((ushort port, TimeSpan? userTimeout) in new[] { (KeepAlivePort, (TimeSpan?)null), (UserTimeoutPort, UserTimeout) })
        {
            FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == port || x.Remote.Port == port);
            string which = userTimeout is null ? "keepalive alone" : $"with TCP_USER_TIMEOUT {LabRecord.Seconds(UserTimeout)}";
            observed.Add(JudgeConnection(r, v, c, which, userTimeout, stays, vanishes, staysName, vanishesName));
        }
        observed.Add(JudgeWithout(r, v, stays, staysName, vanishesName));
        observed.Add($"Linux's defaults are tcp_keepalive_time 7200 s, tcp_keepalive_intvl 75 s and tcp_keepalive_probes 9: a vanished peer "
            + "is found after 2 h 11 min 15 s, and only where the application turned SO_KEEPALIVE on; without it (a user timeout alone acts only on "
            + "data left unacknowledged) an idle connection to a vanished peer is held for ever. " + Sampling(r));
        string why = "Right without keepalive: the third connection, with nothing to send, noticed nothing and its read() would have waited "
            + "for ever. But keepalive is sending on a timer: with it the waiting side found out by itself, after the idle time and the probes "
            + "(or the user timeout), and its read() failed with ETIMEDOUT — it does not take the application sending data.";
        return v.Build(this, r, string.Join(" ", observed), SeedAgreement.Partly, why);
    }

    private static string JudgeConnection(LabRecord r, VerdictBuilder v, FourTuple c, string which, TimeSpan? userTimeout,
        LabSide stays, LabSide vanishes, string staysName, string vanishesName)
    {
        IReadOnlyList<WirePacket> all = r.PacketsOf(c);
        IReadOnlyList<WirePacket> passed = [.. all.Where(p => !p.Dropped)];
        TimeSpan lastReceived = passed.Where(p => p.ToKernel == (stays == LabSide.Kernel)).Select(p => p.ArrivedAt).DefaultIfEmpty(TimeSpan.Zero).Max();
        IReadOnlyList<WirePacket> probes = r.From(c, stays, p => p.Dropped && (p.Segment.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0);
        WirePacket? reset = FirstOf(r.From(c, stays, p => p.Segment.Has(TcpFlags.Rst)));
        SeqNumbering numbering = r.Numbering(c);
        SeqNumber? staysIsn = numbering.IsnOf(stays);

        TimeSpan? first = probes.Count > 0 ? probes[0].At - lastReceived : null;
        v.Expect($"{which}: the first probe goes {LabRecord.Seconds(Idle)} (TCP_KEEPIDLE) after the last segment received",
            first is TimeSpan f && f >= Idle - Slack && f <= Idle + Slack, first is TimeSpan g ? $"{LabRecord.Seconds(g)} after it" : "no probe");
        // tcp_xmit_probe_skb: an empty ACK at SND.UNA − 1, data the peer already has, which it must acknowledge (RFC 9293 §3.8.4).
        bool formed = probes.Count > 0 && staysIsn is SeqNumber isn && probes.All(p => p.Segment.PayloadLength == 0 && p.Segment.SequenceNumber == isn);
        v.Expect($"{which}: each probe is an empty ACK one below SND.UNA (old data, so the peer must answer)", formed,
            probes.Count == 0 ? "no probe" : string.Join("; ", probes.Take(3).Select(p => $"[{PacketFormatter.FlagLetters(p.Segment.Flags)}] {p.Segment.PayloadLength} bytes, seq {numbering.Seq(p)}")));
        IReadOnlyList<TimeSpan> gaps = [.. probes.Skip(1).Zip(probes, (later, earlier) => later.At - earlier.At)];
        v.Expect($"{which}: unanswered probes follow every {LabRecord.Seconds(Interval)} (TCP_KEEPINTVL), never backed off",
            gaps.Count > 0 && gaps.All(g => g >= Interval - Slack && g <= Interval + Slack), $"gaps: {List(gaps)}");
        int expected = ExpectedProbes(userTimeout);
        v.Expect(userTimeout is null
                ? $"{which}: it gives up after TCP_KEEPCNT = {Count} probes"
                : $"{which}: it sends probes until {LabRecord.Seconds(UserTimeout)} has passed since the last segment received — {expected}, more than TCP_KEEPCNT = {Count}",
            probes.Count == expected, $"{probes.Count} probes");
        TimeSpan giveUp = ExpectedGiveUp(userTimeout);
        TimeSpan? resetAfter = reset is null ? null : reset.At - lastReceived;
        v.Expect($"{which}: when it gives up, {LabRecord.Seconds(giveUp)} after the last segment received, it sends a RST (lost with the rest)",
            resetAfter is TimeSpan ra && ra >= giveUp - Slack && ra <= giveUp + Slack && probes.All(p => p.At < reset!.At),
            resetAfter is TimeSpan rb ? $"RST {LabRecord.Seconds(rb)} after it" : "no RST");
        LabMark? failed = r.Marks.FirstOrDefault(m => m.Side == stays && m.Connection == c && m.What.StartsWith("read()", StringComparison.Ordinal) && m.What != "read() (waits)");
        v.Expect($"{which}: {staysName}'s waiting read() fails with ETIMEDOUT", failed?.What == "read() fails: TimedOut", failed?.What ?? "read() never returned");
        IReadOnlyList<StateSpan> staying = stays == LabSide.Kernel ? r.KernelStates(c) : r.UserTcpStates(c);
        IReadOnlyList<StateSpan> gone = vanishes == LabSide.Kernel ? r.KernelStates(c) : r.UserTcpStates(c);
        v.Expect($"{which}: {staysName}'s connection is gone after it", staying.Count > 0 && staying[^1].State is "CLOSED" or "(gone)", LabRecord.Path(staying));
        if (stays == LabSide.UserTcp)
        {
            TcpEvent? closed = r.Events.Cast<TcpEvent?>().FirstOrDefault(e => e!.Value.Kind == TcpEventKind.StateChanged && e.Value.Connection == c && e.Value.NewState == TcpState.Closed);
            v.Expect($"{which}: UserTcp closed it because the keepalive probes went unanswered", closed?.Cause == TcpCause.KeepAliveTimeout,
                closed is null ? "not closed" : closed.Value.Cause.Describe());
        }
        // Just after the staying side gave up (its RST, or its read()'s failure when no RST went).
        TimeSpan? endedAt = reset?.At ?? failed?.At;
        string? vanishedAt = endedAt is TimeSpan e ? StateAt(gone, e + TimeSpan.FromMilliseconds(100)) : null;
        v.Expect($"{which}: {vanishesName}, which heard nothing, still holds it as ESTABLISHED", vanishedAt == "ESTABLISHED", vanishedAt ?? "?");

        return $"{Capitalized(which)}: the link went dead after the handshake. {Capitalized(staysName)} sent its first probe "
            + $"{(first is TimeSpan a ? LabRecord.Seconds(a) : "never")} after the last segment it received, {probes.Count} in all "
            + $"(gaps {List(gaps)}), then reset the connection {(resetAfter is TimeSpan b ? $"{LabRecord.Seconds(b)} after it" : "(no RST seen)")}; "
            + $"its read() {(failed is null ? "never returned" : failed.What.StartsWith("read() fails: ", StringComparison.Ordinal) ? $"failed with {failed.What["read() fails: ".Length..]}" : $"returned: {failed.What}")}. {Capitalized(vanishesName)} never heard a thing "
            + $"and still held the connection as {vanishedAt ?? "?"}.";
    }

    // The connection without keepalive: nothing on the link after the handshake, the read() still waiting, both ends ESTABLISHED.
    private static string JudgeWithout(LabRecord r, VerdictBuilder v, LabSide stays, string staysName, string vanishesName)
    {
        const string which = "without keepalive";
        FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == NoKeepAlivePort || x.Remote.Port == NoKeepAlivePort);
        IReadOnlyList<WirePacket> after = [.. r.PacketsOf(c).Skip(3)];
        v.Expect($"{which}: nothing more is sent by either side", after.Count == 0,
            after.Count == 0 ? "nothing" : string.Join("; ", after.Take(3).Select(p => $"{(p.ToKernel ? "UserTcp" : "the kernel")} [{PacketFormatter.FlagLetters(p.Segment.Flags)}] at {LabRecord.Seconds(p.At)}")));
        LabMark? waited = r.Marks.FirstOrDefault(m => m.Side == stays && m.Connection == c && m.What.StartsWith("read() still waiting", StringComparison.Ordinal));
        v.Expect($"{which}: {staysName}'s read() is still waiting after {LabRecord.Seconds(Watched)}", waited is not null,
            r.Marks.FirstOrDefault(m => m.Side == stays && m.Connection == c && m.What.StartsWith("read()", StringComparison.Ordinal) && m.What != "read() (waits)")?.What ?? "read() never returned");
        TimeSpan at = waited?.At ?? r.End;
        string? staying = StateAt(stays == LabSide.Kernel ? r.KernelStates(c) : r.UserTcpStates(c), at);
        string? gone = StateAt(stays == LabSide.Kernel ? r.UserTcpStates(c) : r.KernelStates(c), at);
        v.Expect($"{which}: both still hold it as ESTABLISHED then", staying == "ESTABLISHED" && gone == "ESTABLISHED", $"{staysName}: {staying ?? "?"}, {vanishesName}: {gone ?? "?"}");
        return $"Without keepalive nothing went on the link after the handshake ({after.Count} packets); {staysName}'s read() was still waiting "
            + $"{(waited is null ? "(no mark)" : $"at {LabRecord.Seconds(waited.At)}")}, and "
            + (staying == gone ? $"both ends held the connection as {staying ?? "?"}." : $"{staysName} held the connection as {staying ?? "?"}, {vanishesName} as {gone ?? "?"}.");
    }
}
