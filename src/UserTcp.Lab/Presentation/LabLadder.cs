using System.Globalization;
using System.Text;
using UserTcp.Engine;
using UserTcp.Link;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>
/// One connection of a run as a ladder between the kernel (left) and UserTcp (right), from the link's record: every
/// packet with its flags and relative seq/ack (as tcpdump prints them), a dropped one ending in ✗ where the link lost it,
/// a delayed or reordered one saying so, retransmissions marked; each side's state changes in its own column (the
/// kernel's as its socket table showed them, UserTcp's from its engine), and what each application did. Long runs of
/// unremarkable segments (data and ACKs, no fault, no retransmission) fold into one line of counts. A segment whose
/// window matters says "win N", in bytes after window scaling (<see cref="WindowLabels"/>). ECN shows as tcpdump shows it,
/// E (ECE) and W (CWR) among the flags, and a packet that arrived CE-marked says "CE" after its numbers; such packets
/// never fold, so the signal's path — CE, the ECE that echoes it, the CWR that answers — stays on the ladder; where
/// UserTcp's engine cut its window for an echo, its column says "cwnd reduced (ECN echo)".
/// </summary>
public static class LabLadder
{
    private const int ArrowWidth = 44;
    private const int KernelColumn = 24;
    private const int FoldAbove = 6;

    private abstract record Row(TimeSpan At, int Order);
    private sealed record PacketRow(TimeSpan At, int Order, WirePacket Packet, int Attempt, long? Window) : Row(At, Order);
    private sealed record StateRow(TimeSpan At, int Order, LabSide Side, string Text) : Row(At, Order);

    public static IReadOnlyList<string> Draw(LabRecord record, FourTuple connection)
    {
        (SeqNumber? kernelIsn, SeqNumber? userTcpIsn) = record.Isns(connection);
        IReadOnlyDictionary<WirePacket, long> windows = WindowLabels(record, connection);
        var rows = new List<Row>();
        int order = 0;
        // Which sending each packet was (LabRecord.Sendings: by when it was sent; a refused try is none).
        var attempts = new Dictionary<WirePacket, int>(ReferenceEqualityComparer.Instance);
        foreach ((WirePacket p, int number) in record.Sendings(connection)) attempts[p] = number;
        foreach (WirePacket p in record.PacketsOf(connection))
        {
            rows.Add(new PacketRow(p.At, order++, p, attempts.GetValueOrDefault(p), windows.TryGetValue(p, out long window) ? window : null));
        }
        IReadOnlyList<StateSpan> kernel = record.KernelStates(connection);
        for (int i = 0; i < kernel.Count; i++)
        {
            rows.Add(new StateRow(kernel[i].At, order++, LabSide.Kernel, i == 0 ? kernel[i].State : $"→ {kernel[i].State}"));
        }
        IReadOnlyList<StateSpan> userTcp = record.UserTcpStates(connection);
        for (int i = 0; i < userTcp.Count; i++)
        {
            string why = userTcp[i].Why is string w && i > 0 ? $" ({w})" : "";
            rows.Add(new StateRow(userTcp[i].At, order++, LabSide.UserTcp, i == 0 ? userTcp[i].State : $"→ {userTcp[i].State}{why}"));
        }
        // UserTcp's own account of a cut for an ECN echo (RFC 3168 §6.1.2), in its column where its engine took the echo.
        foreach (TcpEvent cut in record.Events.Where(e => e.Kind == TcpEventKind.CongestionWindowReduced && e.Connection == connection))
        {
            rows.Add(new StateRow(cut.Time, order++, LabSide.UserTcp, cut.Cause == TcpCause.EcnEcho ? "cwnd reduced (ECN echo)" : $"cwnd reduced ({cut.Cause.Describe()})"));
        }
        foreach (LabMark mark in record.Marks.Where(m => m.Connection == connection))
        {
            rows.Add(new StateRow(mark.At, order++, mark.Side, mark.What));
        }
        rows.Sort((a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Order.CompareTo(b.Order));

        var lines = new List<string>
        {
            $"{"time (s)",9}  {"kernel " + connection.Remote,-KernelColumn}{new string(' ', ArrowWidth + 2)}UserTcp {connection.Local}",
        };
        var folded = new List<PacketRow>();
        foreach (Row row in rows)
        {
            if (row is PacketRow p && Foldable(p))
            {
                folded.Add(p);
                continue;
            }
            Flush(lines, folded, kernelIsn, userTcpIsn);
            lines.Add(row switch
            {
                PacketRow packet => PacketLine(packet, kernelIsn, userTcpIsn),
                StateRow { Side: LabSide.Kernel } state => $"{Time(state.At)}  {state.Text}",
                StateRow state => $"{Time(state.At)}  {new string(' ', KernelColumn + ArrowWidth + 2)}{state.Text}",
                _ => "",
            });
        }
        Flush(lines, folded, kernelIsn, userTcpIsn);
        return lines;
    }

    // Data and pure ACKs the link carried untouched, sent for the first time, with no congestion signal (CE, ECE, CWR).
    private static bool Foldable(PacketRow row) =>
        row.Packet.Fault is null && row.Attempt <= 1 && !row.Packet.Ce
        && (row.Packet.Segment.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst | TcpFlags.Ece | TcpFlags.Cwr)) == 0;

