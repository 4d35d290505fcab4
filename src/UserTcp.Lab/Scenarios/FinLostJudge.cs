using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>fin-lost's two parts, judged: the FIN lost, then the ACK of the FIN.</summary>
internal static class FinLostJudge
{
    /// <summary>
    /// The bounds of a resend on a timer with one segment out: no sooner than a delayed ACK could have come (the 200 ms
    /// minimum RTO, RFC 8985 §7.2's WCDelAckT; 5 ms for the stamps), and within the first timeout on this
    /// sub-millisecond link (about 200 ms; a second, backed-off one would be later) with room for a loaded machine.
    /// </summary>
    internal static readonly TimeSpan LeastWait = TimeSpan.FromMilliseconds(195), MostWait = TimeSpan.FromSeconds(1);
    /// <summary>How soon an answer to the copy must leave: a duplicate is acknowledged at once (RFC 9293 §3.10.7.4).</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromMilliseconds(100);

    /// <summary>The sides of a run: the closer (UserTcp in the active role) and the other side, with their states.</summary>
    private sealed record Sides(LabSide Closer, LabSide Other, string CloserName, string OtherName, IReadOnlyList<StateSpan> CloserStates, IReadOnlyList<StateSpan> OtherStates)
    {
        public static Sides Of(LabRecord r, FourTuple c) => r.Role == LabRole.UserTcpActive
            ? new(LabSide.UserTcp, LabSide.Kernel, "UserTcp", "the kernel", r.UserTcpStates(c), r.KernelStates(c))
            : new(LabSide.Kernel, LabSide.UserTcp, "the kernel", "UserTcp", r.KernelStates(c), r.UserTcpStates(c));
    }

    /// <summary>The first part: the closer's FIN lost once.</summary>
    public static string FinPart(LabRecord r, FourTuple c, VerdictBuilder v)
    {
        const string label = "FIN lost: ";
        if (c == default)
        {
            v.Expect(label + "the connection opens", false, $"no connection on port {FinLost.FinPort}");
            return "Part \"FIN lost\": no connection.";
        }
        Sides s = Sides.Of(r, c);
        Transmissions? fin = r.SentWith(c, s.Closer, TcpFlags.Fin);
        int drops = r.PacketsOf(c).Count(p => p.Dropped);
        v.Expect(label + $"the link drops {s.CloserName}'s first FIN, and nothing else", fin is { Dropped: [true, ..] } && drops == 1,
            $"{(fin is null ? "no FIN" : fin.Describe())}; {drops} packet(s) dropped");
        TimeSpan? resent = Resend(v, label, s, fin);

        // Told nothing, the other side has nothing to answer: no segment from it between the lost FIN and its copy.
        int said = fin is null ? 0 : r.From(c, s.Other, p => p.At > fin.Times[0] && p.At < (resent ?? r.End)).Count;
        string? otherThen = resent is TimeSpan at ? StateAt(s.OtherStates, at) : null;
        v.Expect(label + $"meanwhile {s.OtherName}, told nothing, stays ESTABLISHED and sends nothing", said == 0 && otherThen == "ESTABLISHED",
            $"{said} segment(s) from {s.OtherName} before the copy; its state then: {otherThen ?? "-"}");
        string? closerThen = resent is TimeSpan at2 ? StateAt(s.CloserStates, at2) : null;
        v.Expect(label + $"{s.CloserName} waits in FIN-WAIT-1 until the copy is acknowledged", closerThen == "FIN-WAIT-1", $"its state at the copy: {closerThen ?? "-"}");
        // Read off the wire: a kernel that reads the end and closes at once may pass through CLOSE-WAIT and LAST-ACK
        // between two samples of its socket table (ESTABLISHED → gone), so its states say only where it ended.
        Transmissions? otherFin = r.SentWith(c, s.Other, TcpFlags.Fin);
        v.Expect(label + "then the close goes on as usual: the other side, told at last, sends its own FIN and ends closed; the closer reaches TIME-WAIT",
            otherFin is not null && resent is TimeSpan at3 && otherFin.Times[0] > at3 && s.OtherStates is [.., { State: "CLOSED" or "(gone)" }]
                && LabRecord.WasIn(s.CloserStates, "TIME-WAIT"),
            $"{s.OtherName}'s FIN {(otherFin is null ? "never sent" : $"sent at {LabRecord.Seconds(otherFin.Times[0])}")}; {s.CloserName}: {LabRecord.Path(s.CloserStates)}; {s.OtherName}: {LabRecord.Path(s.OtherStates)}");

        return $"Part \"FIN lost\" (port {FinLost.FinPort}): {s.CloserName} closed and its FIN was lost; it sat in FIN-WAIT-1 and sent the FIN again "
            + (resent is TimeSpan r1 && fin is not null ? $"{LabRecord.Milliseconds(r1 - fin.Times[0])} later, on its timer" : "never")
            + $", while {s.OtherName}, told nothing, stayed ESTABLISHED and sent nothing ({said} segments). The copy got through and the close went on: "
            + $"{s.CloserName} {LabRecord.Path(s.CloserStates)}; {s.OtherName} {LabRecord.Path(s.OtherStates)}.";
    }

