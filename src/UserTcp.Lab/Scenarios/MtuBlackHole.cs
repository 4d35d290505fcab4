using System.Globalization;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// mtu-black-hole: the path loses every packet longer than 1200 bytes and no ICMP says so (RFC 2923 §2.1: a firewall that
/// drops "fragmentation needed"), so path MTU discovery never learns. The handshake and the ACKs are small and get
/// through; full-sized data segments vanish. Both stacks run black-hole detection (off by default in both: Linux's
/// tcp_mtu_probing=1, UserTcp's MtuBlackHoleDetection): after a stall of timeouts, a timeout resends smaller. Role active:
/// UserTcp sends 20 kB; passive: the kernel does.
/// </summary>
public sealed class MtuBlackHole : LabScenario
{
    private const ushort Port = 5033;
    private const int Size = 20_000;
    /// <summary>The largest packet the path carries.</summary>
    public const int PathMtu = 1200;
    /// <summary>Linux's retransmits_timed_out(tcp_retries1 = 3): ((2 &lt;&lt; 3) − 1) × TCP_RTO_MIN, from the first timeout's resend.</summary>
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(3);

    public override string Name => "mtu-black-hole";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        $"The path loses every packet longer than {PathMtu} bytes and no ICMP says so (a path MTU black hole). The handshake gets through; does the data? Does the connection hang, or does the sender find a size that passes?";

    public override IReadOnlyList<string> Faults(LabRole role) => [$"drop {(role == LabRole.UserTcpActive ? "to-kernel" : "from-kernel")} mtu={PathMtu}"];

    public override IReadOnlyDictionary<string, string> KernelSettings(LabRole role, bool full) =>
        new Dictionary<string, string>(base.KernelSettings(role, full)) { ["tcp_mtu_probing"] = "1" };

    public override TcpConfig UserTcpConfig(LabRole role, bool full) => base.UserTcpConfig(role, full) with { MtuBlackHoleDetection = true };

    // The sender's data waits this long at most for its first delivery (the stall detection waits out, ~6 s) and the rest.
    private static readonly TimeSpan TransferBound = TimeSpan.FromSeconds(30);

