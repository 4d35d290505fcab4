using System.Globalization;
using UserTcp.Engine;
using UserTcp.Sockets;
using UserTcp.Wire;
using static UserTcp.Lab.ScenarioKit;

namespace UserTcp.Lab.Scenarios;

/// <summary>
/// zero-window: the receiver's application stops reading, so its small buffer fills and it advertises a zero window;
/// once the sender has probed that window twice it reads everything, and the window update it sends then is lost on
/// the link (rule
/// <c>drop … reopens nth=1</c>). Nothing but the sender's persist timer can recover the connection: its zero-window
/// probes (RFC 9293 §3.8.6.1; Linux's tcp_probe_timer) back off from the RTO, and the first one answered after the
/// read draws an ACK with the open window. Role active: UserTcp sends to a kernel socket with a small SO_RCVBUF;
/// passive: the kernel sends to UserTcp with a small receive buffer (auto-tuning off).
/// </summary>
public sealed class ZeroWindow : LabScenario
{
    private const ushort Port = 5026;
    /// <summary>What the sender writes: several of the receiver's windows, so data waits while the window is shut.</summary>
    public const int Size = 30_000;
    /// <summary>The kernel receiver's SO_RCVBUF (Linux doubles it): its window shuts after a few segments.</summary>
    private const int KernelReceiveBuffer = 4096;
    /// <summary>UserTcp's receive buffer as the receiver: two segments fill it.</summary>
    private const int UserTcpReceiveBuffer = 4096;
    /// <summary>
    /// The probes the receiver's application waits for before it reads, halfway to the next one: two show the backoff
    /// and the third recovers, whatever the sender's RTO (a busy machine's slow handshake once made UserTcp's 0.8 s, and
    /// a fixed one-second hold then saw one probe); on this link they come at about 1, 3 and 7 RTOs, 0.2, 0.6 and 1.4 s.
    /// </summary>
    private const int ProbesBeforeRead = 2;

    private const string ReadMark = "read() at last";
    private const string AsSent = "as sent";

    public override string Name => "zero-window";

    public override string DescribeRole(LabRole role) => role.DescribeTransfer();

    public override string Question =>
        "The receiver's window fell to zero; then it read, and its window update was lost. Does the connection hang, or who recovers it, how, and on what schedule?";

    public override IReadOnlyList<string> Faults(LabRole role) => [$"drop {(role == LabRole.UserTcpActive ? "from-kernel" : "to-kernel")} reopens nth=1"];