    /// <summary>The second part: the other side's ACK of the FIN lost once, its application closing later.</summary>
    public static string AckPart(LabRecord r, FourTuple c, VerdictBuilder v)
    {
        const string label = "ACK of the FIN lost: ";
        if (c == default)
        {
            v.Expect(label + "the connection opens", false, $"no connection on port {FinLost.AckPort}");
            return "Part \"ACK of the FIN lost\": no connection.";
        }
        Sides s = Sides.Of(r, c);
        SeqNumbering numbering = r.Numbering(c);
        Transmissions? fin = r.SentWith(c, s.Closer, TcpFlags.Fin);
        uint finAck = (fin?.RelativeSeq ?? 0) + 1;
        IReadOnlyList<WirePacket> acks = r.From(c, s.Other, IsPureAck);
        int drops = r.PacketsOf(c).Count(p => p.Dropped);
        v.Expect(label + $"the link drops {s.OtherName}'s ACK of the FIN, and nothing else",
            acks.Count > 0 && acks[0].Dropped && numbering.Ack(acks[0]) == finAck && drops == 1,
            acks.Count == 0 ? "no ACK" : string.Create(CultureInfo.InvariantCulture, $"its first ACK: ack {numbering.Ack(acks[0])}, {(acks[0].Dropped ? "dropped" : "not dropped")}; {drops} packet(s) dropped"));
        TimeSpan? resent = Resend(v, label, s, fin);

        // The answer to the copy: an ACK of the FIN from a side already in CLOSE-WAIT.
        WirePacket? answer = resent is TimeSpan at ? FirstOf(r.From(c, s.Other, p => IsPureAck(p) && !p.Dropped && p.At >= at && numbering.Ack(p) == finAck)) : null;
        string? otherThen = resent is TimeSpan at1 ? StateAt(s.OtherStates, at1) : null;
        v.Expect(label + $"{s.OtherName}, in CLOSE-WAIT, answers the copy at once (within {LabRecord.Milliseconds(Promptly)}) with an ACK of the FIN",
            answer is not null && answer.At - resent!.Value < Promptly && otherThen == "CLOSE-WAIT",
            (answer is null ? "no ACK after the copy" : $"ACK {LabRecord.Milliseconds(answer.At - resent!.Value)} after the copy") + $"; its state then: {otherThen ?? "-"}");

        // On that ACK FIN-WAIT-2; TIME-WAIT only once the other application closes, Hold after reading the end.
        Transmissions? otherFin = r.SentWith(c, s.Other, TcpFlags.Fin);
        string? closerAfter = answer is not null && otherFin is not null ? StateAt(s.CloserStates, answer.At + (otherFin.Times[0] - answer.At) / 2) : null;
        v.Expect(label + $"{s.CloserName} moves to FIN-WAIT-2 on that ACK, and to TIME-WAIT on {s.OtherName}'s FIN, sent when its application closes",
            closerAfter == "FIN-WAIT-2" && LabRecord.WasIn(s.CloserStates, "TIME-WAIT") && otherFin is not null && (answer is null || otherFin.Times[0] > answer.At),
            $"{s.CloserName}: {LabRecord.Path(s.CloserStates)}; between the ACK and {s.OtherName}'s FIN: {closerAfter ?? "-"}");

        return $"Part \"ACK of the FIN lost\" (port {FinLost.AckPort}): {s.CloserName} closed; {s.OtherName} acknowledged the FIN (the ACK was lost) and went "
            + $"to CLOSE-WAIT, its application closing {LabRecord.Seconds(FinLost.Hold)} later. {s.CloserName}, hearing nothing, sent its FIN again "
            + (resent is TimeSpan r1 && fin is not null ? $"{LabRecord.Milliseconds(r1 - fin.Times[0])} after the first" : "never")
            + (answer is not null ? $"; {s.OtherName} answered the copy with an ACK {LabRecord.Milliseconds(answer.At - resent!.Value)} later" : "")
            + $", and {s.CloserName} went on: {LabRecord.Path(s.CloserStates)}; {s.OtherName}: {LabRecord.Path(s.OtherStates)}.";
    }

    /// <summary>The closer's FIN went again exactly once, on a timer within the bounds: the instant of the copy, or null.</summary>
    private static TimeSpan? Resend(VerdictBuilder v, string label, Sides s, Transmissions? fin)
    {
        TimeSpan? resent = fin is { Times.Count: > 1 } ? fin.Times[1] : null;
        TimeSpan? gap = resent - fin?.Times[0];
        v.Expect(label + $"{s.CloserName}, hearing nothing, sends its FIN again exactly once, on a timer ({LabRecord.Milliseconds(LeastWait)} to {LabRecord.Seconds(MostWait)} after the first)",
            fin is { Retransmissions: 1 } && gap is TimeSpan g && g >= LeastWait && g <= MostWait,
            fin is null ? "no FIN" : $"sent {Times(fin.Times.Count)}" + (gap is TimeSpan g1 ? $", the copy {LabRecord.Milliseconds(g1)} after the first" : ""));
        return resent;
    }
}
