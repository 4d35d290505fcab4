using System.Globalization;
using System.Net;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>Which side did something.</summary>
public enum LabSide
{
    Kernel,
    UserTcp,
}

/// <summary>Something a scenario made one side's application do, and when ("close()", "shutdown(SHUT_WR)").</summary>
public sealed record LabMark(TimeSpan At, LabSide Side, string What, FourTuple? Connection = null);

/// <summary>
/// A number a scenario read from one side while it ran, named as Linux names it: a TCP_INFO field in microseconds
/// ("tcpi_rtt", "tcpi_rto"), or what a kernel counter gained over part of the run ("TcpExtTCPLossProbes").
/// </summary>
public sealed record LabReading(TimeSpan At, LabSide Side, FourTuple Connection, string Name, long Value);

/// <summary>One state a side was in from <see cref="At"/> on; <see cref="State"/> is an RFC name, or "(gone)".</summary>
public sealed record StateSpan(TimeSpan At, string State, string? Why = null);

/// <summary>Every time one segment (by its first sequence number) was sent, and which of those the link dropped.</summary>
public sealed record Transmissions(uint RelativeSeq, string Flags, IReadOnlyList<TimeSpan> Times, IReadOnlyList<bool> Dropped)
{
    /// <summary>Retransmissions: every transmission after the first.</summary>
    public int Retransmissions => Times.Count - 1;

    /// <summary>The gaps between consecutive transmissions.</summary>
    public IReadOnlyList<TimeSpan> Intervals => [.. Times.Skip(1).Zip(Times, (later, earlier) => later - earlier)];

    /// <summary>"sent at 1.004 s, then +0.204, +0.408, +0.816 s".</summary>
    public string Describe()
    {
        if (Times.Count == 0) return "never sent";
        string first = Seconds(Times[0]);
        return Times.Count == 1 ? $"sent once, at {first}" : $"sent at {first}, then again after {string.Join(", ", Intervals.Select(i => Plus(i)))}";
    }

    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.000} s");
    private static string Plus(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"+{t.TotalSeconds:0.000} s");
}

/// <summary>
/// Everything one run of a scenario recorded, on one time axis (the stack's clock): each packet the link carried with
/// the fault that hit it, UserTcp's engine events, the kernel's socket table as sampled, what each application did, and
/// the settings in force. Connections are named from UserTcp's side (local = UserTcp, remote = the kernel's socket).
/// </summary>
public sealed class LabRecord
{
    public required string Scenario { get; init; }
    public required LabRole Role { get; init; }
    public required IReadOnlyList<WirePacket> Packets { get; init; }
    public required IReadOnlyList<TcpEvent> Events { get; init; }
    public required IReadOnlyList<(IPEndPoint Local, IPEndPoint Remote, IReadOnlyList<KernelSocketSample> Changes)> KernelSockets { get; init; }
    public required IReadOnlyList<LabMark> Marks { get; init; }
    public required IReadOnlyDictionary<string, string> KernelSettings { get; init; }
    /// <summary>The congestion control every kernel socket of the run ran (TCP_CONGESTION); UserTcp's is in <see cref="UserTcpConfig"/>.</summary>
    public CongestionControlAlgorithm KernelCongestionControl { get; init; } = CongestionControlAlgorithm.Cubic;
    public required IReadOnlyList<string> Faults { get; init; }
    public required TcpConfig UserTcpConfig { get; init; }
    /// <summary>When the scenario's own driving ended (the record may go on a moment longer while the run settles).</summary>
    public required TimeSpan End { get; init; }
    public required long KernelSamples { get; init; }
    public required TimeSpan KernelLongestGap { get; init; }
    /// <summary>How the kernel's packets are timed: by the kernel's clock (how many of them), or why by UserTcp's reads.</summary>
    public string? PacketTiming { get; init; }
    /// <summary>
    /// What the kernel's TCP counters in the run's namespace gained over the run, named as `nstat` names them
    /// ("TcpExtTCPDSACKUndo"; <see cref="Lab.KernelCounters"/>); the unchanged ones are left out. The namespace holds only the
    /// run's sockets, so these are theirs.
    /// </summary>
    public IReadOnlyDictionary<string, long> KernelCounters { get; init; } = new Dictionary<string, long>();
    /// <summary>
    /// What UserTcp's Tcp and TcpExt counters gained over the run, under the same names (EngineCounters, `usertcp ss
    /// --stats`), so the two sides' accounts of the same events stand side by side; the unchanged ones are left out.
    /// </summary>
    public IReadOnlyDictionary<string, long> UserTcpCounters { get; init; } = new Dictionary<string, long>();
    /// <summary>What the scenario read from either side while it ran (<see cref="LabSession.Note"/>), in order.</summary>
    public IReadOnlyList<LabReading> Readings { get; init; } = [];
    /// <summary>Why the run failed to complete, if it did (an exception, or the time bound).</summary>
    public string? Failure { get; init; }

