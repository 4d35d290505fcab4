using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// lost-retransmission: one data segment of a burst is lost, and so is its fast retransmission. Classic loss recovery
/// (RFC 6675, NewReno) cannot tell a lost retransmission from a slow one and waits for the retransmission timer. RACK
/// (RFC 8985 §6.2) orders losses by sending time: once data sent after the retransmission is acknowledged (SACKed) and
/// the reordering window has passed, the retransmission is lost too, and goes again without a timeout. Role active:
/// UserTcp sends 40 kB; passive: the kernel sends 64 kB. Both minimum RTOs are 1 s, so a timeout cannot pass unseen.
/// </summary>
public sealed class LostRetransmission : LabScenario
{
    private const ushort Port = 5029;
    private static readonly TimeSpan MinRto = TimeSpan.FromSeconds(1);

    public override string Name => "lost-retransmission";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "One data segment of a burst is lost, and so is its fast retransmission. Does the sender have to wait for its retransmission timeout to find the second loss, or does it see it sooner?";

    public override IReadOnlyList<string> Faults(LabRole role) => [$"drop {(role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel")} data nth=3 again=1"];

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with { MinRto = MinRto };

    public override async Task RunAsync(LabSession s)
    {
        SetKernelRtoMin(s, MinRto);
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        await SendThenCloseAsync(s, c, Size(s.Role)).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    private static int Size(LabRole role) => role == LabRole.UserTcpActive ? 40_000 : 64_000;

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        Transmissions? lost = FirstOf(r.Sent(c, sender).Where(t => t.Dropped.Count > 0 && t.Dropped[0]).ToList());
        SeqNumbering numbering = r.Numbering(c);
        uint hole = lost?.RelativeSeq ?? 0;
        TimeSpan Sending(int i) => lost is not null && lost.Times.Count > i ? lost.Times[i] : TimeSpan.Zero;
        bool AcksHole(WirePacket p) => numbering.IsnOf(sender) is not null && numbering.Ack(p) == hole;

        v.Expect("the segment is lost, its first retransmission is lost too, and the second gets through",
            lost is { Times.Count: 3 } && lost.Dropped.SequenceEqual([true, true, false]),
            lost is null ? "nothing lost" : $"{lost.Describe()} ({lost.Dropped.Count(d => d)} of {lost.Times.Count} dropped)");

        // The first retransmission: on the duplicate ACKs (SACK blocks), as in fast-retransmit.
        WirePacket? firstSack = FirstOf(r.From(c, receiver, p => p.At > Sending(0) && p.Sack.Count > 0 && AcksHole(p)));
        TimeSpan promptly = TimeSpan.FromMilliseconds(100);
        v.Expect($"the first retransmission follows the first SACK for the hole (within {LabRecord.Milliseconds(promptly)}), not a timeout",
            lost is { Times.Count: >= 2 } && firstSack is not null && Sending(1) >= firstSack.ArrivedAt && Sending(1) - firstSack.ArrivedAt < promptly,
            lost is { Times.Count: >= 2 } && firstSack is not null
                ? $"{LabRecord.Milliseconds(Sending(1) - firstSack.ArrivedAt)} after the first SACK, {LabRecord.Milliseconds(Sending(1) - Sending(0))} after the loss"
                : "-");

        // The second: RACK's signal is an ACK (SACK) of data first sent after the lost retransmission.
        IReadOnlyList<WirePacket> sentBetween = lost is { Times.Count: >= 3 }
            ? r.From(c, sender, p => p.Segment.PayloadLength > 0 && p.At > Sending(1) && p.At < Sending(2)) : [];
        IReadOnlyList<WirePacket> sacksBetween = lost is { Times.Count: >= 3 }
            ? r.From(c, receiver, p => p.ArrivedAt > Sending(1) && p.ArrivedAt <= Sending(2) && AcksHole(p) && p.Sack.Count > 0) : [];
        WirePacket? signal = sacksBetween.Count > 0 ? sacksBetween[^1] : null;
        TimeSpan beforeTimeout = MinRto / 2;
        v.Expect($"the lost retransmission is found without a timeout: the segment goes a third time well within the minimum RTO ({LabRecord.Seconds(MinRto)}), on a SACK of data sent after the retransmission",
            lost is { Times.Count: >= 3 } && Sending(2) - Sending(1) < beforeTimeout && sentBetween.Count > 0 && signal is not null,
            lost is { Times.Count: >= 3 }
                ? $"{LabRecord.Milliseconds(Sending(2) - Sending(1))} after the first retransmission; {Count(sentBetween.Count, "data segment")} sent between the two; "
                  + (signal is null ? "no SACK before it" : $"the last SACK before it arrived {LabRecord.Milliseconds(Sending(2) - signal.ArrivedAt)} earlier")
                : "-");
        if (userTcpSends)
        {
            IReadOnlyList<TcpEvent> resent = [.. r.UserTcpRetransmissions(c).Where(e => numbering.IsnOf(sender) is not null && numbering.Of(sender, e.Segment.Seq) == hole)];
            v.Expect("UserTcp's engine names the second retransmission's cause: RACK, not a timeout",
                resent.Count >= 2 && resent[1].Cause == TcpCause.RackLoss && r.UserTcpRetransmissions(c).All(e => e.Cause != TcpCause.RetransmissionTimeout),
                resent.Count == 0 ? "no retransmission event" : string.Join("; ", resent.Select(e => e.Cause.Describe())));
        }
        // The sender's own account, as Linux's counters name it: UserTcp's engine keeps the same ones.
        Func<string, long> counter = userTcpSends ? r.UserTcpCounter : r.KernelCounter;
        long lostRetransmits = counter("TcpExtTCPLostRetransmit"), timeouts = counter("TcpExtTCPTimeouts");
        v.Expect($"{senderName} counts a lost retransmission and no timeout (TcpExtTCPLostRetransmit, TcpExtTCPTimeouts)",
            lostRetransmits >= 1 && timeouts == 0, $"TCPLostRetransmit {lostRetransmits}, TCPTimeouts {timeouts}");
        // Both resends belong to one fast recovery (tcp_enter_recovery once, tcp_xmit_retransmit_queue for each).
        long recoveries = counter("TcpExtTCPSackRecovery"), fastRetransmits = counter("TcpExtTCPFastRetrans");
        v.Expect($"{senderName} counts one SACK recovery, both resends in it fast retransmits (TcpExtTCPSackRecovery, TcpExtTCPFastRetrans)",
            recoveries == 1 && fastRetransmits >= 2, $"TCPSackRecovery {recoveries}, TCPFastRetrans {fastRetransmits}");
        int size = Size(r.Role);
        v.Expect("all the data arrives", r.Marks.Any(m => m.Side == receiver && m.What.StartsWith($"read {size}", StringComparison.Ordinal)),
            string.Join("; ", r.Marks.Where(m => m.Side == receiver).Select(m => m.What)));

        string observed = $"The link lost {senderName}'s third data segment (seq {hole}) and its first retransmission. "
            + (lost is { Times.Count: >= 3 }
                ? $"{Capitalized(senderName)} resent it {LabRecord.Milliseconds(Sending(1) - Sending(0))} after sending it first, on {receiverName}'s SACKs, "
                  + $"went on sending ({Count(sentBetween.Count, "data segment")}), and resent it again {LabRecord.Milliseconds(Sending(2) - Sending(1))} later, "
                  + "when SACKs for that later data showed the retransmission was lost too: no retransmission timeout. "
                : "") + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }
}
