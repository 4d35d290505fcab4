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
/// caused them, or on a line of their own with their reason (the application's close, a timer). A zero window is named
/// as the lab's ladder names it (<see cref="LabLadder.WindowLabels"/>): "win 0" on a segment's line, and in a fold line
/// "2 of them win 0". The lab's other named windows (the reopening, an ACK that only moves the window) are in bytes after
/// scaling, which the engine's events cannot give, and the second is never a line here (it is no SYN, FIN or RST, changes
/// no state and acknowledges no FIN).
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
        var folded = new Folded();

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
                foreach (string line in folded.Flush())
                {
                    yield return line;
                }
                yield return $"{ms}  {new string(' ', ArrowWidth + 16)}  {Change(e)} ({e.Description})";
                continue;
            }
            if (e.Kind is TcpEventKind.Retransmission or TcpEventKind.CongestionUndo)
            {
                foreach (string line in folded.Flush())
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
                folded.Add(incoming, s);
                continue;
            }
            // The ACK of a FIN is shown once; later duplicates fold.
            if (s.Flags.HasFlag(TcpFlags.Ack))
            {
                if (!incoming && kernelFinAck == s.Ack) kernelFinAck = null;
                if (incoming && userTcpFinAck == s.Ack) userTcpFinAck = null;
            }
            foreach (string line in folded.Flush())
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
        foreach (string line in folded.Flush())
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

    // The segments between two lines: how many each way, their bytes of data, and how many advertised a zero window.
    private sealed class Folded
    {
        private int _in, _out, _zeroIn, _zeroOut;
        private long _bytesIn, _bytesOut;

        public void Add(bool incoming, SegmentSummary s)
        {
            bool zero = AdvertisesZeroWindow(s);
            if (incoming) { _in++; _bytesIn += s.PayloadLength; _zeroIn += zero ? 1 : 0; }
            else { _out++; _bytesOut += s.PayloadLength; _zeroOut += zero ? 1 : 0; }
        }

        // "⋮ 3 segments in (2896 bytes of data), 2 segments out (2 of them win 0)"; nothing when nothing was folded.
        public IEnumerable<string> Flush()
        {
            if (_in == 0 && _out == 0)
            {
                return [];
            }
            var text = new StringBuilder(new string(' ', 11)).Append("⋮ ");
            text.Append(Count(_in, "segment")).Append(" in").Append(Details(_bytesIn, _zeroIn));
            text.Append(", ").Append(Count(_out, "segment")).Append(" out").Append(Details(_bytesOut, _zeroOut));
            _in = _out = _zeroIn = _zeroOut = 0;
            _bytesIn = _bytesOut = 0;
            return [text.ToString()];
        }

        private static string Details(long bytes, int zero)
        {
            string[] parts = [.. new[]
            {
                bytes > 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes of data") : null,
                zero > 0 ? string.Create(CultureInfo.InvariantCulture, $"{zero} of them win 0") : null,
            }.OfType<string>()];
            return parts.Length == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $" ({string.Join("; ", parts)})");
        }
    }

    // A window the lab's ladder names every time (RFC 9293 §3.8.6.1's zero window); SYNs' and RSTs' windows are never named.
    private static bool AdvertisesZeroWindow(SegmentSummary s) => s.Window == 0 && (s.Flags & (TcpFlags.Syn | TcpFlags.Rst)) == 0;

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
        long seq = SeqNumbering.Relative(s.Seq, ownIsn);
        text.Append(seq.ToString(CultureInfo.InvariantCulture));
        if (s.PayloadLength > 0) text.Append(':').Append((seq + s.PayloadLength).ToString(CultureInfo.InvariantCulture));
        if (s.Flags.HasFlag(TcpFlags.Ack))
        {
            long ack = SeqNumbering.Relative(s.Ack, peerIsn);
            text.Append(" ack ").Append(ack.ToString(CultureInfo.InvariantCulture));
        }
        if (AdvertisesZeroWindow(s)) text.Append(" win 0");
        return text.Append(' ').ToString();
    }
}