    /// <summary>Every connection, from UserTcp's side, in order of first appearance on the link or in the engine.</summary>
    public IReadOnlyList<FourTuple> Connections
    {
        get
        {
            var seen = new List<FourTuple>();
            foreach (WirePacket p in Packets)
            {
                FourTuple id = Id(p);
                if (!seen.Contains(id)) seen.Add(id);
            }
            foreach (TcpEvent e in Events)
            {
                if (e.Connection.Remote.Port != 0 && !seen.Contains(e.Connection)) seen.Add(e.Connection);
            }
            return seen;
        }
    }

    /// <summary>The connection a packet belongs to, from UserTcp's side.</summary>
    public static FourTuple Id(WirePacket p)
    {
        var source = new IpEndpoint(p.Segment.Source, p.Segment.SourcePort);
        var destination = new IpEndpoint(p.Segment.Destination, p.Segment.DestinationPort);
        return p.ToKernel ? new FourTuple(source, destination) : new FourTuple(destination, source);
    }

    /// <summary>The packets of one connection, in order.</summary>
    public IReadOnlyList<WirePacket> PacketsOf(FourTuple connection) => [.. Packets.Where(p => Id(p) == connection)];

    /// <summary>The connection whose kernel end is <paramref name="kernelLocal"/> (port only).</summary>
    public FourTuple? ByKernelPort(int port) => Connections.Cast<FourTuple?>().FirstOrDefault(c => c!.Value.Remote.Port == port);

    /// <summary>UserTcp's states of one connection, with when each began and what caused it.</summary>
    public IReadOnlyList<StateSpan> UserTcpStates(FourTuple connection)
    {
        var spans = new List<StateSpan>();
        foreach (TcpEvent e in Events.Where(e => e.Kind == TcpEventKind.StateChanged && e.Connection == connection))
        {
            if (spans.Count == 0)
            {
                spans.Add(new StateSpan(e.Time, e.DiagramOldState.ToRfcName()));
            }
            spans.Add(new StateSpan(e.Time, e.NewState.ToRfcName(), e.Cause.Describe()));
        }
        return spans;
    }

    /// <summary>The kernel's states of one connection as sampled, with when each was first seen ("(gone)" once it left the table).</summary>
    public IReadOnlyList<StateSpan> KernelStates(FourTuple connection)
    {
        var spans = new List<StateSpan>();
        foreach (KernelSocketSample sample in KernelChanges(connection))
        {
            string name = sample.StateName;
            if (spans.Count == 0 || spans[^1].State != name) spans.Add(new StateSpan(sample.At, name));
        }
        return spans;
    }

    /// <summary>Every change the sampler saw on the kernel's socket of one connection.</summary>
    public IReadOnlyList<KernelSocketSample> KernelChanges(FourTuple connection)
    {
        foreach ((IPEndPoint local, IPEndPoint remote, IReadOnlyList<KernelSocketSample> changes) in KernelSockets)
        {
            if (local.Port == connection.Remote.Port && remote.Port == connection.Local.Port
                && local.Address.ToString() == connection.Remote.Address.ToString() && remote.Address.ToString() == connection.Local.Address.ToString())
            {
                return changes;
            }
        }
        return [];
    }

    /// <summary>
    /// The states one side passed through, in order, as "A → B → C"; "… → LAST-ACK" when the first one seen is not where a
    /// connection starts, as the kernel's sampler can first read a socket after its short early states have passed.
    /// </summary>
    public static string Path(IEnumerable<StateSpan> spans)
    {
        IReadOnlyList<string> states = [.. spans.Select(s => s.State)];
        bool missedStart = states.Count > 0 && states[0] is not ("CLOSED" or "LISTEN" or "SYN-SENT" or "SYN-RECEIVED" or "ESTABLISHED");
        return (missedStart ? "… → " : "") + string.Join(" → ", states);
    }

    /// <summary>Whether the side was ever in <paramref name="state"/>.</summary>
    public static bool WasIn(IEnumerable<StateSpan> spans, string state) => spans.Any(s => s.State == state);

