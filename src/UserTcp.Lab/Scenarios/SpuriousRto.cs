using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// spurious-rto: nothing is lost, but every pure ACK the receiver sends reaches the sender 800 ms late — longer than
/// the sender's first retransmission timeout (200–300 ms on this link), about as long as its second — so the timer
/// fires although the data arrived. Role active: UserTcp connects and sends 40 segments; passive: the kernel does. Linux detects the
/// timeout was spurious (F-RTO, RFC 5682, and the timestamps' Eifel detection, RFC 3522) when the late ACKs arrive:
/// it resends only what the timer sent and goes on with new data, instead of sending the whole window again.
/// </summary>
public sealed class SpuriousRto : LabScenario
{
    private const ushort Port = 5021;
    private const int Segments = 40;
    private const int SegmentSize = 1460; // the MSS both ends announce at the link's MTU of 1500
    private static readonly TimeSpan AckDelay = TimeSpan.FromMilliseconds(800);
    // The receiver closes only once its last late ACK is through, so no ACK still on the link meets a closed socket.
    private static readonly TimeSpan CloseAfter = AckDelay + TimeSpan.FromMilliseconds(200);

    public override string Name => "spurious-rto";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "Nothing is lost, but the ACKs arrive later than the retransmission timeout. Does the sender resend its whole window, or notice that the timeout was spurious?";

    // Every pure ACK of the receiver; the sender connects, so the handshake's last ACK is the sender's and is not delayed.
    public override IReadOnlyList<string> Faults(LabRole role) =>
        [string.Create(CultureInfo.InvariantCulture, $"delay={AckDelay.TotalMilliseconds:0}ms {(role == LabRole.UserTcpActive ? "from-kernel" : "to-kernel")} flags==ACK empty")];

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        LabConnection c = await s.OpenAsync(Port, kernelConnects: !userTcpSends).ConfigureAwait(false);
        const int size = Segments * SegmentSize;
        await SendThenCloseAsync(s, c, size, CloseAfter).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    // When an ACK reached the sender: one of UserTcp's delayed on the link is recorded as the link handed it on; one of
    // the kernel's is recorded as UserTcp read it, and the delay line held it that much longer.
    private static TimeSpan ReachedSender(WirePacket ack) =>
        ack.ArrivedAt + (!ack.ToKernel && ack.Fault?.Action == UserTcp.Link.FaultAction.Delayed ? AckDelay : TimeSpan.Zero);

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        SeqNumbering numbering = r.Numbering(c);
        IReadOnlyList<Transmissions> data = [.. r.Sent(c, sender).Where(t => !t.Flags.Contains('S', StringComparison.Ordinal) && !t.Flags.Contains('F', StringComparison.Ordinal))];
        IReadOnlyList<Transmissions> resent = [.. data.Where(t => t.Retransmissions > 0)];
        // The first ACK of data to reach the sender, and when: before it, a retransmission can only be a timer's doing.
        WirePacket? firstAck = FirstOf(r.From(c, receiver, p => !p.Dropped && p.Segment.PayloadLength == 0 && numbering.IsnOf(sender) is not null
            && p.Segment.Has(TcpFlags.Ack) && numbering.Ack(p) > 1));
        TimeSpan firstAckAt = firstAck is null ? TimeSpan.MaxValue : ReachedSender(firstAck);
        IReadOnlyList<Transmissions> byTimer = [.. resent.Where(t => t.Times.Skip(1).Any(at => at < firstAckAt))];
        // Each timeout resends: the same segment again when the backed-off timer fires a second time before any ACK.
        int resendsBefore = byTimer.Sum(t => t.Times.Skip(1).Count(at => at < firstAckAt));
        IReadOnlyList<Transmissions> afterAcks = [.. resent.Where(t => t.Times.Skip(1).Any(at => at >= firstAckAt))];
        // A D-SACK's first block lies at or below the cumulative ACK (RFC 2883 §4).
        int dsacks = r.From(c, receiver, p => p.Sack.Count > 0 && p.Sack[0].Left < p.Segment.AcknowledgmentNumber).Count;
        TcpEvent? undo = userTcpSends ? r.Events.Cast<TcpEvent?>().FirstOrDefault(e => e!.Value.Kind == TcpEventKind.CongestionUndo && e.Value.Connection == c) : null;
        bool arrived = r.Marks.Any(m => m.Side == receiver && m.What.StartsWith(
            string.Create(CultureInfo.InvariantCulture, $"read {Segments * SegmentSize}"), StringComparison.Ordinal));

