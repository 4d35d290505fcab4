using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// ack-loss: the data gets through, the receiver's ACKs do not. An acknowledgment is cumulative (RFC 9293 §3.4: it
/// says every byte before it arrived), so a lost ACK is made good by any later one and nothing is resent; only when no
/// later ACK comes — the last ACK of a write — does the sender hear nothing and resend on a timer. The receiver then
/// drops the copy, re-acknowledges it with a D-SACK (RFC 2883), and a sender that reads D-SACKs knows the resend was
/// needless and takes no congestion response (RFC 8985 §7.4.2 for a loss probe). Two parts, each on a connection of its
/// own, the sender connecting (so the receiver's only pure ACKs are those of the data): a stream of
/// <see cref="StreamSegments"/> full segments written <see cref="StreamGap"/> apart with the receiver's first, third and
/// fifth ACKs lost; then one segment whose only ACK is lost. Role active: UserTcp sends; passive: the kernel does.
/// </summary>
public sealed class AckLoss : LabScenario
{
    /// <summary>The MSS both ends use: the 1460 they announce at the link's MTU of 1500, less 12 bytes of timestamps.</summary>
    internal const int Mss = 1448;
    internal const int StreamSegments = 12;
    /// <summary>
    /// Apart enough that each segment is acknowledged before the next is written (the link's round trip is under a
    /// millisecond), so a lost ACK is followed by the next segment's: full segments, which Nagle does not hold back.
    /// </summary>
    internal static readonly TimeSpan StreamGap = TimeSpan.FromMilliseconds(10);
    /// <summary>The receiver's ACKs of the stream the link drops: at most one of any two in a row, and never the last of twelve segments'.</summary>
    internal static readonly int[] StreamAcksLost = [1, 3, 5];
    internal const ushort StreamPort = 5040, LastAckPort = 5041;
    /// <summary>How soon after the copy reached the receiver its answer must leave (the receiver answers a duplicate at once: RFC 9293 §3.10.7.4).</summary>
    private static readonly TimeSpan Promptly = TimeSpan.FromMilliseconds(100);

    public override string Name => "ack-loss";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "The data arrives but the receiver's ACKs are lost. Does the sender resend data the receiver already has? First some ACKs of a stream are lost, then the only ACK of a write.";

    public override IReadOnlyList<string> Faults(LabRole role)
    {
        string fromReceiver = role == LabRole.UserTcpActive ? "from-kernel" : "to-kernel";
        return [.. StreamAcksLost.Select(n => string.Create(CultureInfo.InvariantCulture, $"drop {fromReceiver} flags==ACK empty port={StreamPort} nth={n}")),
            string.Create(CultureInfo.InvariantCulture, $"drop {fromReceiver} flags==ACK empty port={LastAckPort} nth=1")];
    }

    public override async Task RunAsync(LabSession s)
    {
        bool userTcpSends = s.Role == LabRole.UserTcpActive;
        LabConnection stream = await s.OpenAsync(StreamPort, kernelConnects: !userTcpSends).ConfigureAwait(false);
        await NotingKernelCountersAsync(s, stream.Id, () => StreamAsync(s, stream)).ConfigureAwait(false);
        await CloseInTurnAsync(s, stream).ConfigureAwait(false);
        await s.UserTcpReachesAsync(stream.Id, userTcpSends ? TcpState.TimeWait : TcpState.Closed, StateTimeout).ConfigureAwait(false);

        LabConnection last = await s.OpenAsync(LastAckPort, kernelConnects: !userTcpSends).ConfigureAwait(false);
        await NotingKernelCountersAsync(s, last.Id, () => TransferUntilAcknowledgedAsync(s, last, Pattern(LastAckPort, Mss))).ConfigureAwait(false);
        await CloseInTurnAsync(s, last).ConfigureAwait(false);
        await s.UserTcpReachesAsync(last.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    /// <summary>
    /// The stream: the sender writes one full segment every <see cref="StreamGap"/> (the kernel on a thread of its own),
    /// the receiver's application reads all of it, and the sender waits until nothing is unacknowledged.
    /// </summary>
    private static async Task StreamAsync(LabSession s, LabConnection c)
    {
        await using TcpInfoWatch watch = await TcpInfoWatch.StartAsync(s, c, congestion: true).ConfigureAwait(false);
        byte[] data = Pattern(StreamPort, StreamSegments * Mss);
        string what = string.Create(CultureInfo.InvariantCulture, $"{StreamSegments} writes of {Mss} bytes, {StreamGap.TotalMilliseconds:0} ms apart");
        if (s.Role == LabRole.UserTcpActive)
        {
            PeerThread<(byte[] Data, TimeSpan At)> reader = await PeerThread.StartAsync("lab kernel read",
                () => (KernelReadsExactly(c.Kernel, data.Length), s.Now), s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, what, c.Id);
            for (int i = 0; i < StreamSegments; i++)
            {
                if (i > 0) await s.Delay(StreamGap).ConfigureAwait(false);
                await c.UserTcp.WriteAsync(data.AsMemory(i * Mss, Mss), s.Token).ConfigureAwait(false);
            }
            (byte[] got, TimeSpan at) = await reader.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, TailLoss.Received(got, data), c.Id, at);
            await s.UntilAsync(() => c.UserTcp.BytesNotAcknowledged == 0, StateTimeout).ConfigureAwait(false);
            return;
        }
        s.Mark(LabSide.Kernel, what, c.Id);
        PeerThread<bool> sender = await PeerThread.StartAsync("lab kernel send", () =>
        {
            for (int i = 0; i < StreamSegments; i++)
            {
                if (i > 0) Thread.Sleep(StreamGap);
                c.Kernel.Send(data.AsSpan(i * Mss, Mss).ToArray());
            }
            return true;
        }, s.Token).ConfigureAwait(false);
        byte[] read = await UserTcpReadsExactlyAsync(s, c.UserTcp, data.Length).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, TailLoss.Received(read, data), c.Id);
        await sender.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        await s.UntilAsync(() => c.Kernel.Info().Unacked == 0, StateTimeout).ConfigureAwait(false);
    }

