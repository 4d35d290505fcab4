using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fin-no-reply (seed 000, question 1): once the active closer's FIN is out, nothing the passive side sends gets
/// through — not the ACK of that FIN, not its own FIN. Both applications close as usual.
/// </summary>
public sealed class FinNoReply : LabScenario
{
    private const ushort Port = 5001;

    public override string Name => "fin-no-reply";

    public override string Question =>
        "After the passive side receives the active closer's FIN, nothing it sends gets through (neither its ACK nor its FIN). "
        + "What state is each side in, and for how long?";

    public override SeedClaim Seed => new("seed 000, question 1",
        "The active closer sits in FIN_WAIT_1 retransmitting its FIN; the passive side stays in CLOSE_WAIT, waiting for the ACK "
        + "of its FIN, which never comes; both wait in a half-closed state until the network recovers, a timeout, or the system "
        + "forces the close.");

    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? ["drop from-kernel after=to-kernel:FIN"]
        : ["drop to-kernel after=from-kernel:FIN"];

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        await s.BothGoneAsync(c.Id, TimeSpan.FromSeconds(s.Full ? 240 : 20)).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        IReadOnlyList<StateSpan> kernel = r.KernelStates(c), userTcp = r.UserTcpStates(c);
        IReadOnlyList<StateSpan> active = userTcpActive ? userTcp : kernel, passive = userTcpActive ? kernel : userTcp;
        LabSide activeSide = userTcpActive ? LabSide.UserTcp : LabSide.Kernel, passiveSide = userTcpActive ? LabSide.Kernel : LabSide.UserTcp;
        Transmissions? activeFin = r.SentWith(c, activeSide, TcpFlags.Fin), passiveFin = r.SentWith(c, passiveSide, TcpFlags.Fin);
        int orphanRetries = userTcpActive ? r.UserTcpConfig.OrphanRetries : KernelOrphanRetries(r);

        v.Expect("the active closer never leaves FIN-WAIT-1 for FIN-WAIT-2 (no ACK of its FIN arrives)",
            LabRecord.WasIn(active, "FIN-WAIT-1") && !LabRecord.WasIn(active, "FIN-WAIT-2") && !LabRecord.WasIn(active, "TIME-WAIT"), LabRecord.Path(active));
        (bool backsOff, string backoff) = TimerBacksOff(r, c, activeSide, activeFin);
        v.Expect("the active closer retransmits its FIN with backoff", activeFin is not null && activeFin.Retransmissions >= 2 && backsOff,
            activeFin is null ? "no FIN" : $"{activeFin.Describe()}; {backoff}");
        v.Expect("the passive side's application closes: it leaves CLOSE-WAIT for LAST-ACK", LabRecord.WasIn(passive, "LAST-ACK"), LabRecord.Path(passive));
        v.Expect("the passive side retransmits its FIN too", passiveFin is not null && passiveFin.Retransmissions >= 1,
            passiveFin is null ? "no FIN" : passiveFin.Describe());
        v.Expect("both give up in the end: no state is held for ever", userTcp.Count > 0 && userTcp[^1].State == "CLOSED" && kernel.Count > 0 && kernel[^1].State == "(gone)",
            $"UserTcp: {LabRecord.Path(userTcp)}; kernel: {LabRecord.Path(kernel)}");
        if (userTcpActive)
        {
            IReadOnlyList<TimeSpan> rtos = UserTcpRtos(r, c);
            v.Expect("UserTcp's engine doubles its RTO for each retransmission of the FIN", Doubles(rtos, r.UserTcpConfig.MaxRto), $"RTOs armed: {List(rtos)}");
            TcpEvent? gaveUp = r.Events.Cast<TcpEvent?>().FirstOrDefault(e => e!.Value.Kind == TcpEventKind.StateChanged && e.Value.Connection == c && e.Value.Cause == TcpCause.RetransmissionsExhausted);
            // The first resend of a lone FIN is a tail loss probe in the timeout's place (RFC 8985 §7.2, as the kernel's):
            // not one of the retries.
            int probes = r.Events.Count(e => e.Kind == TcpEventKind.Retransmission && e.Connection == c && e.Cause == TcpCause.TailLossProbe);
            v.Expect($"UserTcp gives up after its orphan retries ({orphanRetries})", gaveUp is not null && activeFin?.Retransmissions == orphanRetries + probes,
                $"{activeFin?.Retransmissions ?? 0} retransmissions ({probes} of them {(probes == 1 ? "a loss probe" : "loss probes")}), then {(gaveUp is null ? "no give-up" : $"CLOSED at {LabRecord.Seconds(gaveUp.Value.Time)} ({gaveUp.Value.Cause.Describe()})")}");
        }

        string activeName = userTcpActive ? "UserTcp" : "the kernel", passiveName = userTcpActive ? "the kernel" : "UserTcp";
        TimeSpan? inFinWait1 = r.TimeIn(active, "FIN-WAIT-1");
        string observed = $"{activeName} closed and stayed in FIN-WAIT-1 for {(inFinWait1 is TimeSpan t ? LabRecord.Seconds(t) : "?")}, retransmitting its FIN "
            + $"({activeFin?.Describe() ?? "none"}) and then giving up ({LabRecord.Path(active)}). {passiveName} got the FIN and went to CLOSE-WAIT; "
            + $"its application then closed, which took it to LAST-ACK, where it retransmitted its own FIN ({passiveFin?.Describe() ?? "none"}) until it "
            + $"gave up too ({LabRecord.Path(passive)}). CLOSE-WAIT lasted only until the application closed: it waits for the application, not for "
            + "an ACK. " + Sampling(r);
        string why = "Right about the active closer: it stays in FIN-WAIT-1 and retransmits its FIN. Wrong about the passive side: CLOSE-WAIT "
            + "waits for its own application to close, not for an ACK; once the application closes it is in LAST-ACK, and it is the FIN it "
            + "sent there that goes unacknowledged and is retransmitted. And nothing waits indefinitely: both sides give up after their "
            + $"retry limits (here {r.UserTcpConfig.OrphanRetries} for UserTcp, tcp_orphan_retries={KernelOrphanRetries(r)} for the kernel).";
        return v.Build(this, r, observed, SeedAgreement.Partly, why, Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    private static int KernelOrphanRetries(LabRecord r) =>
        r.KernelSettings.TryGetValue("tcp_orphan_retries", out string? value) && int.TryParse(value, out int n) && n > 0 ? n : 8;
}
