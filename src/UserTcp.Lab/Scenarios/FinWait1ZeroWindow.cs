using System.Globalization;
using UserTcp.Engine;
using UserTcp.Sockets;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fin-wait-1-zero-window (seeds 001, 002 and 004 say FIN-WAIT-1 is hard to see, since the other side answers a FIN at
/// once): the sender writes more than the receiver's small buffer takes and closes; the receiver's application does not
/// read for <see cref="Hold"/>, so its window stays shut. The FIN waits behind the data, the closer sits in FIN-WAIT-1
/// probing the window (RFC 1122 §4.2.2.17: as long as the probes are answered), and only the receiver's read lets the
/// data and then the FIN go. Role active: UserTcp sends and closes to a kernel socket with a small SO_RCVBUF; passive:
/// the kernel does, to UserTcp with a small receive buffer.
/// </summary>
public sealed class FinWait1ZeroWindow : LabScenario
{
    private const ushort Port = 5072;
    /// <summary>How long the receiver's application leaves its buffer full after the closer's close().</summary>
    public static readonly TimeSpan Hold = TimeSpan.FromSeconds(3);
    private const int KernelReceiveBuffer = 4096;
    private const int UserTcpReceiveBuffer = 4096;
    /// <summary>The kernel sender's SO_SNDBUF: all of <see cref="ZeroWindow.Size"/> fits, so its send() returns and it closes while the window is shut.</summary>
    private const int KernelSendBuffer = 262_144;
    internal const string ReadMark = "read() at last";
    private static readonly TimeSpan InvalidAckInterval = TimeSpan.FromMilliseconds(500), Slack = TimeSpan.FromMilliseconds(30);

    public override string Name => "fin-wait-1-zero-window";

    public override string DescribeRole(LabRole role) => role == LabRole.UserTcpActive
        ? "UserTcp sends and closes, the kernel's application does not read"
        : "the kernel sends and closes, UserTcp's application does not read";

    public override string Question =>
        "The closer's FIN waits behind data the receiver's shut window holds back. Is FIN-WAIT-1 then as short-lived as an ACK's round trip, what does the closer send meanwhile, and what lets the close go on?";

    public override SeedClaim Seed => new("seed 001 (and 002, 004)",
        "FIN_WAIT_1 is hard to see: whatever state the other side is in, it should answer the FIN with an ACK at once, so the closer passes "
        + "straight on to FIN_WAIT_2, which netstat does show.");

    public override async Task RunAsync(LabSession s)
    {
        byte[] data = ZeroWindow.Pattern();
        if (s.Role == LabRole.UserTcpActive)
        {
            LabConnection c = await s.OpenAsync(Port, kernelConnects: false, kernelOptions: k => k.ReceiveBuffer(KernelReceiveBuffer)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"write {ZeroWindow.Size} bytes, close()", c.Id);
            await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            await s.Delay(Hold).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, ReadMark, c.Id);
            PeerThread<StreamEnd> reader = await KernelReadsToEndThenClosesAsync(s, c.Kernel).ConfigureAwait(false);
            StreamEnd end = await reader.Completion.ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read {end.Bytes} bytes{(end.Ended ? " and the FIN" : "")}, close()", c.Id, end.ClosedAt ?? s.Now);
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
            return;
        }
        LabConnection k = await s.OpenAsync(Port, kernelConnects: true, options: new UserTcpConnectionOptions { ReceiveBufferSize = UserTcpReceiveBuffer },
            kernelOptions: socket => socket.SendBuffer(KernelSendBuffer)).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, $"send {ZeroWindow.Size} bytes, close()", k.Id);
        PeerThread<bool> sender = await KernelSendsThenClosesAsync(s, k.Kernel, data).ConfigureAwait(false);
        await sender.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        await s.Delay(Hold).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, ReadMark, k.Id);
        byte[] got = await UserTcpReadsExactlyAsync(s, k.UserTcp, ZeroWindow.Size).ConfigureAwait(false);
        bool ended = await k.UserTcp.ReadAsync(new byte[1], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false) == 0;
        s.Mark(LabSide.UserTcp, $"read {got.Length} bytes{(ended ? " and the FIN" : "")}, close()", k.Id);
        await k.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        await s.UserTcpReachesAsync(k.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        IReadOnlyList<StateSpan> states = userTcpSends ? r.UserTcpStates(c) : r.KernelStates(c);
        int fw1 = states.ToList().FindIndex(x => x.State == "FIN-WAIT-1");
        TimeSpan? entered = fw1 >= 0 ? states[fw1].At : null;
        TimeSpan? left = fw1 >= 0 && fw1 + 1 < states.Count ? states[fw1 + 1].At : null;
        string after = fw1 >= 0 && fw1 + 1 < states.Count ? states[fw1 + 1].State : "";
        LabMark? read = r.Marks.FirstOrDefault(m => m.Side == receiver && m.Connection == c && m.What == ReadMark);
        LabMark? got = r.Marks.FirstOrDefault(m => m.Side == receiver && m.Connection == c && m.What.StartsWith("read ", StringComparison.Ordinal) && m.What != ReadMark);
        WirePacket? fin = FirstOf(r.From(c, sender, IsFin));
        ZeroWindow.ZeroWindowEpisode e = ZeroWindow.Episode(r, c, sender);
        IReadOnlyList<ZeroWindow.Probe> inFinWait1 = [.. e.Probes.Where(p => entered is TimeSpan from && p.Packet.At >= from && (read is null || p.Packet.At < read.At))];
        IReadOnlyList<TimeSpan> gaps = [.. inFinWait1.Skip(1).Zip(inFinWait1, (later, earlier) => later.Packet.At - earlier.Packet.At)];
        TimeSpan? lasted = entered is TimeSpan a && left is TimeSpan b ? b - a : null;
        int answered = inFinWait1.Count(p => p.Answer is not null);
        // A probe is a segment outside the window, and both stacks answer such segments at most once per 500 ms (Linux's
        // tcp_invalid_ratelimit, UserTcp's InvalidAckInterval): a probe sooner than that after an answer may go unanswered.
        bool answeredAsLinux = answered > 0 && inFinWait1.All(p => p.Answer is null || p.Answer.Segment.Window == 0)
            && inFinWait1.Where(p => p.Answer is null).All(p => inFinWait1.Any(q => q.Answer is { } earlier && earlier.At <= p.Packet.At && p.Packet.At - earlier.At < InvalidAckInterval + Slack));

        v.Expect($"{receiverName}'s window falls to zero while its application does not read", e.Zero is not null,
            e.Zero is null ? "no zero window advertised" : $"zero window at {LabRecord.Seconds(e.Zero.At)}");
        v.Expect($"{senderName}'s close() finds data the shut window holds back: it enters FIN-WAIT-1 and sends no FIN before {receiverName} reads",
            entered is not null && read is not null && entered < read.At && (fin is null || fin.At > read.At),
            $"FIN-WAIT-1 at {(entered is TimeSpan en ? LabRecord.Seconds(en) : "never")}; the first FIN at {(fin is null ? "never" : LabRecord.Seconds(fin.At))}; the read at {(read is null ? "never" : LabRecord.Seconds(read.At))}");
        v.Expect($"in FIN-WAIT-1 {senderName} probes the window on its persist timer, backing off, and {receiverName} answers at once with its window still shut "
            + "(but at most once per 500 ms: tcp_invalid_ratelimit)",
            inFinWait1.Count >= 2 && answeredAsLinux && gaps.Zip(gaps.Skip(1), (x, y) => y > x).All(longer => longer),
            inFinWait1.Count == 0 ? "no probe" : $"{Count(inFinWait1.Count, "probe")} at {List(inFinWait1.Select(p => p.Packet.At))}, {answered} answered with a zero window");
        v.Expect($"{senderName} is still in FIN-WAIT-1 when {receiverName} reads, {LabRecord.Seconds(Hold)} after the close",
            read is not null && StateAt(states, read.At) == "FIN-WAIT-1",
            read is null ? "no read" : $"{StateAt(states, read.At) ?? "no state"} at the read ({LabRecord.Seconds(read.At)})");
        v.Expect($"once {receiverName} reads, the rest of the data and then the FIN go, and the close goes on: FIN-WAIT-1 ends when the FIN is acknowledged",
            fin is not null && read is not null && fin.At > read.At && after is "FIN-WAIT-2" or "TIME-WAIT" or "CLOSING",
            $"{senderName}: {LabRecord.Path(states)}");
        string expected = string.Create(CultureInfo.InvariantCulture, $"read {ZeroWindow.Size} bytes and the FIN");
        v.Expect("all the data arrives, then the FIN", got?.What.StartsWith(expected, StringComparison.Ordinal) == true, got?.What ?? "nothing read");

        string observed = $"{Capitalized(senderName)} wrote {ZeroWindow.Size} bytes and closed; {receiverName} "
            + $"({(userTcpSends ? $"SO_RCVBUF {KernelReceiveBuffer}" : $"a receive buffer of {UserTcpReceiveBuffer} bytes")}) did not read"
            + (e.Zero is null ? ", yet its window never fell to zero. " : $" and advertised a zero window at {LabRecord.Seconds(e.Zero.At)}. ")
            + (entered is TimeSpan at
                ? $"{Capitalized(senderName)} went to FIN-WAIT-1 at {LabRecord.Seconds(at)} and sent no FIN: it probed the shut window "
                    + (inFinWait1.Count == 0 ? "not at all" : $"{Times(inFinWait1.Count)} ({List(inFinWait1.Select(p => p.Packet.At))}{(gaps.Count > 0 ? $"; intervals {List(gaps)}" : "")})")
                    + $", and {receiverName} answered {answered} of them at once, each with a zero window"
                    + (answered < inFinWait1.Count ? " (the others came within 500 ms of an answer: an ACK to a segment outside the window goes at most once per 500 ms, Linux's tcp_invalid_ratelimit, UserTcp's InvalidAckInterval)" : "")
                    + ". "
                : $"{Capitalized(senderName)} never went to FIN-WAIT-1. ")
            + (read is null ? "" : $"{Capitalized(receiverName)}'s application read at {LabRecord.Seconds(read.At)}; ")
            + (fin is null ? "no FIN followed. " : $"the FIN went at {LabRecord.Seconds(fin.At)}, after the rest of the data. ")
            + (lasted is TimeSpan d ? $"FIN-WAIT-1 lasted {LabRecord.Seconds(d)}: {LabRecord.Path(states)}. " : "")
            + Sampling(r);
        bool put = e.Zero is not null && entered is not null && read is not null;
        bool longLived = put && lasted is TimeSpan held && held >= Hold - TimeSpan.FromMilliseconds(500);
        string why = !put ? "The run did not put the question: the window never shut, or the closer never reached FIN-WAIT-1."
            : longLived
                ? $"The receiver did answer at once, but an ACK that keeps the window shut cannot acknowledge a FIN that was never sent: "
                    + $"the FIN waits behind the data, and {senderName} stayed in FIN-WAIT-1 for {LabRecord.Seconds(lasted!.Value)}, as long as the application "
                    + "did not read. RFC 1122 §4.2.2.17 keeps a sender probing while it is answered; Linux gives an orphan up only once its probes have "
                    + "backed off to the maximum RTO (about 205 s from a 200 ms RTO at its defaults; never with this lab's tcp_retries2 of 5, which caps "
                    + "the backoff at 6.4 s), so a server whose clients stop reading collects FIN-WAIT-1 sockets."
                : $"FIN-WAIT-1 lasted only {(lasted is TimeSpan l ? LabRecord.Seconds(l) : "?")}, less than the receiver's hold.";
        return v.Build(this, r, observed, !put ? SeedAgreement.Inconclusive : longLived ? SeedAgreement.Disagrees : SeedAgreement.Agrees, why,
            Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }
}
