using System.Globalization;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// ecn: a router marks some of a bulk sender's segments CE instead of dropping them (RFC 3168 §5; the link's
/// <c>mark</c> rule). Both ends speak ECN — the kernel with net.ipv4.tcp_ecn=1, UserTcp with <see cref="EcnMode.Request"/> —
/// so the receiver echoes ECE until the sender's CWR (§6.1.3), and the sender reduces its congestion window once per
/// window of data however many of its segments were marked (§6.1.2; Linux's tcp_enter_cwr and its CWR state), and
/// resends nothing. The link marks two segments of one window, then one several windows later. Role active: UserTcp
/// sends; passive: the kernel does. Both sides' cwnd and ssthresh are read from TCP_INFO while the data goes
/// (<see cref="TcpInfoWatch"/>); the verdict reads the handshake, the ECN field of every data segment, the echoes and the
/// CWRs from the capture, and the reductions from the sender's own account.
/// </summary>
public sealed class Ecn : LabScenario
{
    private const ushort Port = 5040;
    /// <summary>The MSS both ends use: the 1460 they announce at the link's MTU of 1500, less 12 bytes of timestamps.</summary>
    private const int Mss = 1448;
    /// <summary>What the sender writes: enough for the marks to fall in windows several round trips apart.</summary>
    public const int Segments = 200;
    public const int Size = Segments * Mss;

    /// <summary>
    /// The sender's data segments the link marks, counted from 1 among the data it sends on the connection: the 15th and
    /// 16th go out back to back in slow start's second window, before any echo of the first can come back; the 60th
    /// goes rounds later, after the first reduction has ended, so it is a window of its own.
    /// </summary>
    internal static readonly (int First, int Last)[] MarkedSegments = [(15, 16), (60, 60)];

    /// <summary>How many segments the rules mark.</summary>
    internal static int Marks => MarkedSegments.Sum(m => m.Last - m.First + 1);

    public override string Name => "ecn";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "A router marks some of a sender's packets congestion-experienced (ECN, RFC 3168) instead of dropping them. What does the sender do: does it slow down, how often, and does it resend anything?";

    public override IReadOnlyList<string> Faults(LabRole role)
    {
        string toReceiver = role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel";
        return [.. MarkedSegments.Select(m => string.Create(CultureInfo.InvariantCulture,
            $"mark {toReceiver} data port={Port} nth={m.First}{(m.Last != m.First ? $"..{m.Last}" : "")}"))];
    }

    /// <summary>The lab's knobs, and tcp_ecn=1: the kernel asks for ECN when it connects and agrees when asked (Linux's default, 2, only agrees).</summary>
    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(LabDefaults.KernelSettings(full)) { ["tcp_ecn"] = "1" };

    /// <summary>The lab's timers, and ECN requested: UserTcp's SYN asks for it when UserTcp connects (active); when the kernel does, UserTcp agrees either way.</summary>
    public override TcpConfig UserTcpConfig(LabRole role, bool full) => LabDefaults.UserTcpConfig(full) with { Ecn = EcnMode.Request };

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        // The receiver connects, so in each role the other end's SYN asks for ECN: UserTcp's in active, the kernel's in passive.
        LabConnection c = await s.OpenAsync(Port, kernelConnects: !userTcpSends).ConfigureAwait(false);
        byte[] data = Pattern();
        // Before the close, so the counters are the data's alone.
        await NotingKernelCountersAsync(s, c.Id, () => TransferUntilAcknowledgedAsync(s, c, data)).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    // Bytes that differ from a shifted copy of themselves, so a misplaced segment shows.
    private static byte[] Pattern() => [.. Enumerable.Range(0, Size).Select(i => (byte)((i * 7 + i / 251 + Port) & 0xFF))];



