using System.Globalization;
using System.Text;
using UserTcp.Engine;
using UserTcp.Wire;

namespace UserTcp.Lab;

/// <summary>
/// A connection as UserTcp saw it, drawn as a ladder between the kernel (left) and UserTcp (right): the segments
/// that matter for opening and closing — SYN, FIN, RST, those that change UserTcp's state, the ACK of each FIN —
/// one line each with sequence numbers relative to each side's initial one (as tcpdump prints them), and the
/// segments between them folded into one line of counts. State changes stand on the line of the segment that
/// caused them, or on a line of their own with their reason (the application's close, a timer).
/// </summary>
public static class Ladder
{
    private const int ArrowWidth = 40;

    public static IEnumerable<string> Draw(IReadOnlyList<TcpEvent> events)
    {
        if (events.Count == 0)
        {
            yield break;
        }
        TimeSpan start = events[0].Time;
        SeqNumber? kernelIsn = null, userTcpIsn = null;
        SeqNumber? kernelFinAck = null, userTcpFinAck = null;
        int foldedIn = 0, foldedOut = 0;
        long bytesIn = 0, bytesOut = 0;

        for (int i = 0; i < events.Count; i++)
        {
            TcpEvent e = events[i];
            string ms = ((e.Time - start).TotalMilliseconds).ToString("F3", CultureInfo.InvariantCulture).PadLeft(9);
            if (e.Kind == TcpEventKind.StateChanged)
            {
                // Attached to the segment line just printed when that segment caused it (handled below); otherwise its own line.
                if (i > 0 && events[i - 1].Kind == TcpEventKind.SegmentIn && CausedBySegment(e))
                {
                    continue;
                }
                foreach (string line in Fold(ref foldedIn, ref foldedOut, ref bytesIn, ref bytesOut))
                {
                    yield return line;
                }
                yield return $"{ms}  {new string(' ', ArrowWidth + 16)}  {Change(e)} ({e.Description})";
                continue;
            }
            if (e.Kind is TcpEventKind.Retransmission or TcpEventKind.CongestionUndo)
            {
                foreach (string line in Fold(ref foldedIn, ref foldedOut, ref bytesIn, ref bytesOut))
                {
                    yield return line;
                }
                // An undo reads as the engine says it ("spurious timeout, undone: ...").
                yield return $"{ms}  {new string(' ', ArrowWidth + 16)}  {(e.Kind == TcpEventKind.CongestionUndo ? e.Description : $"retransmission #{e.Attempt}")}";
                continue;
            }
            if (e.Kind is not (TcpEventKind.SegmentIn or TcpEventKind.SegmentOut))
            {
                continue;
            }
            SegmentSummary s = e.Segment;
            bool incoming = e.Kind == TcpEventKind.SegmentIn;
            if (s.Flags.HasFlag(TcpFlags.Syn))
            {
                if (incoming) kernelIsn ??= s.Seq; else userTcpIsn ??= s.Seq;
            }
            bool printed = Printed(events, i, kernelFinAck, userTcpFinAck);
            if (s.Flags.HasFlag(TcpFlags.Fin))
            {
                SeqNumber finAck = s.Seq + s.PayloadLength + 1;
                if (incoming) kernelFinAck ??= finAck; else userTcpFinAck ??= finAck;
            }
            if (!printed)
            {
                if (incoming) { foldedIn++; bytesIn += s.PayloadLength; } else { foldedOut++; bytesOut += s.PayloadLength; }
                continue;
            }
            // The ACK of a FIN is shown once; later duplicates fold.
            if (s.Flags.HasFlag(TcpFlags.Ack))
            {
                if (!incoming && kernelFinAck == s.Ack) kernelFinAck = null;
                if (incoming && userTcpFinAck == s.Ack) userTcpFinAck = null;
            }
            foreach (string line in Fold(ref foldedIn, ref foldedOut, ref bytesIn, ref bytesOut))
            {
                yield return line;
            }
            string label = Label(s, incoming ? kernelIsn : userTcpIsn, incoming ? userTcpIsn : kernelIsn);
            string arrow = incoming
                ? $"──{label}{new string('─', Math.Max(2, ArrowWidth - label.Length - 3))}▶"
                : $"◀{new string('─', Math.Max(2, ArrowWidth - label.Length - 3))}{label}──";
            string change = incoming && i + 1 < events.Count && events[i + 1].Kind == TcpEventKind.StateChanged && CausedBySegment(events[i + 1])
                ? "  " + Change(events[i + 1])
                : "";
            yield return $"{ms}  kernel {arrow} UserTcp{change}";
        }
        foreach (string line in Fold(ref foldedIn, ref foldedOut, ref bytesIn, ref bytesOut))
        {
            yield return line;
        }
    }

