using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// tail-loss: the last data segment of a short write is lost, so no later segment draws the duplicate ACKs fast
/// retransmit needs. Does the sender wait out its retransmission timeout? Linux sends a tail loss probe (RFC 8985 §7,
/// tcp_schedule_loss_probe): after a probe timeout of 2·SRTT — plus a delayed-ACK allowance when one segment is out,
/// and never later than the RTO — it resends the last segment, and the ACK of the probe (with SACK) starts recovery for
/// anything else lost. Two parts, each on a connection of its own: the write's last segment lost, then its last two
/// (the probe's SACK then shows one more hole, which RACK resends on it; the link holds that probe 5 ms, see
/// <see cref="ProbeDelay"/>). Role active: UserTcp sends; passive: the kernel does.
/// </summary>
public sealed class TailLoss : LabScenario
{
    private const int Segments = 4;
    /// <summary>The MSS both ends use: the 1460 they announce at the link's MTU of 1500, less 12 bytes of timestamps.</summary>
    private const int Mss = 1448;
    private const int Size = Segments * Mss;
    /// <summary>
    /// How late past the instant the RTO would have fired a resend may come and still be the probe that stood in for it:
    /// the engine takes the ACK that re-arms its timers after the device read it, Linux's timers tick in jiffies, and a
    /// loaded machine (load 11) made UserTcp's 200 ms probe up to 14 ms late. A timer that waited longer — a backed-off
    /// RTO, a second probe — would come a whole RTO later still.
    /// </summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(50);
    /// <summary>How soon after the ACK that reports the hole it must go again, for "on that ACK, not on a timer".</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromMilliseconds(100);

    /// <summary>One part of the run: its connection's port and how many segments at the write's tail the link drops.</summary>
    private sealed record Part(ushort Port, int Lost)
    {
        public string Label => Lost == 1 ? "last segment lost" : "last two lost";
        public string Segments => Lost == 1 ? "its last data segment" : $"its last {Lost} data segments";
    }

    private static readonly Part[] Parts = [new(5030, 1), new(5031, 2)];

    public override string Name => "tail-loss";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "The last data segment of a write is lost: no later segment arrives to draw duplicate ACKs, so fast retransmit cannot trigger. Does the sender wait a full RTO (≥ 200 ms) before resending?";

    /// <summary>
    /// How long the link holds the probe of the part with two lost. RACK takes a resend's SACK as the resend's own only
    /// once it came at least min RTT after the resend left (RFC 8985 §6.2 step 2, Linux's tcp_rack_advance): on this
    /// link of some 0.1–1 ms, with each side's stamps a pass or a syscall apart, an undelayed probe's SACK may come sooner
    /// than the connection's fastest sample, and then neither sender may deem the hole lost on it, by the rule.
    /// </summary>
    internal static readonly TimeSpan ProbeDelay = TimeSpan.FromMilliseconds(5);

    // On each part's connection, the first sending of the write's last segment (or last two): the rule counts that
    // connection's data segments from the sender, retransmissions included, so the probe (the next one) gets through;
    // with two lost, the probe (the fifth) is held ProbeDelay on the link.
    public override IReadOnlyList<string> Faults(LabRole role)
    {
        string toReceiver = role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel";
        return [.. Parts.SelectMany(p => p.Lost == 1
            ? [string.Create(CultureInfo.InvariantCulture, $"drop {toReceiver} data port={p.Port} nth={Segments}")]
            : new[]
            {
                string.Create(CultureInfo.InvariantCulture, $"drop {toReceiver} data port={p.Port} nth={Segments - p.Lost + 1}..{Segments}"),
                string.Create(CultureInfo.InvariantCulture, $"delay={ProbeDelay.TotalMilliseconds}ms {toReceiver} data port={p.Port} nth={Segments + 1}"),
            })];
    }

    public override async Task RunAsync(LabSession s)
    {
        for (int i = 0; i < Parts.Length; i++) await RunPartAsync(s, Parts[i], last: i == Parts.Length - 1).ConfigureAwait(false);
    }