    /// <summary>How long a side stayed in a state (first time it entered), up to the next change or the end of the record.</summary>
    public TimeSpan? TimeIn(IReadOnlyList<StateSpan> spans, string state)
    {
        for (int i = 0; i < spans.Count; i++)
        {
            if (spans[i].State != state) continue;
            TimeSpan end = i + 1 < spans.Count ? spans[i + 1].At : End;
            return end - spans[i].At;
        }
        return null;
    }

    /// <summary>The initial sequence number each side used on a connection (from its SYN), for relative numbers.</summary>
    public (SeqNumber? Kernel, SeqNumber? UserTcp) Isns(FourTuple connection)
    {
        SeqNumber? kernel = null, userTcp = null;
        foreach (WirePacket p in PacketsOf(connection).Where(p => p.Segment.Has(TcpFlags.Syn)))
        {
            if (p.ToKernel) userTcp ??= p.Segment.SequenceNumber;
            else kernel ??= p.Segment.SequenceNumber;
        }
        return (kernel, userTcp);
    }

    /// <summary>How the lab prints a connection's sequence and acknowledgment numbers: relative to each side's ISN (<see cref="Isns"/>).</summary>
    public SeqNumbering Numbering(FourTuple connection)
    {
        (SeqNumber? kernel, SeqNumber? userTcp) = Isns(connection);
        return new SeqNumbering(kernel, userTcp);
    }

    /// <summary>
    /// The shift each side's window field is scaled by on a connection: what that side's SYN announced, when both SYNs
    /// carried the option (RFC 7323 §2.2), else 0 (also when the record holds no handshake).
    /// </summary>
    public (int Kernel, int UserTcp) WindowShifts(FourTuple connection)
    {
        IReadOnlyList<WirePacket> syns = [.. PacketsOf(connection).Where(p => p.Segment.Has(TcpFlags.Syn))];
        byte? kernel = syns.FirstOrDefault(p => !p.ToKernel)?.WindowScale, userTcp = syns.FirstOrDefault(p => p.ToKernel)?.WindowScale;
        // RFC 7323 §2.3 caps the shift at 14.
        return kernel is byte k && userTcp is byte u ? (Math.Min((int)k, 14), Math.Min((int)u, 14)) : (0, 0);
    }

    /// <summary>
    /// A segment's window in bytes, as its receiver reads it: the field shifted by its sender's scale (<see cref="WindowShifts"/>);
    /// a SYN's window is never scaled (RFC 7323 §2.2). Wireshark calls it the calculated window size; tcpdump prints the field.
    /// </summary>
    public static long WindowBytes(WirePacket p, (int Kernel, int UserTcp) shifts) =>
        p.Segment.Has(TcpFlags.Syn) ? p.Segment.Window : (long)p.Segment.Window << (p.ToKernel ? shifts.UserTcp : shifts.Kernel);

    /// <summary>
    /// Every packet of a connection that was a sending of sequence space (data, SYN, FIN), in the order its sender sent
    /// them (<see cref="WirePacket.SentAt"/>: a held original before the resend that overtook it), each with which sending
    /// of its first sequence number from that side it was: 1 the first, n + 1 retransmission #n. A copy the link dropped
    /// counts (it left its sender); a try UserTcp's own queue refused does not (<see cref="WirePacket.Refused"/>: it never
    /// left), so the sending after it is a first. The ladder's "retransmission #n", the graphs' retransmission markers and
    /// <see cref="Sent"/> all read this, so they cannot disagree.
    /// </summary>
    public IReadOnlyList<(WirePacket Packet, int Number)> Sendings(FourTuple connection)
    {
        var sendings = new List<(WirePacket, int)>();
        var count = new Dictionary<(bool ToKernel, uint Seq), int>();
        foreach (WirePacket p in PacketsOf(connection).OrderBy(p => p.SentAt)) // stable: equal instants keep the link's order
        {
            if (p.Segment.SegmentLength == 0 || p.Refused) continue;
            var key = (p.ToKernel, p.Segment.SequenceNumber.Value);
            int number = count[key] = count.GetValueOrDefault(key) + 1;
            sendings.Add((p, number));
        }
        return sendings;
    }

