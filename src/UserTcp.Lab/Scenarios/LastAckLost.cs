using UserTcp.Engine;
using UserTcp.Tun;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// last-ack-lost (seed 000, question 3): the final ACK of the close is lost, three times. The passive closer, in LAST-ACK,
/// retransmits its FIN with backoff; the active closer, in TIME-WAIT, acknowledges each retransmitted FIN again and
/// restarts its 2MSL timer; the fourth ACK gets through and LAST-ACK ends.
/// </summary>
public sealed class LastAckLost : LabScenario
{
    private const ushort Port = 5003;
    // TIME-WAIT's end against 2MSL after the last FIN: a timer never fires early, but on a loaded machine it may fire late
    // (360 ms was seen with the test process niced beside two busy builds). Not restarting at the last FIN ends it at least the
    // kernel's last backoff gap (~0.4 s) early.
    private static readonly TimeSpan TimerEarly = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan TimerLate = TimeSpan.FromSeconds(1);

    public override string Name => "last-ack-lost";

    public override string Question =>
        "The first three segments of the close get through, but the active closer's final ACK is lost (three times here). "
        + "What state is each side in, and what does each do?";

    public override SeedClaim Seed => new("seed 000, question 3",
        "The active closer enters TIME-WAIT and waits for its timer; the passive closer stays in LAST-ACK and retransmits its "
        + "FIN until it gets the ACK or reaches its retry limit.");

