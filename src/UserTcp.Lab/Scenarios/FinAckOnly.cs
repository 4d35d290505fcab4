using System.Globalization;
using System.Net.Sockets;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fin-ack-only (seed 000, question 2; seed 001's claim that FIN-WAIT-2 never times out): the passive side acknowledges
/// the FIN but never sends its own. Three connections at once: (1) the active closer close()d — an orphan, so its
/// FIN-WAIT-2 has a timeout; (2) it only shut down its sending side — it still owns the socket, so FIN-WAIT-2 waits;
/// (3) the passive application does close, but the link loses its FIN every time.
/// </summary>
public sealed class FinAckOnly : LabScenario
{
    private const ushort Orphaned = 5021, HalfClosed = 5022, FinLost = 5023;

    public override string Name => "fin-ack-only";

    public override string Question =>
        "The passive side acknowledges the FIN but never gets its own FIN across (its application does not close, or the link "
        + "loses the FIN). What state is each side in, and does FIN-WAIT-2 ever end?";

    public override SeedClaim Seed => new("seed 000, question 2; seed 001",
        "Seed 000: the active closer sits in FIN_WAIT_2; the passive side stays in CLOSE_WAIT, retransmitting its FIN, until a "
        + "timeout. Seed 001: FIN_WAIT_2 has no timeout — if the other side never closes, it stays until the system reboots.");

    public override IReadOnlyList<string> Faults(LabRole role) => role == LabRole.UserTcpActive
        ? [$"drop from-kernel flags=FIN port={FinLost}"]
        : [$"drop to-kernel flags=FIN port={FinLost}"];

    public override async Task RunAsync(LabSession s)
    {
        LabConnection orphaned = await s.OpenAsync(Orphaned).ConfigureAwait(false);
        LabConnection halfClosed = await s.OpenAsync(HalfClosed).ConfigureAwait(false);
        LabConnection finLost = await s.OpenAsync(FinLost).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            s.Mark(LabSide.UserTcp, "close()", orphaned.Id);
            await orphaned.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "shutdown(SHUT_WR), and keeps the socket", halfClosed.Id);
            halfClosed.UserTcp.Shutdown(SocketShutdown.Send);
        }
        else
        {
            s.Mark(LabSide.Kernel, "close()", orphaned.Id);
            orphaned.Kernel.Close();
            s.Mark(LabSide.Kernel, "shutdown(SHUT_WR), and keeps the socket", halfClosed.Id);
            halfClosed.Kernel.ShutdownSend();
        }
        await CloseInTurnAsync(s, finLost).ConfigureAwait(false);
        // Twice the FIN-WAIT-2 timeout: the orphan's ends, the half-closed one's does not.
        TimeSpan timeout = s.Role == LabRole.UserTcpActive ? s.Stack.TcpConfig.FinWait2Timeout : TimeSpan.FromSeconds(FinTimeout(s.Full));
        await s.Delay(timeout * 2 + TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
    }

    private static int FinTimeout(bool full) => full ? 60 : LabDefaults.ShortFinTimeoutSeconds;

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpActive = r.Role == LabRole.UserTcpActive;
        string activeName = userTcpActive ? "UserTcp" : "the kernel", passiveName = userTcpActive ? "the kernel" : "UserTcp";
        TimeSpan finWait2Timeout = userTcpActive
            ? r.UserTcpConfig.FinWait2Timeout
            : TimeSpan.FromSeconds(r.KernelSettings.TryGetValue("tcp_fin_timeout", out string? t) ? int.Parse(t, CultureInfo.InvariantCulture) : 60);
        FourTuple orphaned = default, halfClosed = default, finLost = default;
        foreach (FourTuple c in r.Connections)
        {
            if (c.Local.Port == Orphaned) orphaned = c;
            if (c.Local.Port == HalfClosed) halfClosed = c;
            if (c.Local.Port == FinLost) finLost = c;
        }
        IReadOnlyList<StateSpan> Active(FourTuple c) => userTcpActive ? r.UserTcpStates(c) : r.KernelStates(c);
        IReadOnlyList<StateSpan> Passive(FourTuple c) => userTcpActive ? r.KernelStates(c) : r.UserTcpStates(c);
        LabSide passiveSide = userTcpActive ? LabSide.Kernel : LabSide.UserTcp;

        // (1) orphaned: FIN-WAIT-2 ends after its timeout; the passive side stays in CLOSE-WAIT and sends no FIN.
        IReadOnlyList<StateSpan> orphanActive = Active(orphaned), orphanPassive = Passive(orphaned);
        TimeSpan? orphanWait = r.TimeIn(orphanActive, "FIN-WAIT-2");
        bool orphanEnded = orphanActive.Count > 0 && orphanActive[^1].State is "CLOSED" or "(gone)";
        v.Expect("orphaned: the active closer's FIN-WAIT-2 ends after its timeout",
            orphanEnded && orphanWait is TimeSpan w && Math.Abs((w - finWait2Timeout).TotalSeconds) < 0.6,
            $"{LabRecord.Path(orphanActive)}; FIN-WAIT-2 lasted {(orphanWait is TimeSpan ow ? LabRecord.Seconds(ow) : "?")} (timeout {LabRecord.Seconds(finWait2Timeout)})");
        v.Expect("orphaned: the passive side sits in CLOSE-WAIT and sends no FIN",
            orphanPassive.Count > 0 && orphanPassive[^1].State == "CLOSE-WAIT" && r.From(orphaned, passiveSide, IsFin).Count == 0,
            $"{LabRecord.Path(orphanPassive)}; {r.From(orphaned, passiveSide, IsFin).Count} FINs");
        // (2) half-closed: FIN-WAIT-2 outlasts the timeout.
        IReadOnlyList<StateSpan> halfActive = Active(halfClosed);
        TimeSpan? halfWait = r.TimeIn(halfActive, "FIN-WAIT-2");
        v.Expect("half-closed (shutdown only): FIN-WAIT-2 is still there at twice the timeout",
            halfActive.Count > 0 && halfActive[^1].State == "FIN-WAIT-2" && halfWait is TimeSpan hw && hw > finWait2Timeout * 1.5,
            $"{LabRecord.Path(halfActive)}; in FIN-WAIT-2 for {(halfWait is TimeSpan hw2 ? LabRecord.Seconds(hw2) : "?")} when the run ended");
        // (3) FIN lost: the passive side is in LAST-ACK (not CLOSE-WAIT) and retransmits its FIN.
        IReadOnlyList<StateSpan> lostPassive = Passive(finLost), lostActive = Active(finLost);
        Transmissions? lostFin = r.SentWith(finLost, passiveSide, TcpFlags.Fin);
        v.Expect("FIN lost: the passive side is in LAST-ACK, not CLOSE-WAIT, once its application has closed", LabRecord.WasIn(lostPassive, "LAST-ACK"),
            LabRecord.Path(lostPassive));
        (bool lostBacksOff, string lostBackoff) = TimerBacksOff(r, finLost, passiveSide, lostFin);
        v.Expect("FIN lost: it retransmits its FIN with backoff", lostFin is not null && lostFin.Retransmissions >= 2 && lostBacksOff,
            lostFin is null ? "no FIN" : $"{lostFin.Describe()}; {lostBackoff}");
        TimeSpan? lostWait = r.TimeIn(lostActive, "FIN-WAIT-2");
        v.Expect("FIN lost: the active closer's FIN-WAIT-2 ends after its timeout",
            lostActive.Count > 0 && lostActive[^1].State is "CLOSED" or "(gone)" && lostWait is TimeSpan lw && Math.Abs((lw - finWait2Timeout).TotalSeconds) < 0.6,
            $"{LabRecord.Path(lostActive)}; FIN-WAIT-2 lasted {(lostWait is TimeSpan lw2 ? LabRecord.Seconds(lw2) : "?")} (timeout {LabRecord.Seconds(finWait2Timeout)})");

        string observed = $"Orphaned: {activeName} close()d and went FIN-WAIT-1 → FIN-WAIT-2; {passiveName} acknowledged and sat in CLOSE-WAIT, "
            + $"sending nothing, for the whole run. {activeName}'s FIN-WAIT-2 ended on its own after {(orphanWait is TimeSpan a ? LabRecord.Seconds(a) : "?")} "
            + $"({(userTcpActive ? "UserTcp's FinWait2Timeout" : "tcp_fin_timeout")} = {LabRecord.Seconds(finWait2Timeout)}): {LabRecord.Path(orphanActive)}. "
            + $"Half-closed: {activeName} only shut down sending and kept the socket; its FIN-WAIT-2 was still there after "
            + $"{(halfWait is TimeSpan b ? LabRecord.Seconds(b) : "?")}. FIN lost: {passiveName}'s application did close, so it went to LAST-ACK "
            + $"({LabRecord.Path(lostPassive)}) and retransmitted its FIN ({lostFin?.Describe() ?? "none"}), while {activeName}'s FIN-WAIT-2 "
            + $"timed out ({LabRecord.Path(lostActive)}). " + Sampling(r);
        string why = "Seed 000 is right that the active closer waits in FIN-WAIT-2, and wrong about the passive side: a side in CLOSE-WAIT "
            + "has not sent a FIN and retransmits nothing — it waits for its application; a side whose application closed is in LAST-ACK, "
            + "and that is where the FIN is retransmitted. Seed 001 is wrong as stated: an orphaned FIN-WAIT-2 (the application closed) "
            + $"times out ({(userTcpActive ? "UserTcp's FinWait2Timeout" : "Linux tcp_fin_timeout")}); only a FIN-WAIT-2 whose application merely "
            + "shut down sending and still holds the socket waits indefinitely, because that application may still read.";
        return v.Build(this, r, observed, SeedAgreement.Partly, why, Schedule(r, finLost, LabSide.Kernel), Schedule(r, finLost, LabSide.UserTcp));
    }
}
