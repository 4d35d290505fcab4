using System.Globalization;
using UserTcp.Engine;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>ack-loss's first part: a stream whose receiver's first, third and fifth ACKs are lost, judged.</summary>
internal static class AckLossStream
{
    private const string Label = "stream: ";

    /// <summary>The part's expectations, and its paragraph of the observation.</summary>
    public static string Judge(LabRecord r, FourTuple c, VerdictBuilder v)
    {
        if (c == default)
        {
            v.Expect(Label + "the connection opens", false, $"no connection on port {AckLoss.StreamPort}");
            return "Part \"stream\": no connection.";
        }
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        int size = AckLoss.StreamSegments * AckLoss.Mss;
        IReadOnlyList<Transmissions> data = AckLoss.DataSent(r, c, sender, size);
        // The ACKs of the data alone: the close's come after, acknowledging the FIN too.
        IReadOnlyList<(WirePacket Packet, uint Ack)> acks = [.. AckLoss.ReceiverAcks(r, c, receiver).Where(a => a.Ack <= 1 + size)];
        IReadOnlyList<int> lostAt = [.. acks.Select((a, i) => (a, i)).Where(x => x.a.Packet.Dropped).Select(x => x.i + 1)];
        int otherDrops = r.PacketsOf(c).Count(p => p.Dropped) - lostAt.Count;

        v.Expect(Label + $"the data goes as written, one segment per write ({AckLoss.StreamSegments}), and the link drops none of it",
            data.Count == AckLoss.StreamSegments && data.All(t => t.Dropped.All(d => !d)),
            $"{data.Count} data segment(s){(data.Any(t => t.Dropped.Any(d => d)) ? ", some dropped" : "")}");
        v.Expect(Label + $"the link drops {receiverName}'s {Listed(AckLoss.StreamAcksLost.Select(Ordinal))} ACK of the data, and nothing else",
            lostAt.SequenceEqual(AckLoss.StreamAcksLost) && otherDrops == 0,
            $"{acks.Count} ACK(s) of the data; lost: {(lostAt.Count == 0 ? "none" : Listed(lostAt.Select(Ordinal)))}"
                + (otherDrops > 0 ? $"; {otherDrops} other packet(s) dropped" : ""));

        // Each lost ACK, and the next ACK that got through and acknowledged at least as much (RFC 9293 §3.4: ACKs are cumulative).
        var madeGood = new List<string>();
        bool allMadeGood = lostAt.Count > 0;
        foreach (int n in lostAt)
        {
            (WirePacket lost, uint ack) = acks[n - 1];
            (WirePacket Packet, uint Ack)? next = acks.Skip(n).Cast<(WirePacket Packet, uint Ack)?>().FirstOrDefault(a => !a!.Value.Packet.Dropped && a.Value.Ack >= ack);
            if (next is not { } later)
            {
                allMadeGood = false;
                madeGood.Add(string.Create(CultureInfo.InvariantCulture, $"ack {ack} lost, none later"));
                continue;
            }
            madeGood.Add(string.Create(CultureInfo.InvariantCulture, $"ack {ack} lost, ack {later.Ack} got through {LabRecord.Milliseconds(later.Packet.At - lost.At)} later"));
        }
        v.Expect(Label + "each lost ACK is made good by a later one that gets through and acknowledges as much or more", allMadeGood, string.Join("; ", madeGood));

        // A resend is needless when an ACK covering it had reached the sender first. One that went before any did is the
        // probe timer's (2·SRTT, 10–25 ms here), which a busy machine's late ACK can outrun: the sender could not know.
        var resends = data.SelectMany(t => t.Times.Skip(1).Select(at => (t.RelativeSeq, At: at))).OrderBy(x => x.At).ToList();
        var needless = new List<string>();
        var timely = new List<string>();
        foreach ((uint seq, TimeSpan at) in resends)
        {
            (WirePacket Packet, uint Ack)? covering = acks.Cast<(WirePacket Packet, uint Ack)?>()
                .FirstOrDefault(a => !a!.Value.Packet.Dropped && a.Value.Ack > seq && a.Value.Packet.ArrivedAt <= at);
            (WirePacket Packet, uint Ack)? next = acks.Cast<(WirePacket Packet, uint Ack)?>()
                .FirstOrDefault(a => !a!.Value.Packet.Dropped && a.Value.Ack > seq && a.Value.Packet.ArrivedAt > at);
            if (covering is { } cv)
                needless.Add(string.Create(CultureInfo.InvariantCulture, $"seq {seq}, {LabRecord.Milliseconds(at - cv.Packet.ArrivedAt)} after ack {cv.Ack} had covered it"));
            else
                timely.Add(string.Create(CultureInfo.InvariantCulture, $"seq {seq}, before any ACK covered it{(next is { } nx ? $" (ack {nx.Ack} reached {senderName} {LabRecord.Milliseconds(nx.Packet.ArrivedAt - at)} later)" : "")}"));
        }
        string counted;
        bool countedAgrees;
        if (userTcpSends)
        {
            IReadOnlyList<TcpEvent> events = r.UserTcpRetransmissions(c);
            countedAgrees = events.Count == resends.Count && events.All(e => e.Cause == TcpCause.TailLossProbe);
            counted = events.Count == 0 ? "UserTcp's engine logged no retransmission"
                : "UserTcp's engine logged " + string.Join(", ", events.Select(e => $"{e.Cause.Describe()}"));
        }
        else
        {
            long probes = r.KernelCounterNoted(c, "TcpExtTCPLossProbes"), resendsCounted = r.KernelCounterNoted(c, "TcpRetransSegs"), timeouts = r.KernelCounterNoted(c, "TcpExtTCPTimeouts");
            countedAgrees = resendsCounted == resends.Count && probes == resends.Count && timeouts == 0;
            counted = string.Create(CultureInfo.InvariantCulture, $"the kernel counted TCPLossProbes {probes}, TCPTimeouts {timeouts}, RetransSegs {resendsCounted}");
        }
        v.Expect(Label + $"{senderName} resends nothing an ACK had already covered (a loss probe that ran out before the next ACK came may go), and no timeout fires",
            needless.Count == 0 && countedAgrees,
            (resends.Count == 0 ? "nothing resent on the link" : "resent " + string.Join("; ", needless.Concat(timely))) + "; " + counted);
        IReadOnlyList<long> states = [.. r.Readings.Where(x => x.Connection == c && x.Side == sender && x.Name == "tcpi_ca_state").Select(x => x.Value)];
        v.Expect(Label + $"{senderName} stays in the Open state throughout (no recovery, no loss: tcpi_ca_state 0)",
            states.Count > 0 && states.All(s => s == 0), states.Count == 0 ? "no reading" : "tcpi_ca_state " + string.Join(", ", states.Distinct()));
        (bool arrived, string reads) = AckLoss.Arrived(r, c, receiver, size);
        v.Expect(Label + "all the bytes arrive, once and in order", arrived, reads);

        return $"Part \"stream\" (port {AckLoss.StreamPort}): {Capitalized(senderName)} wrote {AckLoss.StreamSegments} segments of {AckLoss.Mss} bytes "
            + $"{LabRecord.Milliseconds(AckLoss.StreamGap)} apart; {receiverName} acknowledged them in {acks.Count} ACKs, and the link dropped the "
            + $"{Listed(lostAt.Select(Ordinal))}. {SentenceStart(string.Join("; ", madeGood))}. "
            + (resends.Count == 0 ? $"{Capitalized(senderName)} resent nothing ({counted})"
                : $"{Capitalized(senderName)} resent {string.Join("; ", needless.Concat(timely))} ({counted}): a probe timer shorter than the wait for the next ACK")
            + ". An ACK is cumulative (RFC 9293 §3.4), so the later one said all the earlier one would have.";
    }

    private static string SentenceStart(string text) => text.Length == 0 ? "No ACK was lost" : Capitalized(text);

    /// <summary>"first, third and fifth".</summary>
    private static string Listed(IEnumerable<string> items)
    {
        IReadOnlyList<string> all = [.. items];
        return all.Count <= 1 ? string.Concat(all) : string.Join(", ", all.Take(all.Count - 1)) + " and " + all[^1];
    }
}