    // TIME-WAIT must outlast the kernel's backed-off RTO, or the retransmitted FIN finds no connection (which is the other lesson).
    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with
    {
        TimeWait = full ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(5),
    };

    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? ["drop to-kernel flags==ACK empty state=TIME-WAIT nth=1..3"]
        : ["drop from-kernel flags==ACK empty state=LAST-ACK nth=1..3"];

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            await s.BothGoneAsync(c.Id, StateTimeout).ConfigureAwait(false);
        }
        else
        {
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
            await s.Delay(TimeSpan.FromMilliseconds(300)).ConfigureAwait(false); // the kernel's TIME-WAIT, seen a while
        }
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        LabSide passive = userTcpActive ? LabSide.Kernel : LabSide.UserTcp;
        IReadOnlyList<StateSpan> kernel = r.KernelStates(c), userTcp = r.UserTcpStates(c);
        IReadOnlyList<StateSpan> active = userTcpActive ? userTcp : kernel, passiveStates = userTcpActive ? kernel : userTcp;
        Transmissions? fin = r.SentWith(c, passive, UserTcp.Wire.TcpFlags.Fin);
        int finCount = fin?.Times.Count ?? 0;

        v.Expect("the passive closer reaches LAST-ACK", LabRecord.WasIn(passiveStates, "LAST-ACK"), LabRecord.Path(passiveStates));
        v.Expect("the active closer reaches TIME-WAIT", LabRecord.WasIn(active, "TIME-WAIT"), LabRecord.Path(active));
        v.Expect("LAST-ACK retransmits its FIN once per lost ACK (4 transmissions)", finCount == 4,
            fin is null ? "no FIN" : $"{finCount} transmissions: {fin.Describe()}");
        (bool backsOff, string backoff) = TimerBacksOff(r, c, passive, fin);
        v.Expect("the retransmissions back off", fin is not null && backsOff, backoff);
        int acks;
        if (userTcpActive)
        {
            acks = UserTcpSentIn(r, c, "TIME-WAIT", IsPureAck).Count;
            TimeSpan? timeWait = r.TimeIn(userTcp, "TIME-WAIT");
            // TIME-WAIT restarts when a FIN arrives (RFC 9293 §3.10.7.4): from the last one UserTcp read, not when the kernel sent it.
            TimeSpan lastFin = r.From(c, LabSide.Kernel, p => p.Segment.Has(UserTcp.Wire.TcpFlags.Fin) && !p.Dropped).Select(p => p.ArrivedAt).DefaultIfEmpty(TimeSpan.Zero).Max();
            TimeSpan closed = userTcp.Count > 0 && userTcp[^1].State == "CLOSED" ? userTcp[^1].At : TimeSpan.Zero;
            TimeSpan afterLastFin = closed - lastFin;
            TimeSpan twoMsl = r.UserTcpConfig.TimeWait;
            v.Expect("TIME-WAIT acknowledges every FIN (4 ACKs)", acks == 4, $"{acks} ACKs sent in TIME-WAIT");
            v.Expect("each retransmitted FIN restarts TIME-WAIT's timer: it ends 2MSL after the last FIN",
                closed > TimeSpan.Zero && afterLastFin - twoMsl > -TimerEarly && afterLastFin - twoMsl < TimerLate,
                $"TIME-WAIT lasted {(timeWait is TimeSpan t ? LabRecord.Seconds(t) : "?")}, ending {LabRecord.Seconds(afterLastFin)} after the last FIN (2MSL here: {LabRecord.Seconds(twoMsl)})");
            v.Expect("the kernel's socket leaves LAST-ACK when an ACK arrives", kernel.Count > 0 && kernel[^1].State == "(gone)", KernelPath(r, c));
        }
        else
        {
            acks = r.From(c, LabSide.Kernel, IsPureAck).Count(p => StateAt(userTcp, p.ArrivedAt) == "LAST-ACK");
            // The sampler keeps a TIME-WAIT sample when the state begins and again each time the time left jumps back.
            int restarts = r.KernelChanges(c).Count(x => x.State == KernelTcpState.TimeWait && x.Timer == KernelTcpTimer.TimeWait) - 1;
            int resent = fin is null ? 0 : fin.Dropped.Skip(1).Count(d => !d);
            v.Expect("TIME-WAIT acknowledges every FIN (4 ACKs)", acks == 4, $"{acks} ACKs from the kernel while UserTcp was in LAST-ACK");
            v.Expect("each retransmitted FIN restarts the kernel's TIME-WAIT timer (sock_diag shows its time left jump back)", resent > 0 && restarts >= resent,
                $"{Math.Max(restarts, 0)} restart{(restarts == 1 ? "" : "s")} for {resent} retransmitted FIN{(resent == 1 ? "" : "s")}: "
                + string.Join(", ", r.KernelChanges(c).Where(x => x.Timer == KernelTcpTimer.TimeWait).Select(x => $"{LabRecord.Seconds(x.At)}: {LabRecord.Seconds(x.Expires)} left")));
            v.Expect("UserTcp leaves LAST-ACK when an ACK arrives", userTcp.Count > 0 && userTcp[^1].State == "CLOSED", UserTcpPath(r, c));
        }

        string passiveName = userTcpActive ? "the kernel" : "UserTcp";
        string activeName = userTcpActive ? "UserTcp" : "the kernel";
        string observed = $"{activeName} closed first and reached TIME-WAIT ({LabRecord.Path(active)}); {passiveName} closed in turn and waited "
            + $"in LAST-ACK ({LabRecord.Path(passiveStates)}). The link lost the first three final ACKs, so {passiveName} retransmitted its FIN: "
            + $"{fin?.Describe() ?? "no FIN seen"} (intervals {(fin is null ? "-" : Intervals(fin))})"
            + (userTcpActive ? " — Linux's first retransmission of a lone segment is typically a tail-loss probe (RFC 8985), sent about two round trips plus "
                + "the 200 ms delayed-ACK allowance after it; the RTO expiries after it double" : "")
            + $". {activeName}, in TIME-WAIT, answered each FIN with an ACK ({acks} in all) and restarted its 2MSL timer each time; the fourth ACK "
            + "got through and LAST-ACK ended. " + Sampling(r);
        bool agrees = LabRecord.WasIn(passiveStates, "LAST-ACK") && finCount >= 2 && LabRecord.WasIn(active, "TIME-WAIT");
        string why = agrees
            ? "The states and the retransmitted FIN are as the seed says. What it leaves out: TIME-WAIT is not idle — it acknowledges each "
              + "retransmitted FIN again and restarts its timer, which is what TIME-WAIT is for; LAST-ACK ends as soon as one of those ACKs arrives."
            : "The run did not show LAST-ACK retransmitting its FIN while the other side sat in TIME-WAIT.";
        return v.Build(this, r, observed, agrees ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why,
            Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }
}