    /// <summary>One window of marks: the first CE-marked segment in it, how many marks it held, and the CWR that answered it.</summary>
    internal sealed record Window(WirePacket FirstMark, List<WirePacket> MarkedInIt, WirePacket? Cwr);

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        string control = r.KernelCongestionControl.LinuxName();
        string tcpEcn = r.KernelSettings.TryGetValue("tcp_ecn", out string? e) ? e : "?";
        FourTuple c = r.Connections.FirstOrDefault(x => x.Local.Port == Port || x.Remote.Port == Port);
        if (c == default)
        {
            v.Expect("the connection opens", false, $"no connection on port {Port}");
            return v.Build(this, r, "No connection.", SeedAgreement.NoClaim, "");
        }
        SeqNumbering numbering = r.Numbering(c);
        uint Relative(SeqNumber seq) => numbering.Of(sender, seq);

        // The handshake (RFC 3168 §6.1.1): the connecting side's SYN sets ECE and CWR, the answer ECE alone.
        WirePacket? syn = FirstOf(r.PacketsOf(c).Where(p => p.Segment.Has(TcpFlags.Syn) && !p.Segment.Has(TcpFlags.Ack)).ToList());
        WirePacket? synAck = FirstOf(r.PacketsOf(c).Where(p => p.Segment.Has(TcpFlags.Syn | TcpFlags.Ack)).ToList());
        string connector = syn is null ? "?" : syn.ToKernel ? "UserTcp" : "the kernel";
        bool agreed = syn is not null && syn.Segment.Has(TcpFlags.Ece | TcpFlags.Cwr)
            && synAck is not null && synAck.Segment.Has(TcpFlags.Ece) && !synAck.Segment.Has(TcpFlags.Cwr);
        v.Expect($"ECN is agreed: {connector}'s SYN carries ECE and CWR, the SYN-ACK ECE alone (RFC 3168 §6.1.1)", agreed,
            $"SYN [{Flags(syn)}], SYN-ACK [{Flags(synAck)}]");

        // The data's first sendings and their ECN field (§5): ECT(0) as sent, CE where the link marked it (Linux sends a
        // retransmission Not-ECT, tcp_ecn_send; any resend fails the expectation about resends below, not this one).
        var seen = new HashSet<uint>();
        IReadOnlyList<WirePacket> data = [.. r.From(c, sender, p => p.Segment.PayloadLength > 0).Where(p => seen.Add(p.Segment.SequenceNumber.Value))];
        IReadOnlyList<WirePacket> marked = [.. data.Where(p => p.Fault?.Action == FaultAction.Marked)];
        IReadOnlyList<WirePacket> ce = [.. data.Where(p => p.Ce)];
        int ect0 = data.Count(p => p.Ecn == EcnCodepoint.Ect0);
        IReadOnlyList<WirePacket> other = [.. data.Where(p => p.Ecn != EcnCodepoint.Ect0 && !p.Ce)];
        v.Expect($"{senderName} sends its data ECT(0) (RFC 3168 §5), and the {Marks} segments the rules name reach {receiverName} CE, no others",
            data.Count > 0 && other.Count == 0 && marked.Count == Marks && ce.Count == Marks && marked.All(p => p.Ce),
            string.Create(CultureInfo.InvariantCulture, $"{data.Count} data segment(s): {ect0} ECT(0), {ce.Count} CE ({SeqList(ce, Relative)}), {marked.Count} marked by the link")
                + (other.Count > 0 ? $", {other.Count} other ({string.Join(", ", other.Take(3).Select(p => $"seq {Relative(p.Segment.SequenceNumber)} {EcnField.Name(p.Ecn)}"))})" : ""));