    public override async Task RunAsync(LabSession s)
    {
        byte[] data = Pattern();
        if (s.Role == LabRole.UserTcpActive)
        {
            LabConnection c = await s.OpenAsync(Port, kernelConnects: false, kernelOptions: k => k.ReceiveBuffer(KernelReceiveBuffer)).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"write {Size} bytes, close()", c.Id);
            Task sending = WriteThenCloseAsync(s, c.UserTcp, data);
            await HoldWhileShutAsync(s, c, LabSide.Kernel).ConfigureAwait(false);
            PeerThread<(byte[] Data, bool Ended, TimeSpan ReadAt, TimeSpan? ClosedAt)> reader = await PeerThread.StartAsync("lab kernel read", () =>
            {
                TimeSpan at = s.Now;
                (byte[] bytes, bool ended) = c.Kernel.ReadToEnd(StateTimeout);
                if (!ended) return (bytes, false, at, (TimeSpan?)null);
                c.Kernel.Close();
                return (bytes, true, at, s.Now);
            }, s.Token).ConfigureAwait(false);
            var read = await reader.Completion.WaitAsync(s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"{ReadMark}, halfway to the next probe", c.Id, read.ReadAt);
            s.Mark(LabSide.Kernel, $"read {Received(read.Data, read.Ended, data)}{(read.Ended ? ", close()" : "")}", c.Id, read.ClosedAt ?? s.Now);
            await sending.ConfigureAwait(false);
            await s.UserTcpReachesAsync(c.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
            return;
        }
        LabConnection k = await s.OpenAsync(Port, kernelConnects: true, options: new UserTcpConnectionOptions { ReceiveBufferSize = UserTcpReceiveBuffer })
            .ConfigureAwait(false);
        s.Mark(LabSide.Kernel, $"send {Size} bytes, close()", k.Id);
        PeerThread<bool> sender = await KernelSendsThenClosesAsync(s, k.Kernel, data).ConfigureAwait(false);
        await HoldWhileShutAsync(s, k, LabSide.UserTcp).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, $"{ReadMark}, halfway to the next probe", k.Id);
        (byte[] got, bool end) = await UserTcpReadAllAsync(s, k.UserTcp).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, $"read {Received(got, end, data)}, close()", k.Id);
        await k.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        await sender.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        await s.UserTcpReachesAsync(k.Id, TcpState.Closed, StateTimeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the receiver has advertised a zero window and the sender has probed it <see cref="ProbesBeforeRead"/>
    /// times (at most <see cref="StateTimeout"/>), then half the gap between the last two probes, so the window update
    /// goes out between probes.
    /// </summary>
    private static async Task HoldWhileShutAsync(LabSession s, LabConnection c, LabSide receiver)
    {
        List<WirePacket> probes = [];
        bool probed = await s.UntilAsync(() => (probes = ProbesSoFar(s.Wire.Packets, c.Id, receiver)).Count >= ProbesBeforeRead, StateTimeout).ConfigureAwait(false);
        if (!probed)
        {
            s.Mark(receiver, $"{probes.Count} probe(s) in {LabRecord.Seconds(StateTimeout)}: reading anyway", c.Id);
            return;
        }
        TimeSpan readAt = probes[^1].At + (probes[^1].At - probes[^2].At) / 2;
        if (readAt > s.Now) await s.Delay(readAt - s.Now).ConfigureAwait(false);
    }

    /// <summary>What the sender has sent since the receiver's first zero window that carries at most one byte: its probes.</summary>
    private static List<WirePacket> ProbesSoFar(IReadOnlyList<WirePacket> packets, FourTuple c, LabSide receiver)
    {
        var probes = new List<WirePacket>();
        bool shut = false;
        foreach (WirePacket p in packets)
        {
            if (LabRecord.Id(p) != c) continue;
            bool fromReceiver = p.ToKernel == (receiver == LabSide.UserTcp);
            if (fromReceiver) shut |= p.Segment.AdvertisesZeroWindow;
            else if (shut && p.Segment.AdvertisesWindow && !p.Segment.Has(TcpFlags.Fin) && p.Segment.PayloadLength <= 1) probes.Add(p);
        }
        return probes;
    }

    private static async Task WriteThenCloseAsync(LabSession s, UserTcpConnection connection, byte[] data)
    {
        await connection.WriteAsync(data, s.Token).ConfigureAwait(false);
        await connection.CloseAsync(s.Token).ConfigureAwait(false);
    }

    /// <summary>UserTcp's application reads everything up to the FIN (each read bounded by <see cref="StateTimeout"/>).</summary>
    private static async Task<(byte[] Data, bool Ended)> UserTcpReadAllAsync(LabSession s, UserTcpConnection connection)
    {
        using var received = new MemoryStream();
        byte[] buffer = new byte[65536];
        try
        {
            int read;
            while ((read = await connection.ReadAsync(buffer, s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false)) > 0) received.Write(buffer, 0, read);
        }
        catch (TimeoutException)
        {
            return (received.ToArray(), false);
        }
        return (received.ToArray(), true);
    }

    /// <summary>The bytes the sender writes: no two segments' worth alike, so a duplicate or a gap cannot pass for the right bytes.</summary>
    public static byte[] Pattern()
    {
        byte[] data = new byte[Size];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)((uint)(i + 1) * 2654435761u >> 24);
        return data;
    }

    /// <summary>"30000 bytes and the FIN, as sent", or what differs from what was sent.</summary>
    public static string Received(byte[] got, bool ended, byte[] sent)
    {
        string fin = ended ? " and the FIN" : " and no FIN";
        int common = Math.Min(got.Length, sent.Length);
        int differ = Enumerable.Range(0, common).FirstOrDefault(i => got[i] != sent[i], -1);
        string verdict = differ >= 0 ? $"not as sent: byte {differ} differs"
            : got.Length != sent.Length ? $"not as sent: {sent.Length} were sent"
            : AsSent;
        return string.Create(CultureInfo.InvariantCulture, $"{got.Length} bytes{fin}, {verdict}");
    }

    /// <summary>How a segment sent into the zero window asks for the receiver's window.</summary>
    public enum ProbeForm
    {
        /// <summary>No data, sequence number SND.UNA − 1: outside the window, so the receiver must answer (Linux's tcp_xmit_probe_skb).</summary>
        OldSequence,
        /// <summary>One octet of new data at SND.UNA, beyond the window (RFC 9293 §3.8.6.1; BSD's probe).</summary>
        NewByte,
        /// <summary>Anything else: no probe.</summary>
        Other,
    }

    /// <summary>One probe as the link carried it (<paramref name="Seq"/> relative to the sender's ISN), and the receiver's answer (null when it sent none before the next probe).</summary>
    public sealed record Probe(WirePacket Packet, uint Seq, ProbeForm Form, WirePacket? Answer);

    /// <summary>
    /// The zero window and what followed: the receiver's first zero window (and SND.UNA then, relative), its window
    /// update, the first non-zero window that reached the sender, every segment the sender sent in between (the probes;
    /// a resend of data the zero window had acknowledged is none),
    /// the probe whose answer that was, and the sender's first data after it.
    /// </summary>
    public sealed record ZeroWindowEpisode(WirePacket? Zero, uint Una, WirePacket? Update, WirePacket? Opened, IReadOnlyList<Probe> Probes, Probe? Recovered, WirePacket? Resumed)
    {
        /// <summary>The gaps between consecutive probes on the link.</summary>
        public IReadOnlyList<TimeSpan> Intervals => [.. Probes.Skip(1).Zip(Probes, (later, earlier) => later.Packet.At - earlier.Packet.At)];
    }

    /// <summary>Reads the episode off the link: by the packets' order as the tap saw them, the sender's own times for its segments.</summary>
    public static ZeroWindowEpisode Episode(LabRecord r, FourTuple c, LabSide sender)
    {
        ArgumentNullException.ThrowIfNull(r);
        IReadOnlyList<WirePacket> all = r.PacketsOf(c);
        bool FromSender(WirePacket p) => p.ToKernel == (sender == LabSide.UserTcp);
        int Find(int from, Func<WirePacket, bool> which)
        {
            for (int i = Math.Max(0, from); i < all.Count; i++)
            {
                if (which(all[i])) return i;
            }
            return -1;
        }
        int zero = Find(0, p => !FromSender(p) && p.Segment.AdvertisesZeroWindow);
        if (zero < 0) return new ZeroWindowEpisode(null, 0, null, null, [], null, null);
        int update = Find(zero + 1, p => !FromSender(p) && p.Segment.AdvertisesWindow && p.Segment.Window != 0);
        int opened = update < 0 ? -1 : Find(update, p => !FromSender(p) && p.Segment.AdvertisesWindow && p.Segment.Window != 0 && !p.Dropped);
        int end = opened < 0 ? all.Count : opened;
        SeqNumbering numbering = r.Numbering(c);
        // SND.UNA while the window was shut: what the receiver's last zero window acknowledged.
        SeqNumber una = all.Take(end).Where(p => !FromSender(p) && p.Segment.AdvertisesZeroWindow).Last().Segment.AcknowledgmentNumber;
        TimeSpan shutAt = all[zero].ArrivedAt;
        var sent = new List<int>();
        for (int i = zero + 1; i < end; i++)
        {
            WirePacket p = all[i];
            // Data the zero window already acknowledged is no probe: a resend (a tail-loss probe) that crossed that ACK.
            bool acknowledged = p.Segment.PayloadLength > 0 && p.Segment.SequenceNumber + p.Segment.PayloadLength <= una;
            if (FromSender(p) && p.Segment.AdvertisesWindow && p.At >= shutAt && !acknowledged) sent.Add(i);
        }
        var probes = new List<Probe>();
        for (int n = 0; n < sent.Count; n++)
        {
            WirePacket p = all[sent[n]];
            ProbeForm form = p.Segment.PayloadLength == 0 && p.Segment.SequenceNumber == una - 1 ? ProbeForm.OldSequence
                : p.Segment.PayloadLength == 1 && p.Segment.SequenceNumber == una ? ProbeForm.NewByte
                : ProbeForm.Other;
            // The receiver's answer comes after the probe and before the next one; its spontaneous window update is no answer.
            int until = n + 1 < sent.Count ? sent[n + 1] : Math.Min(all.Count, end + 1);
            WirePacket? answer = null;
            for (int i = sent[n] + 1; i < until && answer is null; i++)
            {
                if (!FromSender(all[i]) && i != update) answer = all[i];
            }
            probes.Add(new Probe(p, numbering.Seq(p), form, answer));
        }
        WirePacket? openedPacket = opened < 0 ? null : all[opened];
        Probe? recovered = openedPacket is null ? null : probes.FirstOrDefault(p => p.Answer == openedPacket);
        int resumed = opened < 0 ? -1 : Find(opened + 1, p => FromSender(p) && p.Segment.PayloadLength > 0);
        return new ZeroWindowEpisode(all[zero], numbering.Of(sender, una), update < 0 ? null : all[update], openedPacket, probes, recovered, resumed < 0 ? null : all[resumed]);
    }

    public override LabVerdict Judge(LabRecord r)
    {
        FourTuple c = First(r);
        var v = new VerdictBuilder();
        bool userTcpSends = r.Role == LabRole.UserTcpActive;
        (LabSide sender, LabSide receiver, string senderName, string receiverName) = TransferSides(userTcpSends);
        ZeroWindowEpisode e = Episode(r, c, sender);
        LabMark? read = r.Marks.FirstOrDefault(m => m.Side == receiver && m.What.StartsWith(ReadMark, StringComparison.Ordinal));
        LabMark? end = r.Marks.LastOrDefault(m => m.Side == receiver && m.What.StartsWith("read ", StringComparison.Ordinal) && m != read);
        IReadOnlyList<Probe> beforeRead = [.. e.Probes.Where(p => read is not null && p.Packet.At < read.At)];
        IReadOnlyList<TimeSpan> gaps = e.Intervals;
        bool backsOff = gaps.Count >= 2 && BacksOff(new Transmissions(0, ".", [.. e.Probes.Select(p => p.Packet.At)], [.. e.Probes.Select(p => p.Packet.Dropped)]));
        string expected = string.Create(CultureInfo.InvariantCulture, $"read {Size} bytes and the FIN, {AsSent}");

        v.Expect($"{receiverName}'s window falls to zero while its application does not read", e.Zero is not null,
            e.Zero is null ? "no zero window advertised" : $"zero window at {LabRecord.Seconds(e.Zero.At)}, acknowledging seq {e.Una}");
        v.Expect($"{receiverName}'s application reads, and its first window update is lost on the link",
            read is not null && e.Update is { Dropped: true } && e.Update.At >= read.At,
            e.Update is null ? "no window update" : $"window update (win {Win(r, c, e.Update)}) at {LabRecord.Seconds(e.Update.At)}"
                + (e.Update.Dropped ? ", dropped" : ", not dropped") + (read is null ? ", no read" : $"; the read at {LabRecord.Seconds(read.At)}"));
        v.Expect($"{senderName} probes the zero window on its persist timer, at least twice before the receiver reads", beforeRead.Count >= 2,
            e.Probes.Count == 0 ? "no probe" : $"{Count(e.Probes.Count, "probe")} at {List(e.Probes.Select(p => p.Packet.At))}, {beforeRead.Count} before the read");
        v.Expect("each probe asks for the window without sending into it: no data at SND.UNA − 1 (Linux), or one byte of new data at SND.UNA (RFC 9293 §3.8.6.1)",
            e.Probes.Count > 0 && e.Probes.All(p => p.Form != ProbeForm.Other), e.Probes.Count == 0 ? "no probe" : Forms(e));
        v.Expect("the probes back off: each interval longer than the last, doubling from the RTO", backsOff,
            gaps.Count == 0 ? "fewer than two probes" : $"intervals {List(gaps)}");
        v.Expect($"a probe's answer carries the open window, and {senderName} resumes on it: the connection does not hang",
            e.Recovered is not null && e.Resumed is not null,
            e.Opened is null ? "the window never reached the sender open"
                : e.Recovered is null ? $"the open window (win {Win(r, c, e.Opened)}) at {LabRecord.Seconds(e.Opened.At)} answered no probe"
                : $"the answer to probe {e.Probes.ToList().IndexOf(e.Recovered) + 1} (win {Win(r, c, e.Opened)}) at {LabRecord.Seconds(e.Opened.At)}; "
                    + (e.Resumed is null ? "no data after it" : $"data again at {LabRecord.Seconds(e.Resumed.At)}"));
        v.Expect("all the data arrives once and in order: the bytes read are the bytes sent", end?.What.StartsWith(expected, StringComparison.Ordinal) == true,
            end?.What ?? "nothing read");
        if (!userTcpSends)
        {
            long counted = r.KernelCounter("TcpExtTCPWinProbe");
            v.Expect("the kernel counts each probe it sent (TcpExtTCPWinProbe)", e.Probes.Count > 0 && counted >= e.Probes.Count,
                string.Create(CultureInfo.InvariantCulture, $"TCPWinProbe {counted}, {e.Probes.Count} seen before the window opened"));
        }

        string observed = Observed(r, c, e, read, end, userTcpSends, senderName, receiverName) + " " + Sampling(r);
        return v.Build(this, r, observed, SeedAgreement.NoClaim, "", Schedule(r, c, LabSide.Kernel), Schedule(r, c, LabSide.UserTcp));
    }

    private static string Observed(LabRecord r, FourTuple c, ZeroWindowEpisode e, LabMark? read, LabMark? end, bool userTcpSends, string senderName, string receiverName)
    {
        if (e.Zero is null) return $"{Capitalized(receiverName)}'s window never fell to zero, so the question was not put.";
        string control = r.KernelCongestionControl.LinuxName();
        int answered = e.Probes.Count(p => p.Answer is not null);
        int recoveredBy = e.Recovered is null ? 0 : e.Probes.ToList().IndexOf(e.Recovered) + 1;
        List<TimeSpan> timers = userTcpSends ? [] : KernelPersistTimers(r, c, e);
        string text = $"{Capitalized(receiverName)} (receive buffer {(userTcpSends ? $"SO_RCVBUF {KernelReceiveBuffer}" : $"{UserTcpReceiveBuffer} bytes, auto-tuning off")}) "
            + $"advertised a zero window at {LabRecord.Seconds(e.Zero.At)}, having acknowledged {e.Una - 1} bytes, and its application held off reading until {Count(ProbesBeforeRead, "probe")} had come. "
            + $"{Capitalized(senderName)}{(userTcpSends ? "" : $" ({control})")} probed the shut window on its persist timer: "
            + (e.Probes.Count == 0 ? "no probe at all. "
                : $"{Count(e.Probes.Count, "probe")} at {List(e.Probes.Select(p => p.Packet.At))}, the first {LabRecord.Milliseconds(e.Probes[0].Packet.At - e.Zero.ArrivedAt)} after the zero window reached it"
                    + (e.Intervals.Count > 0 ? $", then at intervals of {List(e.Intervals)}" : "")
                    + (timers.Count > 0 ? $" (its persist timer in sock_diag right after each probe but the last: {List(timers)})" : "")
                    + (userTcpSends ? " — UserTcp's persist interval starts at its RTO and doubles per probe up to its maximum RTO" : " — Linux's tcp_probe_timer starts at the RTO (tcp_probe0_base) and doubles per probe (tcp_probe0_when), capped at TCP_RTO_MAX, 120 s")
                    + $". {FormSentence(e, senderName)} ")
            + $"{Capitalized(receiverName)} answered {answered} of the {Count(e.Probes.Count, "probe")}"
            + (answered < e.Probes.Count ? " (an ACK for an out-of-window segment without data goes at most once per 500 ms: Linux's tcp_invalid_ratelimit, UserTcp's InvalidAckInterval)" : "")
            + ". "
            + (read is null ? $"{Capitalized(receiverName)}'s application never read. " : $"Its application read at {LabRecord.Seconds(read.At)}; ")
            + (e.Update is null ? "no window update followed. "
                : $"the window update it sent at {LabRecord.Seconds(e.Update.At)} (win {Win(r, c, e.Update)}) {(e.Update.Dropped ? "was lost on the link" : "got through")}. ")
            + (e.Recovered is not null && e.Opened is not null
                ? $"The {Ordinal(recoveredBy)} probe drew the ACK that carried the open window (win {Win(r, c, e.Opened)}) at {LabRecord.Seconds(e.Opened.At)}"
                    + (e.Resumed is null ? ", but no data followed. "
                        : $", and {senderName} sent data again at {LabRecord.Seconds(e.Resumed.At)}: "
                            + (read is null ? "" : $"{LabRecord.Milliseconds(e.Resumed.At - read.At)} after the read, ")
                            + $"{LabRecord.Milliseconds(e.Resumed.At - e.Zero.At)} after the window closed. The connection did not hang; the persist timer recovered it. ")
                : e.Opened is not null ? $"The open window reached {senderName} at {LabRecord.Seconds(e.Opened.At)}, but not as the answer to a probe. "
                : $"The open window never reached {senderName}: the connection hung. ")
            + (end is null ? "" : $"{Capitalized(receiverName)}'s application {end.What}.");
        return text;
    }

    private static string FormSentence(ZeroWindowEpisode e, string senderName)
    {
        ProbeForm[] forms = [.. e.Probes.Select(p => p.Form).Distinct()];
        string linux = $"Each probe carried no data and seq {e.Una - 1}, SND.UNA − 1: a segment below the window, which the receiver must answer with an ACK carrying its current window "
            + "(Linux's tcp_write_wakeup → tcp_xmit_probe_skb; RFC 9293 §3.8.6.1 describes a probe of one octet of new data instead).";
        string rfc = $"Each probe carried one byte of new data at seq {e.Una}, SND.UNA, beyond the window (RFC 9293 §3.8.6.1's probe; Linux's carry no data, at SND.UNA − 1).";
        return forms switch
        {
            [ProbeForm.OldSequence] => linux,
            [ProbeForm.NewByte] => rfc,
            _ => $"{Capitalized(senderName)}'s segments in the shut window: {Forms(e)}.",
        };
    }

    private static string Forms(ZeroWindowEpisode e) => string.Join("; ", e.Probes.Select(p => string.Create(CultureInfo.InvariantCulture,
        $"{LabRecord.Seconds(p.Packet.At)} {p.Form switch { ProbeForm.OldSequence => "no data, SND.UNA − 1", ProbeForm.NewByte => "1 byte at SND.UNA", _ => $"{p.Packet.Segment.PayloadLength} byte(s) at seq {p.Seq}" }}")));

    /// <summary>
    /// The kernel's persist timer as its socket table showed it at the first sample after each probe and before the next
    /// (the interval armed, less the sample's delay), for the probes before the window opened; empty when a sample is missing.
    /// </summary>
    private static List<TimeSpan> KernelPersistTimers(LabRecord r, FourTuple c, ZeroWindowEpisode e)
    {
        IReadOnlyList<KernelSocketSample> samples = r.KernelChanges(c);
        var timers = new List<TimeSpan>();
        for (int i = 0; i + 1 < e.Probes.Count; i++)
        {
            TimeSpan from = e.Probes[i].Packet.At, until = e.Probes[i + 1].Packet.At;
            KernelSocketSample? next = samples.Where(s => s.At >= from && s.At < until && s.Timer == KernelTcpTimer.Persist).Cast<KernelSocketSample?>().FirstOrDefault();
            if (next is not { } sample) return [];
            timers.Add(sample.Expires);
        }
        return timers;
    }

    // In bytes, after window scaling, as the ladder names it.
    private static string Win(LabRecord r, FourTuple c, WirePacket p) => LabRecord.WindowBytes(p, r.WindowShifts(c)).ToString(CultureInfo.InvariantCulture);

}