    // Each part's bytes differ from the other's and from a shifted copy of themselves, so a misplaced byte shows.
    private static byte[] Pattern(int seed, int size) => [.. Enumerable.Range(0, size).Select(i => (byte)((i * 7 + i / 251 + seed) & 0xFF))];

    public override LabVerdict Judge(LabRecord r)
    {
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (_, _, string senderName, string receiverName) = TransferSides(userTcpSends);
        FourTuple stream = Find(r, StreamPort), last = Find(r, LastAckPort);
        string control = r.KernelCongestionControl.LinuxName();
        var observed = new List<string>
        {
            $"{Capitalized(senderName)} sent, {receiverName} received{(userTcpSends ? $" (the kernel's congestion control {control})" : $" (the kernel sent with {control})")}.",
            AckLossStream.Judge(r, stream, v),
            AckLossLast.Judge(r, last, v, Promptly),
            Sampling(r),
        };
        IReadOnlyList<FourTuple> connections = [.. new[] { stream, last }.Where(c => c != default)];
        IReadOnlyList<string> kernelSchedule = [.. connections.SelectMany(c => Schedule(r, c, LabSide.Kernel))];
        IReadOnlyList<string> userTcpSchedule = [.. connections.SelectMany(c => Schedule(r, c, LabSide.UserTcp))];
        return v.Build(this, r, string.Join(" ", observed), SeedAgreement.NoClaim, "", kernelSchedule, userTcpSchedule);
    }

    private static FourTuple Find(LabRecord r, ushort port) => r.Connections.FirstOrDefault(c => c.Local.Port == port || c.Remote.Port == port);

    /// <summary>The receiver's pure ACKs of a connection, in the order they went, and what each acknowledged (relative).</summary>
    internal static IReadOnlyList<(WirePacket Packet, uint Ack)> ReceiverAcks(LabRecord r, FourTuple c, LabSide receiver)
    {
        SeqNumbering numbering = r.Numbering(c);
        return [.. r.From(c, receiver, IsPureAck).Select(p => (p, numbering.Ack(p)))];
    }

    /// <summary>The sender's data segments of a connection, by sequence number, below <paramref name="end"/> (relative).</summary>
    internal static IReadOnlyList<Transmissions> DataSent(LabRecord r, FourTuple c, LabSide sender, int end) =>
        [.. r.Sent(c, sender).Where(t => t.RelativeSeq >= 1 && t.RelativeSeq < 1 + end && !t.Flags.Contains('S', StringComparison.Ordinal)).OrderBy(t => t.RelativeSeq)];

    /// <summary>Whether the receiver's application read all the bytes of a part, once and in order (the mark <see cref="TailLoss.Received"/> writes).</summary>
    internal static (bool Arrived, string Reads) Arrived(LabRecord r, FourTuple c, LabSide receiver, int size)
    {
        string reads = ReadsOf(r, c, receiver);
        return (ArrivedAsWritten(r, c, receiver, size), reads.Length == 0 ? "no read" : reads);
    }
}
