using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// fast-retransmit: one data segment of a burst is lost. The receiver acknowledges every later segment with the same ACK
/// (duplicate ACKs, with SACK blocks when both sides agreed to SACK); the sender retransmits the hole on those, long
/// before its retransmission timer would. Role active: UserTcp sends 40 kB; passive: the kernel sends 64 kB.
/// </summary>
public sealed class FastRetransmit : LabScenario
{
    private const ushort Port = 5018;

    public override string Name => "fast-retransmit";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "One data segment in the middle of a burst is lost. Is it recovered by duplicate ACKs (or SACK) without waiting for a timeout?";

    public override IReadOnlyList<string> Faults(LabRole role) => [$"drop {(role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel")} data nth=3"];

    // Both sides' minimum RTO is raised to 1 s, so a pause of the userspace side on a busy machine (which delays the
    // duplicate ACKs, or their processing) cannot pass for the timeout this scenario shows is not needed.
    private static readonly TimeSpan MinRto = TimeSpan.FromSeconds(1);

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with { MinRto = MinRto };

    public override async Task RunAsync(LabSession s)
    {
        SetKernelRtoMin(s, MinRto);
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        int size = s.Role == LabRole.UserTcpActive ? 40_000 : 64_000;
        await SendThenCloseAsync(s, c, size).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, _, _) = TransferSides(userTcpSends);
        Transmissions? lost = FirstOf(r.Sent(c, sender).Where(t => t.Dropped.Count > 0 && t.Dropped[0]).ToList());
        TimeSpan firstSent = lost?.Times[0] ?? TimeSpan.Zero;
        TimeSpan resent = lost is { Times.Count: > 1 } ? lost.Times[1] : TimeSpan.Zero;
        SeqNumbering numbering = r.Numbering(c);
        uint hole = lost?.RelativeSeq ?? 0;
        bool AcksHole(WirePacket p) => p.Segment.PayloadLength == 0 && numbering.IsnOf(sender) is not null && numbering.Ack(p) == hole;
        // The receiver's first ACK up to the hole acknowledges the segments before it, often after the lost one was sent: not a duplicate.
        WirePacket? holeAcked = FirstOf(r.From(c, receiver, AcksHole));
        IReadOnlyList<WirePacket> dupAcks = r.From(c, receiver, p => p != holeAcked && p.At > firstSent && p.ArrivedAt <= resent && AcksHole(p));
        int withSack = dupAcks.Count(p => p.Sack.Count > 0);
        v.Expect("one segment is lost and sent again", lost is not null && lost.Times.Count >= 2,
            lost is null ? "nothing lost" : lost.Times.Count == 2 ? lost.Describe() : $"{lost.Describe()} — sent {lost.Times.Count - 1} times, more than needed");
        // Three duplicates, as RFC 5681 counts them, or fewer that carry SACK blocks: Linux's RACK (RFC 8985) resends the hole on one.
        v.Expect("the receiver sends duplicate ACKs for the hole before the retransmission (three, or fewer with SACK blocks)", dupAcks.Count >= 3 || withSack > 0,
            $"{DuplicateAcks(dupAcks.Count)}{(withSack > 0 ? $", {withSack} with SACK blocks" : "")}");
        // Prompted by the duplicate ACKs (or SACK), not by a timer: it follows the third of them at once. (The time from
        // the loss includes how long the receiver took to answer, which on a busy machine can pass the minimum RTO.)
        WirePacket? third = dupAcks.Count >= 3 ? dupAcks[2] : dupAcks.FirstOrDefault(p => p.Sack.Count > 0);
        // Both minimum RTOs are 1 s here, so 100 ms tells recovery on the ACKs from a timeout with room for a busy machine.
        TimeSpan promptly = TimeSpan.FromMilliseconds(100);
        v.Expect($"the hole goes again right after the duplicate ACKs (within {LabRecord.Milliseconds(promptly)}), not after an RTO",
            lost is { Times.Count: >= 2 } && third is not null && resent >= third.ArrivedAt && resent - third.ArrivedAt < promptly,
            lost is { Times.Count: >= 2 } && third is not null
                ? $"{LabRecord.Milliseconds(resent - third.ArrivedAt)} after the {(dupAcks.Count >= 3 ? "third duplicate ACK" : "first SACK")}, {LabRecord.Milliseconds(resent - firstSent)} after the loss"
                : "-");
        if (userTcpSends)
        {
            TcpEvent? retransmission = r.UserTcpRetransmissions(c).Cast<TcpEvent?>().FirstOrDefault();
            v.Expect("UserTcp's engine names the cause: not a timeout", retransmission is { } e && e.Cause != TcpCause.RetransmissionTimeout,
                retransmission is { } x ? x.Cause.Describe() : "no retransmission event");
        }
        v.Expect("all the data arrives", r.Marks.Any(m => m.Side == receiver && m.What.StartsWith(userTcpSends ? "read 40000" : "read 64000", StringComparison.Ordinal)),
            string.Join("; ", r.Marks.Where(m => m.Side == receiver).Select(m => m.What)));
        (_, _, string senderName, string receiverName) = TransferSides(userTcpSends);
        string observed = $"The link lost {senderName}'s third data segment (seq {hole}). {receiverName} acknowledged every segment after the hole "
            + $"with the same ACK — {DuplicateAcks(dupAcks.Count)}{(withSack > 0 ? $", {withSack} carrying SACK blocks for what had arrived beyond it" : "")} — "
            + $"and {senderName} retransmitted the hole {(lost is { Times.Count: >= 2 } ? LabRecord.Milliseconds(resent - firstSent) : "?")} after sending it first, "
            + "prompted by those ACKs (at once, or by the reorder timer they started, RFC 8985 §6.3), not by its retransmission timer: recovery without a timeout"
            + (lost is { Times.Count: > 2 } ? $" (it sent the hole {lost.Times.Count - 1} times; one would have done)" : "") + ". " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    private static string DuplicateAcks(int count) => Count(count, "duplicate ACK");
}
