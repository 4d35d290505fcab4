using System.Globalization;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// reordering: nothing is lost, but the link holds one data segment of a burst back long enough for the rest of the
/// burst to overtake it. The receiver acknowledges each segment that overtook it with a duplicate ACK carrying SACK
/// blocks; the sender takes the hole for a loss and resends it. The late original then arrives as a duplicate, the
/// receiver reports it with a D-SACK (RFC 2883), and the sender, seeing its retransmission was needless, undoes the cut
/// of cwnd and ssthresh (RFC 3708; Linux's tcp_try_undo_dsack). A second burst, with a segment held the same way, shows
/// what the sender learned from the first. Role active: UserTcp sends; passive: the kernel does.
/// </summary>
public sealed class Reordering : LabScenario
{
    private const ushort Port = 5024;
    private const int Bursts = 2;
    private const int Size = 60_000;
    /// <summary>The MSS both ends use: the 1460 they announce at the link's MTU of 1500, less 12 bytes of timestamps.</summary>
    private const int Mss = 1448;
    /// <summary>Which data segment of each burst the link holds back (counting from 1).</summary>
    private const int HeldNth = 5;
    /// <summary>
    /// How long the link holds it: far more than the time the burst behind it takes to overtake it and the sender to
    /// resend it (about a millisecond on this link, but a busy machine has paused UserTcp's sending and reading for
    /// 250 ms and more), less than either side's minimum RTO (1 s here).
    /// </summary>
    private static readonly TimeSpan Hold = TimeSpan.FromMilliseconds(400);
    /// <summary>Between bursts and before the close: the late original and its D-SACK come while the connection is open and idle.</summary>
    private static readonly TimeSpan Pause = Hold + TimeSpan.FromMilliseconds(300);
    // A timeout would need 1 s without progress: a busy machine's pause cannot pass for one, nor make one.
    private static readonly TimeSpan MinRto = TimeSpan.FromSeconds(1);

    public override string Name => "reordering";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "Three duplicate ACKs mean a segment was lost — or only late? When the network merely reorders, does the sender resend, and if it does, does it take its window cut back?";

