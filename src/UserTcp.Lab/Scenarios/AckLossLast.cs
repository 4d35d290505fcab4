using System.Globalization;
using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>ack-loss's second part: a one-segment write whose only ACK is lost, judged.</summary>
internal static class AckLossLast
{
    private const string Label = "last ACK: ";
    /// <summary>
    /// The least a sender waits with one segment out before it resends: a delayed ACK's worst case (RFC 8985 §7.2's
    /// WCDelAckT, Linux's TCP_RTO_MIN in tcp_schedule_loss_probe), less 5 ms for the stamps of a busy machine.
    /// </summary>
    internal static readonly TimeSpan LeastWait = TimeSpan.FromMilliseconds(195);
    /// <summary>How late past the RTO's instant the resend may come (the stamps, Linux's jiffies; see tail-loss).</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(50);

    /// <summary>The part's expectations, and its paragraph of the observation.</summary>
    public static string Judge(LabRecord r, FourTuple c, VerdictBuilder v, TimeSpan promptly)
    {
        if (c == default)
        {
            v.Expect(Label + "the connection opens", false, $"no connection on port {AckLoss.LastAckPort}");
            return "Part \"last ACK\": no connection.";
        }
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        SeqNumbering numbering = r.Numbering(c);
        IReadOnlyList<Transmissions> data = AckLoss.DataSent(r, c, sender, AckLoss.Mss);
        IReadOnlyList<(WirePacket Packet, uint Ack)> acks = [.. AckLoss.ReceiverAcks(r, c, receiver).Where(a => a.Ack <= 1 + AckLoss.Mss)];
        Transmissions? segment = data.Count == 1 ? data[0] : null;
        TimeSpan? sentAt = segment?.Times[0];
        TimeSpan? resentAt = segment is { Times.Count: > 1 } t ? t.Times[1] : null;
        int drops = r.PacketsOf(c).Count(p => p.Dropped);
        // What reached the sender between the write and its resend: nothing, when the one ACK is lost.
        int heard = acks.Count(a => !a.Packet.Dropped && a.Packet.At < (resentAt ?? r.End));
        v.Expect(Label + $"the link drops {receiverName}'s ACK of the write, so nothing reaches {senderName} before it resends; nothing else is dropped",
            acks.Count > 0 && acks[0].Packet.Dropped && heard == 0 && drops == 1 && segment is not null && segment.Dropped.All(d => !d),
            string.Create(CultureInfo.InvariantCulture, $"{data.Count} data segment(s); {acks.Count} ACK(s) of it, the first {(acks.Count > 0 && acks[0].Packet.Dropped ? "dropped" : "not dropped")}; {heard} got through before the resend; {drops} packet(s) dropped"));

        TimeSpan? wait = resentAt - sentAt;
        TimeSpan? rto = Micro(r.ReadingAt(c, sender, "tcpi_rto", resentAt ?? r.End))
            ?? (userTcpSends ? r.UserTcpRetransmissions(c).Select(e => (TimeSpan?)(e.Deadline - e.Time)).FirstOrDefault() : null);
        v.Expect(Label + $"{senderName}, hearing nothing, resends the segment exactly once, on a timer: no sooner than a delayed ACK could have come ({LabRecord.Milliseconds(LeastWait)}), no later than its RTO ({LabRecord.Milliseconds(Slack)} allowed)",
            segment is { Retransmissions: 1 } && wait is TimeSpan w && w >= LeastWait && rto is TimeSpan o && w <= o + Slack,
            segment is null ? $"{data.Count} data segment(s)"
                : $"resent {Times(segment.Retransmissions)}" + (wait is TimeSpan w1 ? $", first {LabRecord.Milliseconds(w1)} after the write" : "") + (rto is TimeSpan o1 ? $"; RTO {LabRecord.Milliseconds(o1)}" : "; no RTO read"));

        string cause;
        if (userTcpSends)
        {
            IReadOnlyList<TcpEvent> events = r.UserTcpRetransmissions(c);
            cause = events.Count == 0 ? "no retransmission event" : string.Join(", ", events.Select(e => e.Cause.Describe()));
            v.Expect(Label + "UserTcp's engine names the resend a tail loss probe (RFC 8985 §7), and logs no retransmission timeout",
                events.Count == 1 && events[0].Cause == TcpCause.TailLossProbe, cause);
            cause = string.Create(CultureInfo.InvariantCulture, $"its engine logged {cause}, and UserTcp counted TCPDSACKRecv {r.UserTcpCounter("TcpExtTCPDSACKRecv")}, TCPDSACKIgnoredNoUndo {r.UserTcpCounter("TcpExtTCPDSACKIgnoredNoUndo")} over the run");
        }
        else
        {
            long Counter(string name) => r.KernelCounterNoted(c, name);
            long probes = Counter("TcpExtTCPLossProbes"), timeouts = Counter("TcpExtTCPTimeouts"), dsacks = Counter("TcpExtTCPDSACKRecv");
            cause = string.Create(CultureInfo.InvariantCulture,
                $"the kernel counted TCPLossProbes {probes}, TCPTimeouts {timeouts}, TCPDSACKRecv {dsacks}, TCPDSACKIgnoredNoUndo {Counter("TcpExtTCPDSACKIgnoredNoUndo")}, TCPLossProbeRecovery {Counter("TcpExtTCPLossProbeRecovery")}");
            v.Expect(Label + "the kernel's counters say: a loss probe, no timeout, and the probe's D-SACK received (TCPLossProbes, TCPTimeouts, TCPDSACKRecv)",
                probes == 1 && timeouts == 0 && dsacks >= 1, cause);
        }

        // The receiver's answer to the copy: the same ACK, with a D-SACK block for the copy (RFC 2883 §4.1).
        (WirePacket Packet, uint Ack)? answer = resentAt is TimeSpan ra
            ? acks.Cast<(WirePacket Packet, uint Ack)?>().FirstOrDefault(a => a!.Value.Packet.At >= ra) : null;
        bool dsack = answer is { } an && an.Ack == 1 + AckLoss.Mss
            && an.Packet.Sack.Any(b => numbering.Of(sender, b.Left) == 1 && numbering.Of(sender, b.Right) == 1 + AckLoss.Mss);
        string answered = answer is { } a1
            ? string.Create(CultureInfo.InvariantCulture, $"ack {a1.Ack}{(a1.Packet.Sack.Count > 0 ? $", SACK {numbering.Sack(a1.Packet)}" : ", no SACK block")}, {LabRecord.Milliseconds(a1.Packet.At - resentAt!.Value)} after the copy")
            : "no ACK after the resend";
        int answers = resentAt is TimeSpan rb ? acks.Count(a => a.Packet.At >= rb) : 0;
        v.Expect(Label + $"{receiverName} drops the copy and answers it once, at once (within {LabRecord.Milliseconds(promptly)}), with the same ACK and a D-SACK block for the copy (RFC 2883)",
            dsack && answers == 1 && answer is { } a2 && a2.Packet.At - resentAt!.Value < promptly, answers > 1 ? $"{answered}; {answers} ACKs of the data after the copy" : answered);

        IReadOnlyList<LabReading> states = [.. r.Readings.Where(x => x.Connection == c && x.Side == sender && x.Name == "tcpi_ca_state")];
        long? cwndBefore = sentAt is TimeSpan sa ? r.ReadingAt(c, sender, "tcpi_snd_cwnd", sa) ?? FirstReading(r, c, sender, "tcpi_snd_cwnd") : null;
        long? cwndAfter = r.ReadingAt(c, sender, "tcpi_snd_cwnd", r.End);
        v.Expect(Label + $"{senderName} takes the D-SACK's word that nothing was lost: it stays in the Open state and keeps its cwnd",
            states.Count > 0 && states.All(x => x.Value == 0) && cwndBefore is long b0 && cwndAfter is long a0 && a0 >= b0,
            $"tcpi_ca_state {(states.Count == 0 ? "not read" : string.Join(", ", states.Select(x => x.Value).Distinct()))}; cwnd {Show(cwndBefore)} before, {Show(cwndAfter)} after");
        (bool arrived, string reads) = AckLoss.Arrived(r, c, receiver, AckLoss.Mss);
        v.Expect(Label + "the bytes arrive once", arrived, reads);

        string timing = resentAt is TimeSpan r2 && sentAt is TimeSpan s2
            ? $"{Capitalized(senderName)} heard nothing and resent it {LabRecord.Milliseconds(r2 - s2)} after the write" + (rto is TimeSpan o2 ? $" (its RTO was {LabRecord.Milliseconds(o2)})" : "")
            : $"{Capitalized(senderName)} did not resend it";
        return $"Part \"last ACK\" (port {AckLoss.LastAckPort}): {Capitalized(senderName)} wrote one segment of {AckLoss.Mss} bytes, and the link dropped "
            + $"{receiverName}'s ACK of it. {timing}: with no later ACK to come, a lost ACK cannot be told from lost data. {Capitalized(receiverName)}'s answer to the copy: {answered}. "
            + $"Why: {cause}.";
    }

    private static long? FirstReading(LabRecord r, FourTuple c, LabSide side, string name) =>
        r.Readings.FirstOrDefault(x => x.Connection == c && x.Side == side && x.Name == name)?.Value;

    private static string Show(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "not read";

    private static TimeSpan? Micro(long? microseconds) => microseconds is long us ? TimeSpan.FromMicroseconds(us) : null;
}