    /// <summary>
    /// Each segment one side sent that occupies sequence space (data, SYN, FIN), with every time it was sent: the first
    /// transmission and its retransmissions, as <see cref="Sendings"/> counts them (by when the sender sent them; dropped
    /// ones included; refused ones, which never left UserTcp's own queue, not).
    /// </summary>
    public IReadOnlyList<Transmissions> Sent(FourTuple connection, LabSide side)
    {
        SeqNumbering numbering = Numbering(connection);
        var bySeq = new Dictionary<uint, (string Flags, List<TimeSpan> Times, List<bool> Dropped)>();
        var order = new List<uint>();
        foreach ((WirePacket p, int number) in Sendings(connection))
        {
            if (p.ToKernel != (side == LabSide.UserTcp)) continue;
            uint relative = numbering.Seq(p);
            if (number == 1)
            {
                bySeq[relative] = (PacketFormatter.FlagLetters(p.Segment.Flags), [], []);
                order.Add(relative);
            }
            bySeq[relative].Times.Add(p.SentAt);
            bySeq[relative].Dropped.Add(p.Dropped);
        }
        return [.. order.Select(seq => new Transmissions(seq, bySeq[seq].Flags, bySeq[seq].Times, bySeq[seq].Dropped))];
    }

    /// <summary>Every transmission of the first segment a side sent carrying <paramref name="flag"/> (its FIN, its SYN).</summary>
    public Transmissions? SentWith(FourTuple connection, LabSide side, TcpFlags flag)
    {
        WirePacket? first = PacketsOf(connection).FirstOrDefault(p => p.ToKernel == (side == LabSide.UserTcp) && p.Segment.Has(flag) && !p.Refused);
        if (first is null) return null;
        // The flag's own sequence number: a FIN's is after the data it carries.
        SeqNumber target = flag == TcpFlags.Fin ? first.Segment.SequenceNumber + first.Segment.PayloadLength : first.Segment.SequenceNumber;
        var times = new List<TimeSpan>();
        var dropped = new List<bool>();
        foreach (WirePacket p in PacketsOf(connection).OrderBy(p => p.SentAt))
        {
            if (p.ToKernel != (side == LabSide.UserTcp) || !p.Segment.Has(flag) || p.Refused) continue;
            SeqNumber at = flag == TcpFlags.Fin ? p.Segment.SequenceNumber + p.Segment.PayloadLength : p.Segment.SequenceNumber;
            if (at != target) continue;
            times.Add(p.SentAt);
            dropped.Add(p.Dropped);
        }
        return new Transmissions(Numbering(connection).Of(side, target), PacketFormatter.FlagLetters(first.Segment.Flags), times, dropped);
    }

    /// <summary>The packets one side sent on a connection, optionally only those matching.</summary>
    public IReadOnlyList<WirePacket> From(FourTuple connection, LabSide side, Func<WirePacket, bool>? which = null) =>
        [.. PacketsOf(connection).Where(p => p.ToKernel == (side == LabSide.UserTcp) && (which is null || which(p)))];

    /// <summary>UserTcp's retransmission events on a connection (each with its cause).</summary>
    public IReadOnlyList<TcpEvent> UserTcpRetransmissions(FourTuple connection) =>
        [.. Events.Where(e => e.Kind == TcpEventKind.Retransmission && e.Connection == connection)];

    /// <summary>What the kernel's counter of that name (as nstat names it) gained over the run; 0 when it did not change.</summary>
    public long KernelCounter(string name) => KernelCounters.GetValueOrDefault(name);

    /// <summary>What UserTcp's counter of that name (nstat's name for Linux's) gained over the run; 0 when it did not change.</summary>
    public long UserTcpCounter(string name) => UserTcpCounters.GetValueOrDefault(name);

    /// <summary>
    /// What a kernel counter (as nstat names it) gained over a part of the run a scenario noted on a connection
    /// (<see cref="LabSession.Note"/> of <see cref="KernelCounters.Change"/>); 0 when none was noted.
    /// </summary>
    public long KernelCounterNoted(FourTuple connection, string name) =>
        Readings.Where(x => x.Connection == connection && x.Side == LabSide.Kernel && x.Name == name).Sum(x => x.Value);

    /// <summary>The last reading of that name one side gave on a connection at or before <paramref name="at"/>; null when none was.</summary>
    public long? ReadingAt(FourTuple connection, LabSide side, string name, TimeSpan at) =>
        Readings.LastOrDefault(r => r.Connection == connection && r.Side == side && r.Name == name && r.At <= at)?.Value;

    /// <summary>Seconds, as the lab prints them: "1.204 s".</summary>
    public static string Seconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.000} s");

    /// <summary>Milliseconds: "41.8 ms".</summary>
    public static string Milliseconds(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:0.0} ms");
}