        // The echo (§6.1.3): the receiver sets ECE on every ACK from the first CE it has received until a CWR reaches it. Its
        // ACK number says what it had received (nothing arrives out of order here); a CWR clears the echo before the CE of
        // the same segment sets it again, as Linux's tcp_ecn_accept_cwr runs before its CE check.
        IReadOnlyList<WirePacket> cwrs = [.. data.Where(p => p.Segment.Has(TcpFlags.Cwr))];
        IReadOnlyList<WirePacket> acks = r.From(c, receiver, p => p.Segment.Has(TcpFlags.Ack) && !p.Segment.Has(TcpFlags.Syn));
        var wrong = new List<string>();
        var echoes = new List<WirePacket>();
        foreach (WirePacket ack in acks)
        {
            uint acked = Relative(ack.Segment.AcknowledgmentNumber);
            long lastCe = Latest(ce, acked, Relative), lastCwr = Latest(cwrs, acked, Relative);
            bool demand = lastCe >= 0 && lastCe >= lastCwr;
            bool echoed = ack.Segment.Has(TcpFlags.Ece);
            if (echoed) echoes.Add(ack);
            if (echoed != demand) wrong.Add(string.Create(CultureInfo.InvariantCulture, $"ack {acked} at {ack.At.TotalSeconds:0.000} s {(echoed ? "echoed" : "did not echo")}"));
        }
        v.Expect($"{Capitalized(receiverName)} echoes ECE on every ACK from the first CE it received until {senderName}'s CWR reached it, and on no other (RFC 3168 §6.1.3)",
            echoes.Count > 0 && wrong.Count == 0,
            string.Create(CultureInfo.InvariantCulture, $"{echoes.Count} ACK(s) with ECE ({AckList(echoes, Relative)})")
                + (wrong.Count > 0 ? $"; against the rule: {string.Join(", ", wrong.Take(4))}{(wrong.Count > 4 ? $" and {wrong.Count - 4} more" : "")}" : ""));

        // Once per window (§6.1.2): a mark sent after the sender's last CWR is news of a later window; one sent before it
        // is of the window already answered. Each window is answered by one CWR, on the first new segment after the cut.
        IReadOnlyList<Window> windows = Windows(ce, cwrs, Relative);
        bool oncePerWindow = windows.Count > 0 && windows.All(w => w.Cwr is not null) && cwrs.Count == windows.Count;
        v.Expect($"{Capitalized(senderName)} answers each window of marks once, not each mark: one CWR per window (RFC 3168 §6.1.2)",
            oncePerWindow && windows.Count < ce.Count,
            string.Create(CultureInfo.InvariantCulture, $"{ce.Count} mark(s) in {windows.Count} window(s); {cwrs.Count} CWR(s) ({SeqList(cwrs, Relative)})"));

        // The cut itself, in the sender's own account: ssthresh leaves TCP_INFINITE_SSTHRESH at the first mark and falls at
        // each reduction. Read every millisecond, a cut a round trip after another may show as one fall, so at least one
        // and no more than the CWRs; the wire counts them. CUBIC's HyStart may end slow start first (ssthresh = cwnd,
        // Linux's hystart_update), a fall no mark caused and no CWR answers, which the sender counts (TCPHystart*Detect).
        IReadOnlyList<LabReading> thresholds = [.. r.Readings.Where(x => x.Connection == c && x.Side == sender && x.Name == "tcpi_snd_ssthresh")];
        int falls = thresholds.Zip(thresholds.Skip(1)).Count(pair => pair.Second.Value < pair.First.Value);
        bool fromInfinite = thresholds.Count > 0 && thresholds[0].Value >= int.MaxValue;
        (long hyStartEnds, long hyStartCwnd) = HyStartEnds(r, c, userTcpSends);
        v.Expect($"{Capitalized(senderName)}'s window falls at the marks: its ssthresh (TCP_INFO, read every millisecond) leaves ∞ and falls at most once per CWR, "
                + "and once more if HyStart ended slow start (its own count)",
            fromInfinite && falls >= 1 && falls <= cwrs.Count + hyStartEnds,
            thresholds.Count == 0 ? "no ssthresh read"
                : string.Create(CultureInfo.InvariantCulture, $"ssthresh {string.Join(" → ", thresholds.Select(x => Threshold(x.Value)).Distinct())} segments ({falls} fall(s))")
                    + string.Create(CultureInfo.InvariantCulture, $"; HyStart ended slow start {hyStartEnds} time(s){(hyStartEnds > 0 ? $" (at cwnd {hyStartCwnd})" : "")}"));