    // The rules count the sender's data segments, its retransmissions included: each burst is its segments and the one resend.
    public override IReadOnlyList<string> Faults(LabRole role) =>
        [.. Enumerable.Range(0, Bursts).Select(burst => string.Create(CultureInfo.InvariantCulture,
            $"delay={Hold.TotalMilliseconds:0}ms {(role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel")} data nth={burst * ((Size + Mss - 1) / Mss + 1) + HeldNth}"))];

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with { MinRto = MinRto };

    public override async Task RunAsync(LabSession s)
    {
        SetKernelRtoMin(s, MinRto);
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        LabConnection c = await s.OpenAsync(Port, kernelConnects: !userTcpSends).ConfigureAwait(false);
        if (userTcpSends)
        {
            PeerThread<StreamEnd> peer = await KernelReadsToEndThenClosesAsync(s, c.Kernel).ConfigureAwait(false);
            for (int burst = 0; burst < Bursts; burst++)
            {
                s.Mark(LabSide.UserTcp, $"write {Size} bytes", c.Id);
                await c.UserTcp.WriteAsync(new byte[Size], s.Token).ConfigureAwait(false);
                await s.Delay(Pause).ConfigureAwait(false);
            }
            s.Mark(LabSide.UserTcp, "close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            StreamEnd end = await peer.Completion.ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read {end.Bytes} bytes{(end.Ended ? " and the FIN" : "")}, close()", c.Id, end.ClosedAt ?? s.Now);
        }
        else
        {
            // UserTcp's application reads as the data comes, so its window stays open while the kernel sends.
            Task<long> reading = UserTcpReadsToEndAsync(s, c.UserTcp);
            for (int burst = 0; burst < Bursts; burst++)
            {
                s.Mark(LabSide.Kernel, $"send {Size} bytes", c.Id);
                c.Kernel.Send(new byte[Size]);
                await s.Delay(Pause).ConfigureAwait(false);
            }
            s.Mark(LabSide.Kernel, "close()", c.Id);
            c.Kernel.Close();
            long total = await reading.ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"read {total} bytes and the FIN, close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        }
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    /// <summary>
    /// One segment the link held back, and what each side did about it (DupAcksBeforeResend: the duplicate ACKs that had
    /// reached the sender when its resend was on the wire; EngineDupAcks: those UserTcp's engine had taken when it decided
    /// to resend, null for the kernel or without segment events).
    /// </summary>
    private sealed record Held(uint Seq, TimeSpan Sent, TimeSpan Arrived, TimeSpan Covered, IReadOnlyList<WirePacket> Resent, int Overtook, int DupAcks, int DupAcksBeforeResend, int Dsacks)
    {
        public int? EngineDupAcks { get; init; }

        /// <summary>The duplicate ACKs the sender's decision to resend rested on: its engine's count for UserTcp, else the wire's.</summary>
        public int DupAcksDecided => EngineDupAcks ?? DupAcksBeforeResend;
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        IReadOnlyList<Held> held = HeldSegments(r, c, sender, receiver);
        HashSet<uint> heldSeqs = [.. held.Select(h => h.Seq)];
        // Data only: a FIN resent at the close (a loss probe when a busy machine read the peer's ACK late) is not the question's.
        IReadOnlyList<Transmissions> others = [.. r.Sent(c, sender).Where(t => !heldSeqs.Contains(t.RelativeSeq) && t.Retransmissions > 0 && !IsBareFin(r, c, sender, t))];
        IReadOnlyList<TcpEvent> undos = userTcpSends ? [.. r.Events.Where(e => e.Kind == TcpEventKind.CongestionUndo && e.Connection == c)] : [];
        IReadOnlyList<TcpEvent> retransmissions = userTcpSends ? [.. r.UserTcpRetransmissions(c).Where(e => e.Segment.PayloadLength > 0)] : [];
        long kernelUndos = r.KernelCounter("TcpExtTCPDSACKUndo") + r.KernelCounter("TcpExtTCPFullUndo") + r.KernelCounter("TcpExtTCPPartialUndo");
        bool arrived = r.Marks.Any(m => m.Side == receiver && m.What.StartsWith(
            string.Create(CultureInfo.InvariantCulture, $"read {Bursts * Size}"), StringComparison.Ordinal));
        string EachHeld(Func<Held, string> what) => held.Count == 0 ? "nothing held" : string.Join("; ", held.Select(h => $"seq {h.Seq}: {what(h)}"));

        v.Expect("the link loses nothing", r.PacketsOf(c).All(p => !p.Dropped), $"{r.PacketsOf(c).Count(p => p.Dropped)} dropped");
        v.Expect($"the link holds one data segment of each of the {Bursts} bursts back ({LabRecord.Milliseconds(Hold)}), and at least three later ones overtake each",
            held.Count == Bursts && held.All(h => h.Overtook >= 3), EachHeld(h => $"{h.Overtook} later segment(s) reached {receiverName} first"));
        v.Expect("the receiver answers what overtook each with duplicate ACKs carrying SACK blocks (at least three)", held.Count > 0 && held.All(h => h.DupAcks >= 3),
            EachHeld(h => $"{h.DupAcks} duplicate ACK(s) with SACK blocks"));
        // Before the receiver's ACK of the original could tell the sender it had arrived (a busy machine may delay the resend past the arrival itself).
        v.Expect("the sender resends each held segment exactly once, before an ACK tells it the original arrived",
            held.Count > 0 && held.All(h => h.Resent.Count == 1 && h.Resent[0].SentAt < h.Covered),
            EachHeld(h => h.Resent.Count == 0 ? "not resent"
                : $"resent {Times(h.Resent.Count)}, {LabRecord.Milliseconds(h.Resent[0].SentAt - h.Sent)} after the original"
                    + (h.Resent[0].SentAt >= h.Covered ? ", after an ACK covered it" : h.Resent[0].SentAt >= h.Arrived ? " (after the original arrived, before the sender could know)" : "")));
        v.Expect("it resends no other data", others.Count == 0,
            others.Count == 0 ? "no other data resent" : string.Join("; ", others.Take(5).Select(t => $"seq {t.RelativeSeq} [{t.Flags}] {t.Describe()}")));
        if (userTcpSends)
        {
            v.Expect("UserTcp's engine names the cause of each data resend: the duplicate ACKs (fast retransmit, SACK or RACK), not a timer",
                retransmissions.Count > 0 && retransmissions.All(e => e.Cause is TcpCause.FastRetransmit or TcpCause.SackRecovery or TcpCause.RackLoss),
                retransmissions.Count == 0 ? "no retransmission event" : string.Join(", ", retransmissions.Select(e => e.Cause.Describe())));
        }
        else
        {
            // TCPFastRetrans counts what the kernel resends outside a timeout's Loss phase (a tail-loss probe's new data is not counted).
            v.Expect("the kernel's counters name the cause of each resend: a fast retransmit, no timeout (TcpExtTCPFastRetrans, TcpExtTCPTimeouts)",
                r.KernelCounter("TcpExtTCPFastRetrans") == Bursts && r.KernelCounter("TcpExtTCPTimeouts") == 0,
                $"TCPFastRetrans {r.KernelCounter("TcpExtTCPFastRetrans")}, RetransSegs {r.KernelCounter("TcpRetransSegs")}, TCPTimeouts {r.KernelCounter("TcpExtTCPTimeouts")}");
        }
        v.Expect("the receiver reports each late original as a duplicate (D-SACK, RFC 2883)", held.Count > 0 && held.All(h => h.Dsacks > 0),
            EachHeld(h => $"{h.Dsacks} ACK(s) with a D-SACK block for it"));
        if (userTcpSends)
        {
            v.Expect("UserTcp's engine undoes each cut of cwnd and ssthresh: each fast retransmit was spurious",
                undos.Count == Bursts && undos.All(e => e.Cause is TcpCause.SpuriousFastRetransmitDsack or TcpCause.SpuriousFastRetransmitTimestamps),
                undos.Count == 0 ? "no undo event" : string.Join("; ", undos.Select(e => e.Cause.Describe())));
        }
        else
        {
            v.Expect("the kernel undoes each cut of cwnd and ssthresh (TcpExtTCPDSACKUndo + TCPFullUndo + TCPPartialUndo)", kernelUndos == Bursts, Counters(r));
        }
        v.Expect("all the data arrives", arrived, string.Join("; ", r.Marks.Where(m => m.Side == receiver).Select(m => m.What)));

        string control = r.KernelCongestionControl.LinuxName();
        string observed = $"Nothing was lost. {Capitalized(senderName)} sent {Bursts} bursts of {Size} bytes; the link held one data segment of each back {LabRecord.Milliseconds(Hold)}. "
            + string.Concat(held.Select((h, i) => Episode(h, i, senderName, receiverName)))
            + (userTcpSends
                ? $"UserTcp's engine logged {undos.Count} undo(s): {string.Join("; ", undos.Select(e => e.Cause.Describe()).Distinct())}. "
                    + "(The ladder shows each held segment where the link handed it to the kernel, after its retransmission.) "
                : $"The kernel ({control}) counted: {Counters(r)}. ")
            + (held.Count >= 2 && held[1].Resent.Count > 0
                ? $"What the first episode taught {senderName} did not spare the second segment: it was resent once {held[1].DupAcksDecided} duplicate ACKs had come, "
                    + $"as the first was after {held[0].DupAcksDecided}"
                    + (userTcpSends ? "" : r.KernelCounter("TcpExtTCPSACKReorder") == 0
                        ? ", and the kernel saw no reordering it could measure (TCPSACKReorder 0: a D-SACKed retransmission does not count)"
                        : $", although the kernel counted reordering (TCPSACKReorder {r.KernelCounter("TcpExtTCPSACKReorder")})")
                    + $": the reordering window RACK widens after a D-SACK (RFC 8985 §6.2) is bounded by the smoothed RTT, a few milliseconds at most on this link, far below the {LabRecord.Milliseconds(Hold)} hold. "
                : "")
            + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    // "The first held segment (seq 5793) was overtaken by 37 later ones; ..."
    private static string Episode(Held h, int index, string senderName, string receiverName) =>
        $"The {Ordinal(index + 1)} (seq {h.Seq}) was overtaken by {h.Overtook} later segment(s), which {receiverName} answered with "
        + $"{h.DupAcks} duplicate ACK(s) carrying SACK blocks; "
        + (h.Resent.Count == 0
            ? $"{senderName} did not resend it"
            : $"{senderName} took it for lost and resent it {Times(h.Resent.Count)}, {LabRecord.Milliseconds(h.Resent[0].SentAt - h.Sent)} after the original, "
                + (h.EngineDupAcks is int taken
                    // The device's reader drains the TUN queue ahead of the engine, which takes the ACKs one pass at a time.
                    ? (taken == 0 ? "before its engine took any of those ACKs" : $"on the {Ordinal(taken)} of those ACKs its engine took")
                        + $" ({h.DupAcksBeforeResend} had been read from the TUN device by the time the resend was written)"
                    : $"once {h.DupAcksBeforeResend} of those ACKs had reached it"))
        + $"; the original arrived {LabRecord.Milliseconds(h.Arrived - h.Sent)} after it was sent, "
        + (h.Dsacks > 0 ? $"and {receiverName} reported it as a duplicate with a D-SACK. " : "and no D-SACK reported it. ");

    /// <summary>Each data segment the link delayed (its first transmission), with its retransmissions and the receiver's answers.</summary>
    private static List<Held> HeldSegments(LabRecord r, FourTuple c, LabSide sender, LabSide receiver)
    {
        SeqNumbering numbering = r.Numbering(c);
        uint Relative(SeqNumber seq) => numbering.Of(sender, seq);
        IReadOnlyList<WirePacket> data = r.From(c, sender, p => p.Segment.PayloadLength > 0);
        IReadOnlyList<WirePacket> acks = r.From(c, receiver, p => p.Segment.PayloadLength == 0 && p.Segment.Has(TcpFlags.Ack));
        var held = new List<Held>();
        foreach (WirePacket original in data.Where(p => p.Fault?.Action == FaultAction.Delayed).OrderBy(p => p.SentAt))
        {
            uint seq = Relative(original.Segment.SequenceNumber);
            // UserTcp's original is recorded where the link handed it on (the delay line may hand it on late): it left when the
            // link took it, as the link's note says, on the clock the resend's instant is on; else when its engine sent it, whose
            // event bears its pass's stamp (a run read "5.1 ms after the original" where the capture shows 3.3).
            TimeSpan sent = original.LinkTookAt ?? r.Events.Where(e => e.Kind == TcpEventKind.SegmentOut && e.Connection == c && e.Segment.PayloadLength > 0
                && e.Segment.Seq == original.Segment.SequenceNumber).Select(e => e.Time).DefaultIfEmpty(original.SentAt).Min();
            TimeSpan arrived = ReachedReceiver(original);
            IReadOnlyList<WirePacket> resent = [.. data.Where(p => p != original && Relative(p.Segment.SequenceNumber) == seq).OrderBy(p => p.SentAt)];
            // Segments sent after it that reached the receiver before it: they overtook it.
            int overtook = data.Count(p => p != original && Relative(p.Segment.SequenceNumber) > seq && p.SentAt >= sent && ReachedReceiver(p) < arrived);
            // The receiver's duplicate ACKs: ACKs of the hole, with SACK blocks, sent after the held segment was.
            IReadOnlyList<WirePacket> dupAcks = [.. acks.Where(p => p.Sack.Count > 0 && p.At >= sent && Relative(p.Segment.AcknowledgmentNumber) == seq)];
            int beforeResend = resent.Count == 0 ? 0 : dupAcks.Count(p => ReachedSender(p) <= resent[0].SentAt);
            // A D-SACK: its first block lies at or below the cumulative ACK (RFC 2883 §4) and starts at the held segment.
            int dsacks = acks.Count(p => p.Sack.Count > 0 && p.Sack[0].Left < p.Segment.AcknowledgmentNumber && p.Sack[0].Left == original.Segment.SequenceNumber);
            // When the first ACK beyond the held segment reached the sender: from then on it knew the segment had arrived.
            TimeSpan covered = acks.Where(p => Relative(p.Segment.AcknowledgmentNumber) > seq).Select(ReachedSender).DefaultIfEmpty(TimeSpan.MaxValue).Min();
            int? engineDupAcks = sender == LabSide.UserTcp && resent.Count > 0 ? EngineDupAcksBeforeResend(r, c, original.Segment.SequenceNumber) : null;
            held.Add(new Held(seq, sent, arrived, covered, resent, overtook, dupAcks.Count, beforeResend, dsacks) { EngineDupAcks = engineDupAcks });
        }
        return held;
    }

    /// <summary>
    /// The duplicate ACKs of <paramref name="seq"/> UserTcp's engine had taken when it first resent it: its ACKs of that
    /// sequence number taken before the retransmission event, less the first (the cumulative ACK that reached it). Null
    /// when the record has no segment events (a recorder without them) or no such retransmission.
    /// </summary>
    private static int? EngineDupAcksBeforeResend(LabRecord r, FourTuple c, SeqNumber seq)
    {
        int acks = 0;
        bool segments = false;
        foreach (TcpEvent e in r.Events)
        {
            if (e.Connection != c) continue;
            if (e.Kind == TcpEventKind.SegmentIn)
            {
                segments = true;
                if (e.Segment.Ack == seq && e.Segment.PayloadLength == 0 && (e.Segment.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0) acks++;
            }
            else if (e.Kind == TcpEventKind.Retransmission && e.Segment.Seq == seq)
            {
                return segments ? Math.Max(0, acks - 1) : null;
            }
        }
        return null;
    }

    private static readonly string[] CounterNames =
    [
        "TcpExtTCPSACKReorder", "TcpExtTCPFastRetrans", "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKUndo", "TcpExtTCPFullUndo", "TcpExtTCPPartialUndo",
        "TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpRetransSegs",
    ];

    private static string Counters(LabRecord r) =>
        string.Join(", ", CounterNames.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n.Replace("TcpExt", "", StringComparison.Ordinal)} {r.KernelCounter(n)}")));

    // A segment that carries only the FIN (no data): its transmissions' packets are all empty.
    private static bool IsBareFin(LabRecord r, FourTuple c, LabSide sender, Transmissions t) =>
        t.Flags.Contains('F', StringComparison.Ordinal) && r.From(c, sender, p => p.Segment.Has(TcpFlags.Fin)).All(p => p.Segment.PayloadLength == 0);

    // When an ACK reached the sender: the kernel's when UserTcp read it; UserTcp's when it wrote it (none is delayed here).
    private static TimeSpan ReachedSender(WirePacket ack) => ack.ArrivedAt;

    // When the receiver had it: one of the kernel's that the link delayed is recorded as the kernel sent it.
    private static TimeSpan ReachedReceiver(WirePacket p) => p.ArrivedAt + (!p.ToKernel && p.Fault?.Action == FaultAction.Delayed ? Hold : TimeSpan.Zero);
}