    public override async Task RunAsync(LabSession s)
    {
        LabConnection c = await s.OpenAsync(Port).ConfigureAwait(false);
        // The sender closes only once everything is acknowledged: an orphan would give up after tcp_orphan_retries (3),
        // before the stall that black-hole detection waits out.
        await TransferUntilAcknowledgedAsync(s, c, new byte[Size], TransferBound).ConfigureAwait(false);
        await CloseInTurnAsync(s, c).ConfigureAwait(false);
        await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        IReadOnlyList<WirePacket> data = r.From(c, sender, p => p.Segment.PayloadLength > 0);
        // The link's rule drops exactly the packets over the path MTU; a segment's size is told by its data.
        static int Length(WirePacket p) => p.Segment.PayloadLength;
        IReadOnlyList<WirePacket> tooLong = [.. data.Where(p => p.Dropped)];
        IReadOnlyList<WirePacket> delivered = [.. data.Where(p => !p.Dropped)];
        WirePacket? firstThrough = delivered.Count > 0 ? delivered[0] : null;
        Transmissions? head = FirstOf(r.Sent(c, sender).Where(t => t.Times.Count > 1 && !t.Flags.Contains('S', StringComparison.Ordinal)).ToList());
        TimeSpan firstResend = head is { Times.Count: > 1 } ? head.Times[1] : TimeSpan.Zero;

        v.Expect("the handshake gets through: its packets are small", r.UserTcpStates(c).Any(x => x.State == "ESTABLISHED"),
            LabRecord.Path(r.UserTcpStates(c)));
        int fullSize = data.Count > 0 ? Length(data[0]) : 0;
        v.Expect("the first flight goes in full-sized segments, and the path loses them all",
            data.Count > 0 && data[0].Dropped && data.TakeWhile(p => p.Segment.SequenceNumber != data[0].Segment.SequenceNumber || p == data[0]).All(p => p.Dropped || Length(p) < fullSize),
            $"{Count(tooLong.Count, "data segment")} lost in all ({SizesOf(tooLong, Length)})");
        // The full-sized head goes again on the timer, backed off, before anything smaller: the stall black-hole detection waits out.
        IReadOnlyList<WirePacket> fullSendings = head is null ? [] : [.. data.Where(p => p.Segment.SequenceNumber == data[0].Segment.SequenceNumber && Length(p) >= fullSize)];
        IReadOnlyList<WirePacket> fullResends = [.. fullSendings.Skip(1)];
        // The backoff is the full-sized sendings' own: the smaller resend that ends the stall is not one of them.
        var fullOnly = new Transmissions(head?.RelativeSeq ?? 0, head?.Flags ?? "", [.. fullSendings.Select(p => p.SentAt)], [.. fullSendings.Select(p => p.Dropped)]);
        v.Expect("the sender resends the full-sized first segment on its timer, backing off, and it is lost each time",
            fullResends.Count >= 2 && fullResends.All(p => p.Dropped) && BacksOff(fullOnly),
            head is null ? "nothing resent" : $"{Count(fullResends.Count, "full-sized resend")}: {fullOnly.Describe()}");
        TimeSpan stalled = firstThrough is null ? TimeSpan.Zero : firstThrough.At - firstResend;
        v.Expect($"after a stall of at least {LabRecord.Seconds(Stall)} (tcp_retries1's 3 doublings from 200 ms), a timeout resends the first segment smaller, and it gets through",
            firstThrough is not null && firstThrough.Segment.SequenceNumber == data[0].Segment.SequenceNumber && Length(firstThrough) < fullSize && stalled >= Stall - TimeSpan.FromMilliseconds(50),
            firstThrough is null ? "nothing got through"
                : $"{Length(firstThrough)} bytes of data at {LabRecord.Seconds(firstThrough.At)}, {LabRecord.Seconds(stalled)} after the first resend");
        v.Expect("all the data arrives", r.Marks.Any(m => m.Side == receiver && m.What.StartsWith($"read {Size}", StringComparison.Ordinal)),
            string.Join("; ", r.Marks.Where(m => m.Side == receiver).Select(m => m.What)));

        IReadOnlyList<WirePacket> after = firstThrough is null ? [] : [.. data.Where(p => p.At > firstThrough.At)];
        IReadOnlyList<WirePacket> probesUp = [.. after.Where(p => Length(p) > Length(firstThrough!))];
        string observed = $"The path carried the handshake and the ACKs but no packet over {PathMtu} bytes. {Capitalized(senderName)} sent its first flight in "
            + $"full-sized segments of {fullSize} bytes of data, all lost; "
            + (head is null ? "it resent nothing. " : $"it resent the first on its timer ({Intervals(fullOnly)} apart, backing off), still full-sized, lost each time; ")
            + (firstThrough is null ? "nothing got through. "
                : $"{LabRecord.Seconds(stalled)} after its first resend a timeout resent it as {firstThrough.Segment.PayloadLength} bytes of data, which passed: "
                  + $"black-hole detection had lowered the segment size (to tcp_base_mss, Linux's 1024, as UserTcp's BaseMss). The rest went in {Count(after.Count, "data packet")} "
                  + $"({SizesOf(after, Length)})"
                  + (probesUp.Count > 0 ? $", {Count(probesUp.Count, "larger packet")} among them probing the path MTU back up ({SizesOf(probesUp, Length)}; {probesUp.Count(p => p.Dropped)} lost)" : "")
                  + ". ")
            + "Both stacks leave black-hole detection off by default (Linux's tcp_mtu_probing 0, UserTcp's MtuBlackHoleDetection): this run turned it on in both. " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    // Segments' data sizes collapsed, largest first: "12 × 1448 bytes, 1 × 1024 bytes".
    private static string SizesOf(IReadOnlyList<WirePacket> packets, Func<WirePacket, int> length) =>
        packets.Count == 0 ? "none" : string.Join(", ", packets.GroupBy(length).OrderByDescending(g => g.Key)
            .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Count()} × {g.Key} bytes")));
}
