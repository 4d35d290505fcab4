using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// time-wait-assassination (RFC 1337's hazard H1): the link holds the first sending of a data segment back 2 s, so its
/// sender resends it, the connection closes, and the held original — now an old duplicate — reaches the side in TIME-WAIT
/// after the other side has gone. TIME-WAIT answers it with an ACK; the closed side answers that ACK with a RST. Twice:
/// first under Linux's default (tcp_rfc1337 = 0; UserTcp's TimeWaitRst Accept), where that RST ends TIME-WAIT at once,
/// then under RFC 1337's remedy (tcp_rfc1337 = 1; Ignore), where it does not. Linux's rules, read in
/// net/ipv4/tcp_minisocks.c (tcp_timewait_state_process): the old duplicate is ACKed and restarts TIME-WAIT's full length
/// (TCP_TIMEWAIT_LEN, 60 s, a constant: tcp_fin_timeout is FIN-WAIT-2's); an exactly matching RST kills the socket
/// unless tcp_rfc1337 is set. Role active: UserTcp holds TIME-WAIT; passive: the kernel does.
/// </summary>
public sealed class TimeWaitAssassination : LabScenario
{
    private const ushort LinuxDefaultPort = 5070, Rfc1337Port = 5071;
    private const int Request = 100;
    // Longer than the resend, the close and a margin, so the original arrives well into TIME-WAIT.
    internal static readonly TimeSpan Hold = TimeSpan.FromSeconds(2);
    internal static readonly TimeSpan ShortTimeWait = TimeSpan.FromSeconds(3);
    // Linux's TIME-WAIT (TCP_TIMEWAIT_LEN), which no sysctl changes.
    internal static readonly TimeSpan LinuxTimeWait = TimeSpan.FromSeconds(60);
    // How long the side that ignores the RST is watched after it: still in TIME-WAIT by then.
    private static readonly TimeSpan Watched = TimeSpan.FromSeconds(1);
    // A timer's end or a state change on this shared machine, judged within these.
    private static readonly TimeSpan Prompt = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan TimerEarly = TimeSpan.FromMilliseconds(50), TimerLate = TimeSpan.FromSeconds(1);

    public override string Name => "time-wait-assassination";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp closes first and holds TIME-WAIT"
        : "the kernel closes first and holds TIME-WAIT";

    public override string Question =>
        "An old duplicate of a data segment reaches the side in TIME-WAIT after the other side has closed; TIME-WAIT answers with an "
        + "ACK, and the closed side answers that with a RST. Does the RST end TIME-WAIT before its 2MSL (RFC 1337's \"TIME-WAIT "
        + "assassination\"), and how long is TIME-WAIT otherwise?";

    public override SeedClaim Seed => new("seed 001",
        "A connection in TIME-WAIT waits 2*MSL (RFC 1122 suggests 2 minutes, BSD uses 30 s; on Linux "
        + "/proc/sys/net/ipv4/tcp_fin_timeout shows the value), then it is CLOSED.");

