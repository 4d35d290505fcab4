using System.Globalization;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>What scenarios share: reading schedules and states out of a record, and the common ways of driving a close.</summary>
public static class ScenarioKit
{
    /// <summary>How long a scenario waits for a state it expects before judging what it has.</summary>
    public static readonly TimeSpan StateTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// One line per segment a side sent more than once: "FIN (seq 1): sent at 0.212 s, then again after +0.204 s, +0.412 s";
    /// in a run of several connections each line names its own as the graphs do, the kernel's port first ("40878 ↔ 5023: FIN …").
    /// </summary>
    public static IReadOnlyList<string> Schedule(LabRecord record, FourTuple connection, LabSide side)
    {
        var lines = new List<string>();
        string which = record.Connections.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $"{connection.Remote.Port} ↔ {connection.Local.Port}: ") : "";
        foreach (Transmissions t in record.Sent(connection, side).Where(t => t.Retransmissions > 0))
        {
            string what = t.Flags.Contains('S', StringComparison.Ordinal) ? "SYN" : t.Flags.Contains('F', StringComparison.Ordinal) ? "FIN" : "data";
            int dropped = t.Dropped.Count(d => d);
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{which}{what} [{t.Flags}] seq {t.RelativeSeq}: {t.Describe()} ({t.Retransmissions} retransmission{(t.Retransmissions == 1 ? "" : "s")}, {dropped} of {t.Times.Count} dropped by the link)"));
        }
        return lines;
    }

    /// <summary>"0.204, 0.408, 0.816 s".</summary>
    public static string Intervals(Transmissions t) =>
        t.Intervals.Count == 0 ? "none" : string.Join(", ", t.Intervals.Select(i => i.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture))) + " s";

    /// <summary>
    /// Whether the gaps between transmissions grow as a backed-off timer's do, as seen on the link. UserTcp's times
    /// include its own scheduling delay (a late send lengthens one gap and shortens the next; the kernel's are its send
    /// instants, <see cref="KernelTransmitTimes"/>), and Linux's first
    /// retransmission may be a tail-loss probe rather than an RTO expiry, so no single pair of gaps is trusted: the last
    /// gap must be at least 1.6 times the shortest (1.3 times with only two gaps). A timer that does not back off keeps
    /// its gaps equal and fails this. Where a side's own timer can be read, <see cref="TimerBacksOff"/> uses that instead.
    /// </summary>
    public static bool BacksOff(Transmissions t)
    {
        IReadOnlyList<TimeSpan> gaps = t.Intervals;
        if (gaps.Count < 2) return false;
        double shortest = gaps.Min(g => g.TotalSeconds);
        return gaps[^1].TotalSeconds >= shortest * (gaps.Count >= 3 ? 1.6 : 1.3);
    }

    /// <summary>
    /// The kernel's retransmission timeouts as its socket table showed them: the time left on the retransmission timer
    /// at the first sample after each retransmission the kernel counted (tail-loss probes are not counted). Sampled by a
    /// reniced thread about every millisecond, so each is the armed RTO less at most a sample's delay.
    /// </summary>
    public static IReadOnlyList<TimeSpan> KernelRtos(LabRecord record, FourTuple connection)
    {
        var rtos = new List<TimeSpan>();
        byte counted = 0;
        foreach (KernelSocketSample sample in record.KernelChanges(connection))
        {
            if (sample.Retransmits > counted && sample.Timer == KernelTcpTimer.Retransmit) rtos.Add(sample.Expires);
            if (sample.State is not null) counted = Math.Max(counted, sample.Retransmits);
        }
        return rtos;
    }

    /// <summary>
    /// Whether a side's retransmission timeout backed off, judged from its own timer (exact) rather than from the link
    /// (whose times include scheduling delays): UserTcp's armed RTOs double; the kernel's grow at least
    /// 1.6-fold per retransmission. With too few timer readings, the link's gaps decide.
    /// </summary>
    public static (bool BacksOff, string Observed) TimerBacksOff(LabRecord record, FourTuple connection, LabSide side, Transmissions? onTheLink)
    {
        if (side == LabSide.UserTcp)
        {
            IReadOnlyList<TimeSpan> rtos = UserTcpRtos(record, connection);
            if (rtos.Count >= 2) return (Doubles(rtos, record.UserTcpConfig.MaxRto), $"UserTcp's RTOs armed: {List(rtos)}");
        }
        else
        {
            IReadOnlyList<TimeSpan> rtos = KernelRtos(record, connection);
            if (rtos.Count >= 2)
            {
                bool grows = rtos.Zip(rtos.Skip(1)).All(p => p.Second.TotalSeconds >= p.First.TotalSeconds * 1.6);
                return (grows, $"the kernel's RTO after each retransmission (sock_diag): {List(rtos)}");
            }
        }
        return (onTheLink is not null && BacksOff(onTheLink), onTheLink is null ? "nothing retransmitted" : $"gaps on the link {Intervals(onTheLink)}");
    }

    /// <summary>UserTcp's own retransmission timeouts on a connection, as its engine armed them (exact, unlike the link's view).</summary>
    public static IReadOnlyList<TimeSpan> UserTcpRtos(LabRecord record, FourTuple connection) =>
        [.. record.UserTcpRetransmissions(connection).Where(e => e.Cause == TcpCause.RetransmissionTimeout).Select(e => e.Deadline - e.Time)];

    /// <summary>Whether each RTO is twice the one before, up to the maximum (RFC 6298 §5.5).</summary>
    public static bool Doubles(IReadOnlyList<TimeSpan> rtos, TimeSpan max) =>
        rtos.Count >= 2 && rtos.Zip(rtos.Skip(1)).All(p => Math.Abs(p.Second.TotalMilliseconds - Math.Min(p.First.TotalMilliseconds * 2, max.TotalMilliseconds)) < 2);

    /// <summary>"0.400, 0.800, 1.600 s".</summary>
    public static string List(IEnumerable<TimeSpan> times) => string.Join(", ", times.Select(t => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture))) + " s";

    /// <summary>The kernel's path "ESTABLISHED → CLOSE-WAIT → LAST-ACK → (gone)".</summary>
    public static string KernelPath(LabRecord record, FourTuple connection) => LabRecord.Path(record.KernelStates(connection));

    /// <summary>UserTcp's path "ESTABLISHED → FIN-WAIT-1 → ...".</summary>
    public static string UserTcpPath(LabRecord record, FourTuple connection) => LabRecord.Path(record.UserTcpStates(connection));

    /// <summary>The first connection of the run, or a default when there was none (the verdict then fails on its own).</summary>
    public static FourTuple First(LabRecord record) => record.Connections.Count > 0 ? record.Connections[0] : default;

    /// <summary>The segments UserTcp sent in a state (by its state at the time), e.g. the ACKs TIME-WAIT sent.</summary>
    public static IReadOnlyList<WirePacket> UserTcpSentIn(LabRecord record, FourTuple connection, string state, Func<WirePacket, bool> which)
    {
        IReadOnlyList<StateSpan> spans = record.UserTcpStates(connection);
        return [.. record.From(connection, LabSide.UserTcp, which).Where(p => StateAt(spans, p.At) == state)];
    }

    /// <summary>The state a side was in at an instant (the last change at or before it).</summary>
    public static string? StateAt(IReadOnlyList<StateSpan> spans, TimeSpan at)
    {
        string? state = null;
        foreach (StateSpan span in spans)
        {
            if (span.At > at) break;
            state = span.State;
        }
        return state;
    }

    /// <summary>The sentence that ends most observations: how long the record ran and how closely the kernel was watched.</summary>
    public static string Sampling(LabRecord record) => string.Create(CultureInfo.InvariantCulture,
        $"(The kernel's socket table was read {record.KernelSamples} times, at most {record.KernelLongestGap.TotalMilliseconds:0.0} ms apart{(record.PacketTiming is null ? "" : $"; {record.PacketTiming}")}.)");

    /// <summary>
    /// The usual close: the active closer (UserTcp in the active role, the kernel in the passive one) closes; the passive
    /// side's application reads the end of the stream and closes in turn, as a server does.
    /// </summary>
    public static async Task CloseInTurnAsync(LabSession s, LabConnection c)
    {
        if (s.Role == LabRole.UserTcpActive)
        {
            PeerThread<StreamEnd> kernel = await KernelReadsToEndThenClosesAsync(s, c.Kernel).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            if ((await kernel.Completion.ConfigureAwait(false)).ClosedAt is TimeSpan closed) s.Mark(LabSide.Kernel, "read() = 0, close()", c.Id, closed);
        }
        else
        {
            s.Mark(LabSide.Kernel, "close()", c.Id);
            c.Kernel.Close();
            int read = await c.UserTcp.ReadAsync(new byte[1024], s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
            if (read != 0) return;
            s.Mark(LabSide.UserTcp, "read() = 0, close()", c.Id);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The kernel connects from <paramref name="fromPort"/> (bound, so a scenario can connect from it again) to UserTcp's
    /// <paramref name="listener"/> on <paramref name="toPort"/>; the connection as both sides hold it.
    /// </summary>
    public static async Task<LabConnection> KernelConnectsFromAsync(LabSession s, UserTcp.Sockets.UserTcpListener listener, ushort fromPort, ushort toPort)
    {
        KernelSocket kernel = s.Track(s.NewKernelSocket(new System.Net.IPEndPoint(LabSession.KernelAddress, fromPort)));
        await kernel.ConnectAsync(LabSession.UserTcpEndPoint(toPort), StateTimeout).ConfigureAwait(false);
        UserTcp.Sockets.UserTcpConnection accepted = await listener.AcceptAsync(s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        return new LabConnection(kernel, accepted, new FourTuple(accepted.LocalEndpoint, accepted.RemoteEndpoint));
    }

    /// <summary>
    /// A one-way transfer that ends with everything acknowledged and the connection open: the sender (UserTcp in the
    /// active role, the kernel in the passive one) writes <paramref name="data"/>, the receiver's application reads all of
    /// it (marked as <see cref="Scenarios.TailLoss.Received"/> says it), then the sender waits until nothing is unacknowledged. The
    /// kernel sends on a thread of its own, as its application would, its send blocking while its buffer is full;
    /// <paramref name="bound"/>, when given, bounds the receiver's whole read. Both sides' TCP_INFO is watched meanwhile,
    /// cwnd and ssthresh too (<see cref="TcpInfoWatch"/>), for the verdicts and the report's congestion-window graph.
    /// </summary>
    public static async Task TransferUntilAcknowledgedAsync(LabSession s, LabConnection c, byte[] data, TimeSpan? bound = null)
    {
        await using TcpInfoWatch watch = await TcpInfoWatch.StartAsync(s, c, congestion: true).ConfigureAwait(false);
        TimeSpan whole = bound ?? Timeout.InfiniteTimeSpan;
        if (s.Role == LabRole.UserTcpActive)
        {
            PeerThread<(byte[] Data, TimeSpan At)> reader = await PeerThread.StartAsync("lab kernel read",
                () => (KernelReadsExactly(c.Kernel, data.Length), s.Now), s.Token).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"write {data.Length} bytes", c.Id);
            await c.UserTcp.WriteAsync(data, s.Token).ConfigureAwait(false);
            (byte[] got, TimeSpan at) = await reader.Completion.WaitAsync(whole, s.Token).ConfigureAwait(false);
            s.Mark(LabSide.Kernel, Scenarios.TailLoss.Received(got, data), c.Id, at);
            await s.UntilAsync(() => c.UserTcp.BytesNotAcknowledged == 0, StateTimeout).ConfigureAwait(false);
            return;
        }
        s.Mark(LabSide.Kernel, $"send {data.Length} bytes", c.Id);
        PeerThread<bool> sender = await PeerThread.StartAsync("lab kernel send", () =>
        {
            c.Kernel.Send(data);
            return true;
        }, s.Token).ConfigureAwait(false);
        byte[] read = await UserTcpReadsExactlyAsync(s, c.UserTcp, data.Length).WaitAsync(whole, s.Token).ConfigureAwait(false);
        s.Mark(LabSide.UserTcp, Scenarios.TailLoss.Received(read, data), c.Id);
        await sender.Completion.WaitAsync(StateTimeout, s.Token).ConfigureAwait(false);
        await s.UntilAsync(() => c.Kernel.Info().Unacked == 0, StateTimeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a part of a scenario and notes on its connection what the kernel's counters gained meanwhile
    /// (<see cref="LabRecord.KernelCounterNoted"/> reads them back): the namespace's counters cover every connection, and
    /// a part that ends before its close keeps the close's own probes out.
    /// </summary>
    public static async Task NotingKernelCountersAsync(LabSession s, FourTuple connection, Func<Task> part)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(part);
        IReadOnlyDictionary<string, long> before = KernelCounters.Read(s.Namespace);
        await part().ConfigureAwait(false);
        foreach ((string name, long gained) in KernelCounters.Change(before, KernelCounters.Read(s.Namespace))) s.Note(LabSide.Kernel, connection, name, gained);
    }

    /// <summary>
    /// A one-way transfer and its close: the sender (UserTcp in the active role, the kernel in the passive one) writes
    /// <paramref name="size"/> bytes and closes; the receiver's application reads to the FIN and closes, after
    /// <paramref name="receiverHold"/> if one is given. Both sides' TCP_INFO is watched meanwhile, cwnd and ssthresh too
    /// (<see cref="TcpInfoWatch"/>; the kernel's from the socket table once it has closed), for the congestion-window graph.
    /// </summary>
    public static async Task SendThenCloseAsync(LabSession s, LabConnection c, int size, TimeSpan receiverHold = default)
    {
        await using TcpInfoWatch watch = await TcpInfoWatch.StartAsync(s, c, congestion: true).ConfigureAwait(false);
        if (s.Role == LabRole.UserTcpActive)
        {
            PeerThread<StreamEnd> peer = await KernelReadsToEndThenClosesAsync(s, c.Kernel, receiverHold).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, $"write {size} bytes, close()", c.Id);
            await c.UserTcp.WriteAsync(new byte[size], s.Token).ConfigureAwait(false);
            await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
            StreamEnd end = await peer.Completion.ConfigureAwait(false);
            s.Mark(LabSide.Kernel, $"read {end.Bytes} bytes{(end.Ended ? " and the FIN" : "")}, close()", c.Id, end.ClosedAt ?? s.Now);
            c.Kernel.Close();
            return;
        }
        s.Mark(LabSide.Kernel, $"send {size} bytes, close()", c.Id);
        c.Kernel.Send(new byte[size]);
        c.Kernel.Close();
        long total = await UserTcpReadsToEndAsync(s, c.UserTcp).ConfigureAwait(false);
        if (receiverHold > TimeSpan.Zero)
        {
            s.Mark(LabSide.UserTcp, $"read {total} bytes and the FIN", c.Id);
            await s.Delay(receiverHold).ConfigureAwait(false);
            s.Mark(LabSide.UserTcp, "close()", c.Id);
        }
        else
        {
            s.Mark(LabSide.UserTcp, $"read {total} bytes and the FIN, close()", c.Id);
        }
        await c.UserTcp.CloseAsync(s.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// The kernel's application sends <paramref name="data"/> and closes, on a thread of its own, as its application
    /// would: the send blocks while the peer's window is shut and its SO_SNDBUF is full.
    /// </summary>
    public static Task<PeerThread<bool>> KernelSendsThenClosesAsync(LabSession s, KernelSocket kernel, byte[] data) =>
        PeerThread.StartAsync("lab kernel send", () =>
        {
            kernel.Send(data);
            kernel.Close();
            return true;
        }, s.Token);

    /// <summary>
    /// UserTcp's application reads as the data comes, <paramref name="bufferSize"/> bytes at most a call, until the FIN
    /// (each read bounded by <see cref="StateTimeout"/>); returns the bytes read.
    /// </summary>
    public static async Task<long> UserTcpReadsToEndAsync(LabSession s, UserTcp.Sockets.UserTcpConnection connection, int bufferSize = 65536)
    {
        byte[] buffer = new byte[bufferSize];
        long total = 0;
        int read;
        while ((read = await connection.ReadAsync(buffer, s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false)) > 0) total += read;
        return total;
    }

    /// <summary>The kernel's application reads until it has <paramref name="size"/> bytes (or <see cref="StateTimeout"/> passes without more); returns what it read.</summary>
    public static byte[] KernelReadsExactly(KernelSocket kernel, int size)
    {
        var got = new List<byte>(size);
        while (got.Count < size && kernel.Read(StateTimeout, size - got.Count) is { Length: > 0 } chunk) got.AddRange(chunk);
        return [.. got];
    }

    /// <summary>UserTcp's application reads until it has <paramref name="size"/> bytes or the FIN (each read bounded by <see cref="StateTimeout"/>); returns what it read.</summary>
    public static async Task<byte[]> UserTcpReadsExactlyAsync(LabSession s, UserTcp.Sockets.UserTcpConnection connection, int size)
    {
        byte[] buffer = new byte[size];
        int total = 0, read;
        while (total < size && (read = await connection.ReadAsync(buffer.AsMemory(total), s.Token).AsTask().WaitAsync(StateTimeout, s.Token).ConfigureAwait(false)) > 0) total += read;
        return buffer[..total];
    }

    /// <summary>
    /// The kernel's application reads to the end of the stream and closes at the FIN, on a thread of its own (see
    /// <see cref="PeerThread{T}"/>); returns once that thread is ready, so start it before the other side closes.
    /// </summary>
    public static Task<PeerThread<StreamEnd>> KernelReadsToEndThenClosesAsync(LabSession s, KernelSocket kernel, TimeSpan hold = default) =>
        PeerThread.StartAsync("lab kernel peer", () => kernel.ReadToEndThenClose(StateTimeout, () => s.Now, hold), s.Token);

    /// <summary>
    /// The kernel application's read() on a thread of its own at nice -20 (<see cref="PeerThread"/>), not on the thread
    /// pool, which a busy machine can leave waiting: what it read, or null when <paramref name="timeout"/> ran out.
    /// </summary>
    public static async Task<byte[]?> KernelReadAsync(LabSession s, KernelSocket kernel, TimeSpan timeout)
    {
        PeerThread<byte[]?> reader = await PeerThread.StartAsync("lab kernel read", () => kernel.Read(timeout), s.Token).ConfigureAwait(false);
        return await reader.Completion.WaitAsync(s.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Raises the kernel's minimum RTO on the link's route (ip route ... rto_min), inside the run's namespace only, and
    /// marks on the timeline whether it took.
    /// </summary>
    public static void SetKernelRtoMin(LabSession s, TimeSpan rtoMin)
    {
        ArgumentNullException.ThrowIfNull(s);
        UserTcp.Tun.InterfaceAddress kernel = s.Live.Settings.KernelAddress;
        uint mask = uint.MaxValue << (32 - kernel.PrefixLength);
        var network = new Ipv4Address(Ipv4Address.Parse(kernel.Address.ToString()).Value & mask);
        string value = string.Create(CultureInfo.InvariantCulture, $"{rtoMin.TotalMilliseconds:0}ms");
        ToolOutcome route = IpTool.Run(TimeSpan.FromSeconds(10), "-n", s.Namespace.Name, "route", "replace",
            $"{network}/{kernel.PrefixLength}", "dev", s.Live.Settings.InterfaceName, "proto", "kernel", "scope", "link", "src", kernel.Address.ToString(), "rto_min", value);
        s.Mark(LabSide.Kernel, route.Succeeded ? $"route rto_min {value}" : $"route rto_min not set: {route.Describe()}");
    }

    /// <summary>Whether a side's application read all <paramref name="size"/> bytes of a connection, once and in order (the mark <see cref="Scenarios.TailLoss.Received"/> writes).</summary>
    public static bool ArrivedAsWritten(LabRecord record, FourTuple connection, LabSide side, int size)
    {
        ArgumentNullException.ThrowIfNull(record);
        string whole = string.Create(CultureInfo.InvariantCulture, $"read {size} bytes, as written");
        return record.Marks.Any(m => m.Side == side && m.Connection == connection && m.What == whole);
    }

    /// <summary>The reads a side's application marked on a connection, "; "-joined ("" when none).</summary>
    public static string ReadsOf(LabRecord record, FourTuple connection, LabSide side)
    {
        ArgumentNullException.ThrowIfNull(record);
        return string.Join("; ", record.Marks.Where(m => m.Side == side && m.Connection == connection && m.What.StartsWith("read", StringComparison.Ordinal)).Select(m => m.What));
    }

    /// <summary>The first element, or null for an empty list.</summary>
    public static T? FirstOf<T>(IReadOnlyList<T> list) where T : class => list.Count > 0 ? list[0] : null;

    public static bool IsFin(WirePacket p) => p.Segment.Has(TcpFlags.Fin);
    public static bool IsPureAck(WirePacket p) => p.Segment.Flags == TcpFlags.Ack && p.Segment.PayloadLength == 0;

    /// <summary>"The kernel" for "the kernel": a side's name at the start of a sentence.</summary>
    public static string Capitalized(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    private static readonly string[] OrdinalWords = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];

    /// <summary>"first" to "tenth" in words, then "11th", "21st", "22nd", "23rd": which of several, in a sentence.</summary>
    public static string Ordinal(int n)
    {
        if (n >= 1 && n <= OrdinalWords.Length) return OrdinalWords[n - 1];
        // 11th–13th take "th" whatever their last digit.
        string suffix = (n % 100) is >= 11 and <= 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" };
        return string.Create(CultureInfo.InvariantCulture, $"{n}{suffix}");
    }

    /// <summary>A transfer's sides and how the verdicts name them: UserTcp sends when <paramref name="userTcpSends"/> (the active role), else the kernel.</summary>
    public static (LabSide Sender, LabSide Receiver, string SenderName, string ReceiverName) TransferSides(bool userTcpSends) => userTcpSends
        ? (LabSide.UserTcp, LabSide.Kernel, "UserTcp", "the kernel")
        : (LabSide.Kernel, LabSide.UserTcp, "the kernel", "UserTcp");

    /// <summary>"1 probe", "3 probes".</summary>
    public static string Count(int n, string what) => string.Create(CultureInfo.InvariantCulture, $"{n} {what}{(n == 1 ? "" : "s")}");

    /// <summary>"never", "once", "twice", "3 times": how often something was sent.</summary>
    public static string Times(int count) => count switch
    {
        0 => "never",
        1 => "once",
        2 => "twice",
        _ => string.Create(CultureInfo.InvariantCulture, $"{count} times"),
    };
}