    private static void Flush(List<string> lines, List<PacketRow> folded, SeqNumber? kernelIsn, SeqNumber? userTcpIsn)
    {
        if (folded.Count == 0) return;
        if (folded.Count <= FoldAbove)
        {
            lines.AddRange(folded.Select(p => PacketLine(p, kernelIsn, userTcpIsn)));
        }
        else
        {
            lines.AddRange(folded.Take(2).Select(p => PacketLine(p, kernelIsn, userTcpIsn)));
            PacketRow[] middle = [.. folded.Skip(2).Take(folded.Count - 4)];
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{"",9}  ⋮ {middle.Length} more segments: {FoldedFrom(middle, toKernel: false, "the kernel")}, {FoldedFrom(middle, toKernel: true, "UserTcp")}"));
            lines.AddRange(folded.TakeLast(2).Select(p => PacketLine(p, kernelIsn, userTcpIsn)));
        }
        folded.Clear();
    }

    // "8 from the kernel (11584 bytes of data)"; "17 from UserTcp (0 bytes of data; 8 of them win 0)" when zero windows fold away.
    private static string FoldedFrom(PacketRow[] middle, bool toKernel, string sender)
    {
        PacketRow[] side = [.. middle.Where(p => p.Packet.ToKernel == toKernel)];
        long bytes = side.Sum(p => (long)p.Packet.Segment.PayloadLength);
        int zero = side.Count(p => p.Window == 0);
        return string.Create(CultureInfo.InvariantCulture, $"{side.Length} from {sender} ({bytes} bytes of data{(zero > 0 ? $"; {zero} of them win 0" : "")})");
    }

    /// <summary>
    /// The segments of a connection whose window the ladder names, with that window in bytes (<see cref="LabRecord.WindowBytes"/>):
    /// every zero window; the first open window after a zero, and after a lost one the next that gets through; and a
    /// window that moved on an ACK saying nothing else (no data, no FIN, nothing newly acknowledged; SACK blocks may come), which would
    /// otherwise read as a duplicate ACK. Each is compared with the last window from the same side that the link
    /// delivered — what the other side knew. SYNs and RSTs are never named (<see cref="TcpSegmentInfo.AdvertisesWindow"/>),
    /// nor a window that changes as the ACK advances (most ACKs of a bulk transfer).
    /// </summary>
    public static IReadOnlyDictionary<WirePacket, long> WindowLabels(LabRecord record, FourTuple connection)
    {
        ArgumentNullException.ThrowIfNull(record);
        (int Kernel, int UserTcp) shifts = record.WindowShifts(connection);
        var labels = new Dictionary<WirePacket, long>(ReferenceEqualityComparer.Instance);
        // Per side (false: the kernel's, true: UserTcp's), the last window and ACK the link delivered.
        var known = new Dictionary<bool, (long Window, SeqNumber Ack)>();
        foreach (WirePacket p in record.PacketsOf(connection))
        {
            TcpSegmentInfo s = p.Segment;
            if (!s.AdvertisesWindow) continue;
            long window = LabRecord.WindowBytes(p, shifts);
            bool named = window == 0;
            if (known.TryGetValue(p.ToKernel, out var last))
            {
                bool reopens = last.Window == 0 && window != 0;
                // RFC 5681 §2 (e), Linux's FLAG_WIN_UPDATE: an ACK whose window changed is no duplicate; its line looks like one.
                bool onlyWindow = window != last.Window && s.PayloadLength == 0 && !s.Has(TcpFlags.Fin) && s.AcknowledgmentNumber == last.Ack;
                named |= reopens || onlyWindow;
            }
            if (named) labels[p] = window;
            if (!p.Dropped) known[p.ToKernel] = (window, s.AcknowledgmentNumber);
        }
        return labels;
    }