    public override IReadOnlyList<string> Faults(LabRole role)
    {
        string direction = role == LabRole.UserTcpActive ? "from-kernel" : "to-kernel";
        string hold = $"delay={(int)Hold.TotalMilliseconds}ms";
        return [$"{hold} {direction} data port={LinuxDefaultPort} nth=1", $"{hold} {direction} data port={Rfc1337Port} nth=1"];
    }

    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(base.KernelSettings(role, full)) { ["tcp_rfc1337"] = "0" };

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        TimeWait = full ? LinuxTimeWait : ShortTimeWait,
    };

    public override async Task RunAsync(LabSession s)
    {
        await RunConnectionAsync(s, LinuxDefaultPort, rfc1337: false).ConfigureAwait(false);
        await RunConnectionAsync(s, Rfc1337Port, rfc1337: true).ConfigureAwait(false);
    }

    private async Task RunConnectionAsync(LabSession s, ushort port, bool rfc1337)
    {
        bool userTcpHolds = s.Role == LabRole.UserTcpActive;
        UserTcpConnectionOptions? options = rfc1337 && userTcpHolds
            ? new UserTcpConnectionOptions { Tcp = UserTcpConfig(s.Role, s.Full) with { TimeWaitRst = TimeWaitRstPolicy.Ignore } }
            : null;
        if (rfc1337 && !userTcpHolds) SetKernelRfc1337(s);
        LabConnection c = await s.OpenAsync(port, kernelConnects: userTcpHolds, options: options).ConfigureAwait(false);
        if (rfc1337 && userTcpHolds) s.Mark(LabSide.UserTcp, "TimeWaitRst = Ignore (RFC 1337) on this connection", c.Id);
        // The side that will be closed by then sends the request; the link holds its first sending back.
        if (userTcpHolds)
        {
            s.Mark(LabSide.Kernel, $"send {Request} bytes", c.Id);
            c.Kernel.Send(new byte[Request]);
            byte[] got = await UserTcpReadsExactlyAsync(s, c.UserTcp, Request).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read {got.Length} bytes", c.Id);
        }
        else
        {
            s.Mark(LabSide.UserTcp, $"write {Request} bytes", c.Id);
            await c.UserTcp.WriteAsync(new byte[Request], s.Token).ConfigureAwait(false);
            PeerThread<byte[]> reader = await PeerThread.StartAsync("lab kernel read", () => KernelReadsExactly(c.Kernel, Request), s.Token).ConfigureAwait(false);
            byte[] got = await reader.Completion.WaitAsync(s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read {got.Length} bytes", c.Id);
        }
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        TimeSpan bound = Hold + StateTimeout;
        if (!rfc1337)
        {
            // Under Linux's default the RST ends TIME-WAIT: wait for that (or for TIME-WAIT's own end).
            if (userTcpHolds) await s.UserTcpReachesAsync(c.Id, TcpState.Closed, bound).ConfigureAwait(false);
            else await s.KernelReachesAsync(c.Id, null, bound).ConfigureAwait(false);
            return;
        }
        if (userTcpHolds)
        {
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, bound + ShortTimeWait).ConfigureAwait(false);
            return;
        }
        // The kernel's TIME-WAIT lasts 60 s: watch it past the old duplicate's RST, then leave it to the namespace's end.
        await s.UntilAsync(() => s.Wire.Packets.Any(p => p.ToKernel && p.Segment.Has(TcpFlags.Rst) && LabRecord.Id(p) == c.Id), bound).ConfigureAwait(false);
        await s.Delay(Watched + Prompt).ConfigureAwait(false);
    }

    // RFC 1337's remedy in the kernel: net.ipv4.tcp_rfc1337, which belongs to the run's namespace.
    private static void SetKernelRfc1337(LabSession s)
    {
        string value = s.Namespace.Invoke(() => LabRunner.WriteKernelSetting("tcp_rfc1337", "1"));
        s.Mark(LabSide.Kernel, $"sysctl net.ipv4.tcp_rfc1337 = {value}");
    }

    // When the held original reached the side in TIME-WAIT: the kernel takes UserTcp's when the link hands it on (its
    // recorded instant); UserTcp got the kernel's one hold after it read it.
    internal static TimeSpan Reached(WirePacket p) =>
        p.ToKernel ? p.At : p.ArrivedAt + (p.Fault?.Action == FaultAction.Delayed ? Hold : TimeSpan.Zero);

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpHolds = r.Role == LabRole.UserTcpActive;
        var observed = new List<string>();
        bool assassinated = false;
        foreach ((ushort port, bool rfc1337) in new[] { (LinuxDefaultPort, false), (Rfc1337Port, true) })
        {
            FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == port || x.Remote.Port == port);
            (string text, bool ended) = JudgeConnection(r, v, c, rfc1337, userTcpHolds);
            observed.Add(text);
            if (!rfc1337) assassinated = ended;
        }
        if (!userTcpHolds) observed.Add(KernelTimeWaitLength(r, v));
        observed.Add(Sampling(r));
        string why = assassinated
            ? "TIME-WAIT does not always last 2MSL: under Linux's default a RST ends it at once, and an old duplicate of the connection's "
              + "own segments is exactly what draws that RST (RFC 1337's hazard), which RFC 1337's remedy (tcp_rfc1337 = 1) ignores. "
              + (userTcpHolds
                  ? "Role passive shows the rest: Linux's TIME-WAIT is 60 s (TCP_TIMEWAIT_LEN, fixed), whatever tcp_fin_timeout says — that is FIN-WAIT-2's."
                  : "Nor is Linux's TIME-WAIT set by tcp_fin_timeout (3 s in this namespace, FIN-WAIT-2's timer): its timer read 60 s, TCP_TIMEWAIT_LEN, which no sysctl changes.")
            : "The run did not show the RST ending TIME-WAIT, so it could not put the seed's claim to the test.";
        return v.Build(this, r, string.Join(" ", observed), assassinated ? SeedAgreement.Disagrees : SeedAgreement.Inconclusive, why,
            [.. r.Connections.SelectMany(c => Schedule(r, c, LabSide.Kernel))], [.. r.Connections.SelectMany(c => Schedule(r, c, LabSide.UserTcp))]);
    }

    private static (string Observed, bool Ended) JudgeConnection(LabRecord r, VerdictBuilder v, FourTuple c, bool rfc1337, bool userTcpHolds)
    {
        LabSide holder = userTcpHolds ? LabSide.UserTcp : LabSide.Kernel, gone = userTcpHolds ? LabSide.Kernel : LabSide.UserTcp;
        string holderName = userTcpHolds ? "UserTcp" : "the kernel", goneName = userTcpHolds ? "the kernel" : "UserTcp";
        string policy = rfc1337
            ? (userTcpHolds ? "RFC 1337 (TimeWaitRst Ignore)" : "RFC 1337 (tcp_rfc1337 = 1)")
            : (userTcpHolds ? "Linux's default (TimeWaitRst Accept)" : "Linux's default (tcp_rfc1337 = 0)");
        string which = $"[{policy}]";
        IReadOnlyList<StateSpan> states = userTcpHolds ? r.UserTcpStates(c) : r.KernelStates(c);
        SeqNumbering n = r.Numbering(c);
        WirePacket? original = FirstOf(r.From(c, gone, p => p.Fault?.Action == FaultAction.Delayed && p.Segment.PayloadLength > 0));
        TimeSpan? reached = original is null ? null : Reached(original);
        string? stateThen = reached is TimeSpan at ? StateAt(states, at) : null;
        v.Expect($"{which} the held original reaches {holderName} in TIME-WAIT, after {goneName} has closed", stateThen == "TIME-WAIT",
            original is null ? "no held data segment" : $"it arrived at {LabRecord.Seconds(reached!.Value)} with {holderName} in {stateThen ?? "?"} ({LabRecord.Path(states)})");
        TimeSpan from = (reached ?? r.End) - TimeSpan.FromMilliseconds(5);
        IReadOnlyList<WirePacket> answers = r.From(c, holder, p => p.At >= from);
        WirePacket? ack = answers.FirstOrDefault(IsPureAck);
        WirePacket? fin = FirstOf(r.From(c, gone, IsFin));
        bool acksFin = ack is not null && fin is not null && ack.Segment.AcknowledgmentNumber == fin.Segment.SequenceNumber + 1;
        v.Expect($"{which} {holderName} answers it with one ACK (of the FIN, RCV.NXT) and sends nothing else", acksFin && answers.Count == 1,
            $"{answers.Count} segment(s): {string.Join(", ", answers.Select(p => $"[{PacketFormatter.FlagLetters(p.Segment.Flags)}] ack {n.Ack(p)}"))}");
        IReadOnlyList<WirePacket> replies = ack is null ? [] : r.From(c, gone, p => p.At >= ack.At && !(p.Fault?.Action == FaultAction.Delayed));
        WirePacket? rst = replies.FirstOrDefault(p => p.Segment.Has(TcpFlags.Rst));
        v.Expect($"{which} {goneName}, closed, answers that ACK with one RST at its acknowledgment number (RFC 9293 §3.10.7.1) and nothing else",
            rst is not null && replies.Count == 1 && rst.Segment.SequenceNumber == ack!.Segment.AcknowledgmentNumber,
            rst is null ? $"no RST ({replies.Count} segment(s))" : $"RST seq {n.Seq(rst)} for ack {n.Ack(ack!)}; {replies.Count} segment(s)");
        TimeSpan rstAt = rst is null ? r.End : userTcpHolds ? rst.ArrivedAt : rst.At;
        StateSpan? after = states.FirstOrDefault(x => x.At > rstAt - TimeSpan.FromMilliseconds(5) && x.State != "TIME-WAIT");
        TimeSpan? entered = states.FirstOrDefault(x => x.State == "TIME-WAIT")?.At;
        TimeSpan twoMsl = userTcpHolds ? r.UserTcpConfig.TimeWait : LinuxTimeWait;
        string lasted = entered is TimeSpan e && after is not null ? $"TIME-WAIT lasted {LabRecord.Seconds(after.At - e)} (2MSL here: {LabRecord.Seconds(twoMsl)})" : "";
        if (!rfc1337)
        {
            bool ended = rst is not null && after is not null && after.At - rstAt < Prompt;
            v.Expect($"{which} the RST ends {holderName}'s TIME-WAIT at once, long before its 2MSL", ended,
                after is null ? $"still {LabRecord.Path(states)}" : $"{after.State} {LabRecord.Milliseconds(after.At - rstAt)} after the RST arrived; {lasted}");
            return ($"{which} {holderName} closed first and held TIME-WAIT ({LabRecord.Path(states)}). {Capitalized(goneName)} sent the request; the link held its first "
                + $"sending back {LabRecord.Seconds(Hold)}, {goneName} resent it, and the connection closed. The original reached {holderName} in TIME-WAIT "
                + $"at {(reached is TimeSpan t ? LabRecord.Seconds(t) : "?")}; {holderName} answered with an ACK, {goneName} — with no connection left — with a RST, and the "
                + $"RST {(ended ? $"ended TIME-WAIT at once ({lasted})" : "did not end TIME-WAIT")}.", ended);
        }
        bool held = rst is not null && (after is null || after.At - rstAt >= Watched) && StateAt(states, rstAt + Watched) == "TIME-WAIT";
        v.Expect($"{which} the RST is ignored: {holderName} is still in TIME-WAIT {LabRecord.Seconds(Watched)} after it", held,
            after is null ? $"{LabRecord.Path(states)} to the end of the run" : $"{after.State} {LabRecord.Milliseconds(after.At - rstAt)} after the RST");
        string restart;
        if (userTcpHolds)
        {
            // Linux's tcp_timewait_state_process restarts TIME-WAIT for the old duplicate; UserTcp's TimeWaitRecord does too.
            TimeSpan? end = after?.At;
            TimeSpan sinceOriginal = end is TimeSpan x && reached is TimeSpan y ? x - y : TimeSpan.Zero;
            bool restarted = end is not null && sinceOriginal - twoMsl > -TimerEarly && sinceOriginal - twoMsl < TimerLate;
            restart = end is null ? "TIME-WAIT had not ended when the run did" : $"TIME-WAIT ended {LabRecord.Seconds(sinceOriginal)} after the old duplicate; {lasted}";
            v.Expect($"{which} the old duplicate restarts TIME-WAIT: it ends 2MSL after it, not after the close", restarted, restart);
        }
        else
        {
            // The sampler keeps a sample whenever the time left jumps back: one at or after the old duplicate, 60 s left again.
            KernelSocketSample? rearmed = r.KernelChanges(c).Cast<KernelSocketSample?>().FirstOrDefault(x => x is KernelSocketSample k && reached is TimeSpan y
                && k.At >= y - TimeSpan.FromMilliseconds(5) && k.State == KernelTcpState.TimeWait && k.Timer == KernelTcpTimer.TimeWait && k.Expires >= LinuxTimeWait - TimeSpan.FromSeconds(1));
            restart = rearmed is KernelSocketSample again ? $"its timer read {LabRecord.Seconds(again.Expires)} left at {LabRecord.Seconds(again.At)}" : "its timer never jumped back";
            v.Expect($"{which} the old duplicate restarts the kernel's TIME-WAIT (sock_diag shows 60 s left again)", rearmed is not null, restart);
        }
        return ($"{which} Again, with the RFC 1337 remedy on: the original reached {holderName} in TIME-WAIT at {(reached is TimeSpan r2 ? LabRecord.Seconds(r2) : "?")}, "
            + $"drew an ACK and then the RST, and {holderName} {(held ? "ignored the RST" : "did not ignore the RST")}; the old duplicate restarted TIME-WAIT ({restart}).", false);
    }

    // Linux's TIME-WAIT length: what its timer reads on entering, against tcp_fin_timeout in the same namespace (which an
    // orphaned FIN-WAIT-2 runs on, in the same kind of mini-socket: its samples show the timewait timer at 3 s, in FIN-WAIT-2).
    private static string KernelTimeWaitLength(LabRecord r, VerdictBuilder v)
    {
        FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == LinuxDefaultPort || x.Remote.Port == LinuxDefaultPort);
        KernelSocketSample? first = r.KernelChanges(c).Cast<KernelSocketSample?>().FirstOrDefault(x => x?.State == KernelTcpState.TimeWait && x?.Timer == KernelTcpTimer.TimeWait);
        string finTimeout = r.KernelSettings.TryGetValue("tcp_fin_timeout", out string? t) ? $"{t} s" : "its default";
        v.Expect("the kernel's TIME-WAIT timer starts at 60 s (TCP_TIMEWAIT_LEN), whatever tcp_fin_timeout is",
            first is KernelSocketSample s && s.Expires > LinuxTimeWait - TimeSpan.FromSeconds(1) && s.Expires <= LinuxTimeWait,
            first is KernelSocketSample f ? $"{LabRecord.Seconds(f.Expires)} left on entering TIME-WAIT; tcp_fin_timeout {finTimeout}" : "no TIME-WAIT timer seen");
        return first is KernelSocketSample k
            ? $"The kernel's TIME-WAIT timer read {LabRecord.Seconds(k.Expires)} on entering it, with tcp_fin_timeout at {finTimeout} in this namespace: TIME-WAIT is TCP_TIMEWAIT_LEN, 60 s, on Linux."
            : "";
    }
}