        IReadOnlyList<Transmissions> resent = [.. r.Sent(c, sender).Where(x => x.Retransmissions > 0)];
        int dropped = r.PacketsOf(c).Count(p => p.Dropped);
        long kernelResent = r.KernelCounterNoted(c, "TcpRetransSegs");
        IReadOnlyList<TcpEvent> userTcpResent = r.UserTcpRetransmissions(c);
        if (userTcpSends)
        {
            // UserTcp's own account of its cuts: one engine event per reduction (TcpEventKind.CongestionWindowReduced).
            IReadOnlyList<TcpEvent> cuts = [.. r.Events.Where(x => x.Kind == TcpEventKind.CongestionWindowReduced && x.Connection == c)];
            v.Expect("UserTcp's engine logs one reduction per CWR it sent, each for the ECN echo",
                cuts.Count == cwrs.Count && cuts.All(x => x.Cause == TcpCause.EcnEcho),
                string.Create(CultureInfo.InvariantCulture, $"{cuts.Count} reduction event(s){(cuts.Count > 0 ? $" ({string.Join(", ", cuts.Select(x => $"{x.Time.TotalSeconds:0.000} s: {x.Cause.Describe()}"))})" : "")}"));
        }
        v.Expect("Nothing is lost and nothing is resent: the marks stood in for drops",
            resent.Count == 0 && dropped == 0 && kernelResent == 0 && userTcpResent.Count == 0,
            string.Create(CultureInfo.InvariantCulture, $"{resent.Count} segment(s) sent again on the link, {dropped} dropped; the kernel's TcpRetransSegs {kernelResent}; UserTcp's retransmission events {userTcpResent.Count}"));

        bool arrived = ArrivedAsWritten(r, c, receiver, Size);
        v.Expect("All the bytes arrive, once and in order", arrived, ReadsOf(r, c, receiver));

        string observed = Observe(r, c, userTcpSends, connector, control, tcpEcn, data, ce, echoes, windows, thresholds, Relative, arrived, (hyStartEnds, hyStartCwnd))
            + " " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    /// <summary>
    /// How often CUBIC's HyStart ended the sender's slow start over the transfer, and the cwnd (segments) it ended at, as
    /// the sender counted them (Linux's hystart_update: TCPHystartTrainDetect and TCPHystartDelayDetect, with the
    /// TCPHystart*Cwnd sums): the kernel's read before and after the transfer, UserTcp's over the run.
    /// </summary>
    internal static (long Ends, long Cwnd) HyStartEnds(LabRecord r, FourTuple c, bool userTcpSends)
    {
        long Count(string name) => userTcpSends ? r.UserTcpCounter(name) : r.KernelCounterNoted(c, name);
        return (Count("TcpExtTCPHystartTrainDetect") + Count("TcpExtTCPHystartDelayDetect"),
            Count("TcpExtTCPHystartTrainCwnd") + Count("TcpExtTCPHystartDelayCwnd"));
    }

    /// <summary>The windows of marks, in order: a CE segment at or beyond the CWR that answered the window before starts a new one.</summary>
    internal static IReadOnlyList<Window> Windows(IReadOnlyList<WirePacket> ce, IReadOnlyList<WirePacket> cwrs, Func<SeqNumber, uint> relative)
    {
        var windows = new List<Window>();
        foreach (WirePacket mark in ce.OrderBy(p => relative(p.Segment.SequenceNumber)))
        {
            uint seq = relative(mark.Segment.SequenceNumber);
            if (windows.Count > 0 && (windows[^1].Cwr is not { } answered || seq < relative(answered.Segment.SequenceNumber)))
            {
                windows[^1].MarkedInIt.Add(mark);
                continue;
            }
            WirePacket? cwr = cwrs.Where(p => relative(p.Segment.SequenceNumber) > seq).OrderBy(p => relative(p.Segment.SequenceNumber)).FirstOrDefault();
            windows.Add(new Window(mark, [mark], cwr));
        }
        return windows;
    }

