using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// simultaneous-close: both applications close at the same moment, and the link holds each FIN (and whatever its sender
/// sends after it) for 150 ms, so the FINs cross: each side gets the other's FIN while still in FIN-WAIT-1 and goes to CLOSING,
/// then to TIME-WAIT when its FIN is acknowledged — on both sides, TIME-WAIT for both.
/// </summary>
public sealed class SimultaneousClose : LabScenario
{
    private const ushort Port = 5004;

    public override string Name => "simultaneous-close";

    public override string Question => "Both sides close at the same moment and their FINs cross. Which states does each pass through?";

    public override SeedClaim Seed => new("seed 001 (and 004)",
        "CLOSING is rare: it means a side sent its FIN and, before the ACK of it, received the other side's FIN; it happens when "
        + "both close almost at the same time. Both then go on to TIME_WAIT.");

    public override IReadOnlyList<LabRole> Roles => [LabRole.Both];

    // Each side's FIN, and everything it sends after it, is held 150 ms: the FINs cross, and no ACK overtakes them.
    public override IReadOnlyList<string> Faults(LabRole role) =>
        ["delay=150ms flags=FIN", "delay=150ms to-kernel after=to-kernel:FIN", "delay=150ms from-kernel after=from-kernel:FIN"];

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        await s.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        s.Mark(LabSide.Kernel, "close()", c.Id);
        c.Kernel.Close();
        s.Mark(LabSide.UserTcp, "close()", c.Id);
        await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        IReadOnlyList<StateSpan> kernel = r.KernelStates(c), userTcp = r.UserTcpStates(c);
        v.Expect("UserTcp goes FIN-WAIT-1 → CLOSING → TIME-WAIT", ContainsInOrder(userTcp, "FIN-WAIT-1", "CLOSING", "TIME-WAIT"), LabRecord.Path(userTcp));
        v.Expect("the kernel goes FIN-WAIT-1 → CLOSING → TIME-WAIT", ContainsInOrder(kernel, "FIN-WAIT-1", "CLOSING", "TIME-WAIT"), LabRecord.Path(kernel));
        v.Expect("neither side passes FIN-WAIT-2", !LabRecord.WasIn(userTcp, "FIN-WAIT-2") && !LabRecord.WasIn(kernel, "FIN-WAIT-2"),
            $"UserTcp: {LabRecord.Path(userTcp)}; kernel: {LabRecord.Path(kernel)}");
        TimeSpan? userTcpClosing = r.TimeIn(userTcp, "CLOSING"), kernelClosing = r.TimeIn(kernel, "CLOSING");
        string observed = $"Both applications closed within a millisecond; with the FINs held 150 ms on the link, each side received the other's "
            + $"FIN while its own was unacknowledged. UserTcp: {LabRecord.Path(userTcp)}, CLOSING for {Show(userTcpClosing)}; the kernel: "
            + $"{LabRecord.Path(kernel)}, CLOSING for {Show(kernelClosing)} as its socket table showed it. Both ended in TIME-WAIT — the kernel "
            + "keeps it 60 s, UserTcp here for its shortened 2MSL. " + Sampling(r);
        bool agrees = ContainsInOrder(userTcp, "CLOSING", "TIME-WAIT") && ContainsInOrder(kernel, "CLOSING", "TIME-WAIT");
        string why = agrees
            ? "As the seed says: CLOSING appears when the FINs cross, on both sides, and each goes on to TIME-WAIT once its FIN is acknowledged."
            : "The run did not show CLOSING on both sides.";
        return v.Build(this, r, observed, agrees ? SeedAgreement.Agrees : SeedAgreement.Disagrees, why, Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    internal static bool ContainsInOrder(IReadOnlyList<StateSpan> spans, params string[] states)
    {
        int next = 0;
        foreach (StateSpan span in spans)
        {
            if (next < states.Length && span.State == states[next]) next++;
        }
        return next == states.Length;
    }

    private static string Show(TimeSpan? t) => t is TimeSpan time ? LabRecord.Milliseconds(time) : "no sample";
}