    private static string PacketLine(PacketRow row, SeqNumber? kernelIsn, SeqNumber? userTcpIsn)
    {
        WirePacket p = row.Packet;
        string label = Label(p.Segment, p.ToKernel ? userTcpIsn : kernelIsn, p.ToKernel ? kernelIsn : userTcpIsn, row.Window, p.Ce, FastOpenText(p));
        int dashes = Math.Max(2, ArrowWidth - label.Length - 3);
        // A dropped segment's arrow gives four of its dashes to the ✗; a label that long (a window named on a large seq) widens the row instead.
        int droppedDashes = Math.Max(2, dashes - 4);
        string arrow = (p.ToKernel, p.Dropped) switch
        {
            (false, false) => $"──{label}{new string('─', dashes)}▶",
            (false, true) => $"──{label}{new string('─', droppedDashes)}✗   ",
            (true, false) => $"◀{new string('─', dashes)}{label}──",
            (true, true) => $"   ✗{new string('─', droppedDashes)}{label}──",
        };
        var note = new StringBuilder();
        if (row.Attempt > 1) note.Append(CultureInfo.InvariantCulture, $"retransmission #{row.Attempt - 1}");
        if (p.Fault is FaultNote fault)
        {
            if (note.Length > 0) note.Append("; ");
            note.Append(Short(fault));
        }
        if (p.LateRead is string late)
        {
            if (note.Length > 0) note.Append("; ");
            note.Append(late);
        }
        return $"{Time(p.At)}  {new string(' ', KernelColumn)}{arrow}  {note}".TrimEnd();
    }

    // "dropped (rule 'drop from-kernel flags=FIN nth=1')".
    private static string Short(FaultNote fault)
    {
        string rule = fault.Rule is null ? "" : $" (rule '{fault.Rule.Description}')";
        return fault.Action switch
        {
            FaultAction.Dropped => $"✗ dropped{rule}",
            FaultAction.Delayed => $"delayed {(fault.Rule is { } r ? Ms(r.Delay) : "")}{rule}",
            FaultAction.HeldBack => $"held back (reordered){rule}",
            FaultAction.Duplicated => $"duplicated{rule}",
            FaultAction.Corrupted => $"corrupted{rule}",
            FaultAction.Marked => $"CE-marked{rule}",
            FaultAction.Refused => $"✗ refused by UserTcp's own queue{rule}",
            _ => fault.Text,
        };
    }

    /// <summary>
    /// "[F.] seq 79 ack 1": seq relative to the sender's initial sequence number, ack to the receiver's; data as seq a:b;
    /// "win 2896" after them when <paramref name="window"/> (in bytes) is given; "CE" last when <paramref name="ce"/> (the IP
    /// header said congestion experienced); a Fast Open option, <paramref name="fastOpen"/>, before that.
    /// </summary>
    public static string Label(TcpSegmentInfo s, SeqNumber? ownIsn, SeqNumber? peerIsn, long? window = null, bool ce = false, string? fastOpen = null)
    {
        var text = new StringBuilder(" [").Append(PacketFormatter.FlagLetters(s.Flags)).Append("] seq ");
        long seq = SeqNumbering.Relative(s.SequenceNumber, ownIsn);
        text.Append(seq.ToString(CultureInfo.InvariantCulture));
        if (s.PayloadLength > 0) text.Append(':').Append((seq + s.PayloadLength).ToString(CultureInfo.InvariantCulture));
        if (s.Has(TcpFlags.Ack))
        {
            long ack = SeqNumbering.Relative(s.AcknowledgmentNumber, peerIsn);
            text.Append(" ack ").Append(ack.ToString(CultureInfo.InvariantCulture));
        }
        if (window is long w) text.Append(" win ").Append(w.ToString(CultureInfo.InvariantCulture));
        if (fastOpen is not null) text.Append(' ').Append(fastOpen);
        if (ce) text.Append(" CE");
        return text.Append(' ').ToString();
    }

    /// <summary>A Fast Open option as tcpdump prints it: "tfo cookiereq" (a request), "tfo cookie 3021b9d889017eeb"; null without one.</summary>
    public static string? FastOpenText(WirePacket p) => p.FastOpen == TcpFastOpenKind.None ? null
        : p.FastOpenCookie.IsRequest ? "tfo cookiereq" : $"tfo cookie {p.FastOpenCookie}";

    private static string Time(TimeSpan at) => at.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture).PadLeft(9);

    private static string Ms(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0} ms");
}