    private static string Observe(LabRecord r, FourTuple c, bool userTcpSends, string connector, string control, string tcpEcn, IReadOnlyList<WirePacket> data,
        IReadOnlyList<WirePacket> ce, List<WirePacket> echoes, IReadOnlyList<Window> windows, IReadOnlyList<LabReading> thresholds,
        Func<SeqNumber, uint> relative, bool arrived, (long Ends, long Cwnd) hyStart)
    {
        LabSide sender = userTcpSends ? LabSide.UserTcp : LabSide.Kernel;
        (_, _, string senderName, string receiverName) = TransferSides(userTcpSends);
        var text = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"{Capitalized(senderName)} wrote {Size} bytes ({data.Count} data segments) with ECN agreed in the handshake ({connector} asked; the kernel's tcp_ecn={tcpEcn}; congestion control: the kernel {control}, UserTcp {r.UserTcpConfig.CongestionControl.LinuxName()}).")
            + string.Create(CultureInfo.InvariantCulture, $" The link marked {ce.Count} of them CE instead of dropping them ({SeqList(ce, relative)}).")
            + (echoes.Count > 0
                ? string.Create(CultureInfo.InvariantCulture, $" {Capitalized(receiverName)} echoed ECE on {echoes.Count} ACK(s), from {echoes[0].At.TotalSeconds:0.000} s to {echoes[^1].At.TotalSeconds:0.000} s.")
                : $" {Capitalized(receiverName)} echoed no ECE."),
        };
        // The first echo of each window's marks: when the sender heard of them.
        WirePacket?[] firstEchoes = [.. windows.Select(w => echoes.FirstOrDefault(a => relative(a.Segment.AcknowledgmentNumber) > relative(w.FirstMark.Segment.SequenceNumber)))];
        for (int i = 0; i < windows.Count; i++)
        {
            Window w = windows[i];
            WirePacket? echo = firstEchoes[i];
            string marks = w.MarkedInIt.Count == 1 ? $"the mark on seq {relative(w.FirstMark.Segment.SequenceNumber)}" : $"{w.MarkedInIt.Count} marks ({SeqList(w.MarkedInIt, relative)})";
            if (w.Cwr is not { } cwr)
            {
                text.Add($"Window {i + 1}, {marks}: {senderName} set no CWR.");
                continue;
            }
            TimeSpan heard = echo?.ArrivedAt ?? cwr.At;
            // UserTcp's cut is its engine's event (the device's reader may have read the ECE a pass or more before the engine
            // took it); the kernel's comes as it takes the ACK from the TUN device.
            TcpEvent? cut = userTcpSends
                ? r.Events.Cast<TcpEvent?>().FirstOrDefault(x => x!.Value.Kind == TcpEventKind.CongestionWindowReduced && x.Value.Connection == c && x.Value.Time >= heard - TimeSpan.FromMilliseconds(1))
                : null;
            TimeSpan at = cut?.Time ?? heard;
            TimeSpan nextHeard = i + 1 < windows.Count && (firstEchoes[i + 1]?.ArrivedAt ?? windows[i + 1].Cwr?.At) is TimeSpan next ? next : TimeSpan.MaxValue;
            long? threshold = CutThreshold(thresholds, heard, nextHeard);
            text.Add(string.Create(CultureInfo.InvariantCulture,
                $"Window {i + 1}, {marks}: the first ECE reached {senderName} at {heard.TotalSeconds:0.000} s; ")
                + (cut is { } ev ? $"its engine cut the window once {CutAfter(heard, ev.Time)} ({ev.Cause.Describe()})" : "it cut its window once")
                + (threshold is long after ? $", ssthresh then {Threshold(after)} segments," : "")
                + string.Create(CultureInfo.InvariantCulture, $" and set CWR on seq {relative(cwr.Segment.SequenceNumber)}, {LabRecord.Milliseconds((cwr.At - at).Duration())} {(cwr.At >= at ? "later" : "earlier on the link's clock")}.")
                + (w.MarkedInIt.Count > 1 ? $" The echoes of its other mark{(w.MarkedInIt.Count > 2 ? "s" : "")} came within the same window and cut nothing more." : ""));
        }
        if (thresholds.Count > 0)
        {
            text.Add($"{Capitalized(senderName)}'s ssthresh over the transfer: {string.Join(" → ", thresholds.Select(x => Threshold(x.Value)).Distinct())} segments.");
        }
        if (hyStart.Ends > 0)
        {
            text.Add(string.Create(CultureInfo.InvariantCulture,
                $"HyStart (CUBIC's delay and ACK-train tests) had ended {senderName}'s slow start {(hyStart.Ends == 1 ? "once" : $"{hyStart.Ends} times")}, at cwnd {hyStart.Cwnd}: ssthresh = cwnd, a fall no mark caused and no CWR answers, counted as TCPHystart*Detect."));
        }
        long Counter(string name) => r.KernelCounterNoted(c, name);
        text.Add($"Nothing was resent; {receiverName} {(arrived ? "read every byte as written" : "did not read every byte as written")}.");
        if (!userTcpSends)
        {
            // TCPDeliveredCE counts the segments an ECE-carrying ACK acknowledged (tcp_count_delivered): the sender's view of the marks.
            text.Add(string.Create(CultureInfo.InvariantCulture,
                $"The kernel counted over the transfer TCPDeliveredCE {Counter("TcpExtTCPDeliveredCE")} (segments acknowledged by ACKs with ECE), TcpRetransSegs {Counter("TcpRetransSegs")}, TCPTimeouts {Counter("TcpExtTCPTimeouts")}."));
        }
        return string.Join(" ", text);
    }

    /// <summary>
    /// ssthresh after the cut the echo heard at <paramref name="heard"/> caused: the first reading from then on, before the
    /// next window's echo was heard (<paramref name="until"/>), below the last one before it — a reading that only repeats
    /// an earlier fall (HyStart's, a previous window's) is not this cut's, nor one after the next window's cut; null when
    /// no reading shows it.
    /// </summary>
    internal static long? CutThreshold(IReadOnlyList<LabReading> thresholds, TimeSpan heard, TimeSpan until)
    {
        long before = thresholds.LastOrDefault(x => x.At < heard)?.Value ?? long.MaxValue;
        return thresholds.FirstOrDefault(x => x.At >= heard && x.At < until && x.Value < before && x.Value < int.MaxValue)?.Value;
    }

    /// <summary>
    /// When the engine's cut came after the echo that caused it, never before it: "0.3 ms later". A pass stamps its events
    /// with the instant it began, and may read the ACK it acts on from the device after that (the device's read stamps the
    /// ACK's <see cref="WirePacket.ArrivedAt"/>); a cut stamped before the read is that pass's, and says so.
    /// </summary>
    internal static string CutAfter(TimeSpan heard, TimeSpan cut) => cut >= heard
        ? $"{LabRecord.Milliseconds(cut - heard)} later"
        : $"in the pass that read it (stamped with the pass's start, {LabRecord.Milliseconds(heard - cut)} before the read)";

    // The relative sequence number of the latest of these segments the receiver had whole by the time it acknowledged `acked`; -1 for none.
    private static long Latest(IReadOnlyList<WirePacket> segments, uint acked, Func<SeqNumber, uint> relative) =>
        segments.Select(p => relative(p.Segment.SequenceNumber)).Where(seq => seq + 1 <= acked).Select(seq => (long)seq).DefaultIfEmpty(-1).Max();

    private static string Flags(WirePacket? p) => p is null ? "none" : PacketFormatter.FlagLetters(p.Segment.Flags);

    private static string SeqList(IEnumerable<WirePacket> packets, Func<SeqNumber, uint> relative) =>
        packets.Any() ? string.Join(", ", packets.Select(p => $"seq {relative(p.Segment.SequenceNumber)}")) : "none";

    private static string AckList(List<WirePacket> acks, Func<SeqNumber, uint> relative) =>
        acks.Count == 0 ? "none" : acks.Count <= 4
            ? string.Join(", ", acks.Select(a => $"ack {relative(a.Segment.AcknowledgmentNumber)}"))
            : $"ack {relative(acks[0].Segment.AcknowledgmentNumber)} to ack {relative(acks[^1].Segment.AcknowledgmentNumber)}";

    // "∞" for TCP_INFINITE_SSTHRESH.
    private static string Threshold(long value) => value >= int.MaxValue ? "∞" : value.ToString(CultureInfo.InvariantCulture);
}