        v.Expect("the link loses nothing", r.PacketsOf(c).All(p => !p.Dropped), $"{r.PacketsOf(c).Count(p => p.Dropped)} dropped");
        v.Expect($"{senderName}'s retransmission timer fires before the first (late) ACK arrives", byTimer.Count > 0,
            byTimer.Count == 0 ? "nothing resent before the first ACK" : $"{byTimer.Count} segment(s) resent before it: seq {string.Join(", ", byTimer.Select(t => t.RelativeSeq))}");
        if (userTcpSends)
        {
            v.Expect("UserTcp's engine names the cause: a timeout", r.UserTcpRetransmissions(c).Any(e => e.Cause == TcpCause.RetransmissionTimeout),
                string.Join(", ", r.UserTcpRetransmissions(c).Select(e => e.Cause.Describe()).Distinct()));
            v.Expect("UserTcp's engine undoes the timeout's cut of cwnd and ssthresh (TcpExtTCPSpuriousRTOs)", undo is not null,
                undo is { } u ? u.Description : "no undo event");
        }
        else
        {
            IReadOnlyList<TimeSpan> rtos = KernelRtos(r, c);
            v.Expect("the kernel's socket table counts the timeout (tcpi_retransmits)", rtos.Count > 0, rtos.Count == 0 ? "none counted" : $"RTO after each: {List(rtos)}");
        }
        v.Expect("when the late ACKs arrive, the sender does not resend the rest of the window: the timeout is found spurious",
            afterAcks.Count == 0,
            afterAcks.Count == 0 ? "nothing resent after the first ACK" : $"{afterAcks.Count} segment(s) resent after it: seq {string.Join(", ", afterAcks.Take(12).Select(t => t.RelativeSeq))}{(afterAcks.Count > 12 ? ", …" : "")}");
        v.Expect("the receiver reports the duplicate it got (D-SACK, RFC 2883)", dsacks > 0, $"{dsacks} ACK(s) with a D-SACK block");
        v.Expect("all the data arrives", arrived, string.Join("; ", r.Marks.Where(m => m.Side == receiver).Select(m => m.What)));

        string observed = string.Create(CultureInfo.InvariantCulture,
            $"{Capitalized(receiverName)} acknowledged everything {senderName} sent, but the link held each of its ACKs {AckDelay.TotalMilliseconds:0} ms, ")
            + (firstAck is null ? $"so none reached {senderName}. " : $"so the first one reached {senderName} at {LabRecord.Seconds(firstAckAt)}. ")
            + (byTimer.Count > 0
                ? $"Before that {senderName}'s timer fired and resent {byTimer.Count} segment(s), {Times(resendsBefore)} in all ({string.Join("; ", byTimer.Take(3).Select(t => $"seq {t.RelativeSeq} {t.Describe()}"))}). "
                : $"{senderName} resent nothing before it. ")
            + (afterAcks.Count == 0
                ? $"Once the late ACKs came, it resent nothing more and went on with new data: it took the timeout for a spurious one (F-RTO, RFC 5682; Eifel, RFC 3522). "
                : $"When the late ACKs came it went on resending — {afterAcks.Count} segment(s) the receiver already had — as go-back-N does after a timeout it believes. ")
            + (undo is { } done ? $"Its engine logged: {done.Cause.Describe()}. " : "")
            + $"{Capitalized(receiverName)} reported the duplicate{(dsacks > 0 ? "s" : "")} it received in {dsacks} D-SACK block(s). "
            + (userTcpSends
                ? string.Create(CultureInfo.InvariantCulture, $"(The ladder and the graphs show the link as tcpdump on the kernel's interface does: each of the kernel's ACKs where the kernel sent it, {AckDelay.TotalMilliseconds:0} ms before it reached UserTcp.) ")
                : "")
            + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }
}