    // Whether segment event i gets a line of its own.
    private static bool Printed(IReadOnlyList<TcpEvent> events, int i, SeqNumber? kernelFinAck, SeqNumber? userTcpFinAck)
    {
        TcpEvent e = events[i];
        SegmentSummary s = e.Segment;
        bool incoming = e.Kind == TcpEventKind.SegmentIn;
        if ((s.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) != 0)
        {
            return true;
        }
        if (incoming && i + 1 < events.Count && events[i + 1].Kind == TcpEventKind.StateChanged && CausedBySegment(events[i + 1]))
        {
            return true;
        }
        // The first ACK of the other side's FIN.
        return s.Flags.HasFlag(TcpFlags.Ack) && (incoming ? userTcpFinAck == s.Ack : kernelFinAck == s.Ack);
    }

    private static IEnumerable<string> Fold(ref int foldedIn, ref int foldedOut, ref long bytesIn, ref long bytesOut)
    {
        if (foldedIn == 0 && foldedOut == 0)
        {
            return [];
        }
        var text = new StringBuilder(new string(' ', 11)).Append("⋮ ");
        text.Append(Count(foldedIn, "segment")).Append(" in");
        if (bytesIn > 0) text.Append(CultureInfo.InvariantCulture, $" ({bytesIn} bytes of data)");
        text.Append(", ").Append(Count(foldedOut, "segment")).Append(" out");
        if (bytesOut > 0) text.Append(CultureInfo.InvariantCulture, $" ({bytesOut} bytes of data)");
        foldedIn = foldedOut = 0;
        bytesIn = bytesOut = 0;
        return [text.ToString()];
    }

    private static string Count(int n, string noun) => string.Create(CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? "" : "s")}");

    private static string Change(in TcpEvent e) => $"{e.DiagramOldState.ToRfcName()} → {e.NewState.ToRfcName()}";

    // Changes the application (close, shutdown, abort, connect) or a timer caused stand on a line of their own; the
    // rest belong to the segment just received. An application call can follow a segment directly, since both run
    // under the stack's lock, so adjacency alone does not tell: the engine's typed cause does.
    private static bool CausedBySegment(in TcpEvent e) => e.Cause.Origin() == CauseOrigin.Segment;

    // "[F.] seq 79 ack 1": seq relative to the sender's initial sequence number, ack to the receiver's.
    private static string Label(SegmentSummary s, SeqNumber? ownIsn, SeqNumber? peerIsn)
    {
        var text = new StringBuilder(" [").Append(PacketFormatter.FlagLetters(s.Flags)).Append("] seq ");
        long seq = ownIsn is SeqNumber isn ? (uint)(s.Seq - isn) : s.Seq.Value;
        text.Append(seq.ToString(CultureInfo.InvariantCulture));
        if (s.PayloadLength > 0) text.Append(':').Append((seq + s.PayloadLength).ToString(CultureInfo.InvariantCulture));
        if (s.Flags.HasFlag(TcpFlags.Ack))
        {
            long ack = peerIsn is SeqNumber p ? (uint)(s.Ack - p) : s.Ack.Value;
            text.Append(" ack ").Append(ack.ToString(CultureInfo.InvariantCulture));
        }
        return text.Append(' ').ToString();
    }
}