    private static async Task RunPartAsync(LabSession s, Part part, bool last)
    {
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        LabConnection c = await s.OpenAsync(part.Port, kernelConnects: !userTcpSends).ConfigureAwait(false);
        byte[] data = Pattern(part.Port);
        // Before the close, so the counters of the part are its data's alone (a FIN's loss probe would add its own).
        await NotingKernelCountersAsync(s, c.Id, () => TransferUntilAcknowledgedAsync(s, c, data)).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        // The active closer's TIME-WAIT need not be waited out before the next part, only after the last.
        await s.UserTcpReachesAsync(c.Id, userTcpSends && !last ? TcpState.TimeWait : TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    // Each part's bytes differ from the other's and from a shifted copy of themselves, so a misplaced byte shows.
    private static byte[] Pattern(int seed) => [.. Enumerable.Range(0, Size).Select(i => (byte)((i * 7 + i / 251 + seed) & 0xFF))];

    /// <summary>"read 5792 bytes, as written", or what differed: the mark the verdict reads for "all the data arrives once, in order".</summary>
    internal static string Received(byte[] got, byte[] sent)
    {
        if (got.AsSpan().SequenceEqual(sent)) return string.Create(CultureInfo.InvariantCulture, $"read {got.Length} bytes, as written");
        int differs = got.AsSpan().CommonPrefixLength(sent);
        return string.Create(CultureInfo.InvariantCulture, $"read {got.Length} of {sent.Length} bytes, not as written from byte {differs}");
    }



    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        string senderName = r.Role == LabRole.UserTcpActive ? "UserTcp" : "the kernel";
        string control = r.KernelCongestionControl.LinuxName();
        var observed = new List<string>
        {
            $"{Capitalized(senderName)} wrote {Size} bytes ({Segments} segments) on each of two connections{(r.Role == LabRole.UserTcpPassive ? $" (congestion control {control})" : $"; the kernel received ({control})")}.",
        };
        IReadOnlyList<FourTuple> connections = [.. Parts.Select(p => r.Connections.FirstOrDefault(c => c.Local.Port == p.Port || c.Remote.Port == p.Port))];
        for (int i = 0; i < Parts.Length; i++) observed.Add(JudgePart(r, Parts[i], connections[i], v));
        observed.Add(Sampling(r));
        IReadOnlyList<string> kernelSchedule = [.. connections.SelectMany(c => Schedule(r, c, LabSide.Kernel))];
        IReadOnlyList<string> userTcpSchedule = [.. connections.SelectMany(c => Schedule(r, c, LabSide.UserTcp))];
        return v.Build(this, r, string.Join(" ", observed), SeedAgreement.NoClaim, "", kernelSchedule, userTcpSchedule);
    }

    /// <summary>One part's expectations, and its paragraph of the observation.</summary>
    private static string JudgePart(LabRecord r, Part part, FourTuple c, VerdictBuilder v)
    {
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        string label = part.Label + ": ";
        if (c == default)
        {
            v.Expect(label + "the connection opens", false, $"no connection on port {part.Port}");
            return $"Part \"{part.Label}\": no connection.";
        }
        SeqNumbering numbering = r.Numbering(c);
        SeqNumber? senderIsn = numbering.IsnOf(sender);
        // The write's data segments, by sequence number (the SYN is at 0, the FIN after the data).
        IReadOnlyList<Transmissions> data = [.. r.Sent(c, sender).Where(t => t.RelativeSeq is >= 1 and < 1 + Size).OrderBy(t => t.RelativeSeq)];
        IReadOnlyList<Transmissions> lost = [.. data.Where(t => t.Dropped.Count > 0 && t.Dropped[0])];
        IReadOnlyList<Transmissions> tail = data.Count >= part.Lost ? [.. data.Skip(data.Count - part.Lost)] : [];
        int otherDrops = r.PacketsOf(c).Count(p => p.Dropped) - lost.Sum(t => t.Dropped.Count(d => d));
        v.Expect(label + $"the link drops the first sending of the write's last {(part.Lost == 1 ? "data segment" : $"{part.Lost} data segments")}, and nothing else",
            data.Count == Segments && lost.Count == part.Lost && lost.SequenceEqual(tail) && lost.All(t => t.Dropped.Count(d => d) == 1) && otherDrops == 0,
            $"{data.Count} data segment(s); first sending dropped: {(lost.Count == 0 ? "none" : string.Join(", ", lost.Select(t => $"seq {t.RelativeSeq}")))}"
                + (otherDrops > 0 ? $"; {otherDrops} other packet(s) dropped" : ""));

        // Every resend of the write's data, in the order they went; the first is the one the question is about.
        var resends = data.SelectMany(t => t.Times.Skip(1).Select(at => (Seq: t.RelativeSeq, At: at))).OrderBy(x => x.At).ToList();
        (uint Seq, TimeSpan At)? probe = resends.Count > 0 ? resends[0] : null;
        Transmissions? lastSegment = data.Count > 0 ? data[^1] : null;
        // The retransmission timer runs from the last ACK that advanced SND.UNA before the resend (RFC 6298 §5.3), or from the write.
        uint Relative(SeqNumber seq) => numbering.Of(sender, seq);
        WirePacket? lastAck = null;
        uint highest = 0;
        foreach (WirePacket p in r.From(c, receiver, p => p.Segment.Has(TcpFlags.Ack) && !p.Segment.Has(TcpFlags.Syn) && !p.Dropped))
        {
            uint ack = Relative(p.Segment.AcknowledgmentNumber);
            if (ack <= highest) continue;
            highest = ack;
            if (probe is { } pr && p.ArrivedAt <= pr.At && ack > 1) lastAck = p;
        }
        TimeSpan writeAt = data.Count > 0 ? data[0].Times[0] : TimeSpan.Zero;
        TimeSpan from = lastAck is { } la && la.ArrivedAt > writeAt ? la.ArrivedAt : writeAt;
        TimeSpan at = probe?.At ?? r.End;
        TimeSpan? srtt = Micro(r.ReadingAt(c, sender, "tcpi_rtt", at));
        TimeSpan? rto = Micro(r.ReadingAt(c, sender, "tcpi_rto", at))
            ?? (userTcpSends ? r.UserTcpRetransmissions(c).Select(e => (TimeSpan?)(e.Deadline - e.Time)).FirstOrDefault() : null);
        TimeSpan? rtoAt = rto is TimeSpan t0 ? from + t0 : null;

        v.Expect(label + $"the first resend is the write's last segment, no later than the RTO would have fired (the last ACK + RTO, {LabRecord.Milliseconds(Slack)} allowed)",
            probe is { } p0 && lastSegment is not null && p0.Seq == lastSegment.RelativeSeq && rtoAt is TimeSpan due && p0.At <= due + Slack,
            probe is not { } p1 ? "nothing resent"
                : $"seq {p1.Seq} resent {LabRecord.Milliseconds(p1.At - from)} after {(lastAck is null ? "the write" : "the last ACK")}"
                    + (rto is TimeSpan r1 ? $"; RTO {LabRecord.Milliseconds(r1)}" : "; no RTO read"));
        if (part.Lost > 1)
        {
            // With more than one segment out the probe timeout is 2·SRTT and a margin (RFC 8985 §7.2; Linux's TCP_TIMEOUT_MIN).
            v.Expect(label + "with two segments out, the probe goes well before the RTO: within half of it from the last ACK",
                probe is { } p2 && rto is TimeSpan r2 && p2.At - from < r2 / 2,
                probe is { } p3 && rto is TimeSpan r3 ? $"{LabRecord.Milliseconds(p3.At - from)} of {LabRecord.Milliseconds(r3)}" : "-");
        }
        IReadOnlyList<Transmissions> otherResent = [.. data.Where(t => !lost.Contains(t) && t.Retransmissions > 0)];
        v.Expect(label + "each lost segment is resent exactly once, and nothing else is",
            lost.Count == part.Lost && lost.All(t => t.Retransmissions == 1) && otherResent.Count == 0,
            string.Join("; ", lost.Select(t => $"seq {t.RelativeSeq} resent {Times(t.Retransmissions)}").Concat(otherResent.Select(t => $"seq {t.RelativeSeq} (not lost) resent {Times(t.Retransmissions)}"))));

        string hole = "";
        if (part.Lost > 1 && lost.Count == part.Lost && probe is { } pp)
        {
            Transmissions first = lost[0];
            // The probe's ACK: still at the hole, with a SACK block over the probe.
            WirePacket? sacked = FirstOf(r.From(c, receiver, p => p.At >= pp.At && senderIsn is not null && Relative(p.Segment.AcknowledgmentNumber) == first.RelativeSeq
                && p.Sack.Any(b => Relative(b.Left) <= pp.Seq && Relative(b.Right) > pp.Seq)));
            TimeSpan? again = first.Times.Count > 1 ? first.Times[1] : null;
            bool prompt = sacked is not null && again is TimeSpan a && a >= sacked.ArrivedAt && a - sacked.ArrivedAt < Promptly;
            v.Expect(label + "the probe's ACK SACKs it and points at the hole before it", sacked is not null,
                sacked is null ? "no ACK with a SACK block for the probe" : $"ack {Relative(sacked.Segment.AcknowledgmentNumber)}, SACK {numbering.Sack(sacked)}");
            string after = sacked is null ? "-" : again is TimeSpan a1 ? $"resent {LabRecord.Milliseconds(a1 - sacked.ArrivedAt)} after that ACK" : "the hole was not resent";
            // RACK (RFC 8985 §6.2) deems the hole lost on that ACK: it went before a segment now delivered, more than a reordering window ago.
            v.Expect(label + $"{senderName} resends the hole on that ACK (within {LabRecord.Milliseconds(Promptly)}), not on a timer", prompt, after);
            if (sacked is not null && again is TimeSpan a2)
            {
                hole = $" {Capitalized(receiverName)}'s ACK of the probe (which the link had held {LabRecord.Milliseconds(ProbeDelay)}, so that its SACK came later than"
                    + $" the fastest round trip: RFC 8985 §6.2) pointed at the hole (seq {first.RelativeSeq}) with a SACK block for the probe, and {senderName} resent the hole "
                    + $"{LabRecord.Milliseconds(a2 - sacked.ArrivedAt)} after it ({LabRecord.Milliseconds(a2 - first.Times[0])} after first sending it)"
                    + (prompt ? ", on that ACK." : $", not on that ACK: {HoleNotOnTheAck(r, c, userTcpSends, first.RelativeSeq)}.");
            }
        }

        string cause;
        if (userTcpSends)
        {
            IReadOnlyList<TcpEvent> events = [.. r.UserTcpRetransmissions(c).Where(e => e.Segment.PayloadLength > 0)];
            cause = events.Count == 0 ? "no retransmission event" : string.Join(", ", events.Select(e => $"seq {Relative(e.Segment.Seq)}: {e.Cause.Describe()}"));
            bool noTimeout = events.All(e => e.Cause != TcpCause.RetransmissionTimeout);
            v.Expect(label + "UserTcp's engine names the first resend a tail loss probe, and logs no retransmission timeout",
                events.Count > 0 && events[0].Cause == TcpCause.TailLossProbe && Relative(events[0].Segment.Seq) == (lastSegment?.RelativeSeq ?? 0) && noTimeout,
                cause);
            cause = $"its engine logged {cause}";
        }
        else
        {
            long Counter(string name) => r.KernelCounterNoted(c, name);
            long probes = Counter("TcpExtTCPLossProbes"), timeouts = Counter("TcpExtTCPTimeouts"), resent = Counter("TcpRetransSegs");
            cause = string.Create(CultureInfo.InvariantCulture,
                $"the kernel counted over this part TCPLossProbes {probes}, TCPLossProbeRecovery {Counter("TcpExtTCPLossProbeRecovery")}, TCPSackRecovery {Counter("TcpExtTCPSackRecovery")}, TCPFastRetrans {Counter("TcpExtTCPFastRetrans")}, TCPTimeouts {timeouts}, RetransSegs {resent}");
            v.Expect(label + "the kernel's counters over this part say: a loss probe, no timeout, one resend per lost segment (TCPLossProbes, TCPTimeouts, TcpRetransSegs)",
                probes >= 1 && timeouts == 0 && resent == part.Lost, cause);
        }
        v.Expect(label + "all the bytes arrive, once and in order", ArrivedAsWritten(r, c, receiver, Size), ReadsOf(r, c, receiver));

        string timing = probe is not { } pq
            ? $"{senderName} never resent it."
            : $"{Capitalized(senderName)} resent seq {pq.Seq} {LabRecord.Milliseconds(pq.At - (lastSegment?.Times[0] ?? pq.At))} after first sending it, "
                + $"{LabRecord.Milliseconds(pq.At - from)} after {(lastAck is null ? "the write" : $"{receiverName}'s last ACK reached it")}"
                + (rto is TimeSpan rr ? $"; its RTO then was {LabRecord.Milliseconds(rr)}, so the timeout would have fired {LabRecord.Milliseconds((from + rr - pq.At).Duration())} {(from + rr >= pq.At ? "later" : "earlier")}" : "")
                + (srtt is TimeSpan ss ? $", at an SRTT of {LabRecord.Milliseconds(ss)}" : "") + ".";
        return $"Part \"{part.Label}\" (port {part.Port}): the link dropped the first sending of {part.Segments} ({string.Join(", ", lost.Select(t => $"seq {t.RelativeSeq}"))}). "
            + timing + hole + $" Why: {cause}.";
    }

    /// <summary>Why the hole waited: UserTcp's engine's cause for its resend, or the kernel's counters.</summary>
    private static string HoleNotOnTheAck(LabRecord r, FourTuple c, bool userTcpSends, uint hole)
    {
        if (!userTcpSends) return "the kernel's timer resent it";
        SeqNumbering numbering = r.Numbering(c);
        TcpEvent? e = r.UserTcpRetransmissions(c).Cast<TcpEvent?>().FirstOrDefault(x => numbering.UserTcpIsn is not null && numbering.Of(LabSide.UserTcp, x!.Value.Segment.Seq) == hole);
        return e is { } found ? $"its engine resent it on the {found.Cause.Describe()}" : "no retransmission event for it";
    }

    private static TimeSpan? Micro(long? microseconds) => microseconds is long us ? TimeSpan.FromMicroseconds(us) : null;
}
