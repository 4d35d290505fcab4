using UserTcp.Engine;
using UserTcp.Wire;
using ScottPlot;
using SColor = ScottPlot.Color;

namespace UserTcp.Lab;

/// <summary>
/// The run's graphs, drawn with ScottPlot and written as SVG and PNG:
/// <list type="bullet">
/// <item>a time–sequence graph per direction, tcptrace style: each segment the sender sent as a vertical bar over the
/// sequence numbers it covered (SYN and FIN count one), a ✗ where the link dropped it, a marker on each retransmission,
/// an open triangle on each probe (a segment without data below the ACK: a zero-window or keepalive probe), a filled
/// square on each RST, a filled diamond on each segment that arrived CE-marked and an open square on each that carried CWR (ECN, RFC 3168);
/// the receiver's ACK line and its window's right edge (ACK + window) as steps; SACK blocks as bars;</item>
/// <item>a state timeline: one row per side, a coloured bar per state;</item>
/// <item>where the run watched TCP_INFO's congestion fields, both sides' cwnd and ssthresh over time;</item>
/// <item>for runs of several connections, the number of connections in each state over time.</item>
/// </list>
/// Retransmission markers are drawn in <see cref="RetransmissionColor"/> and nothing else is, so a reader (or a test)
/// can count them in the SVG.
/// </summary>
public static class LabGraphs
{
    /// <summary>The fill of retransmission markers, and of nothing else in a graph.</summary>
    public const string RetransmissionColor = "#E4007C";
    /// <summary>The fill of the diamonds on CE-marked segments, and of nothing else in a graph.</summary>
    public const string CeColor = "#FF7F0E";
    private const int Width = 960, Height = 460;

    private static readonly SColor Data = SColor.FromHex("#222222");
    private static readonly SColor Control = SColor.FromHex("#1F5FBF");
    private static readonly SColor DroppedColor = SColor.FromHex("#9A9A9A");
    private static readonly SColor AckColor = SColor.FromHex("#2CA02C");
    private static readonly SColor WindowColor = SColor.FromHex("#E0A800");
    private static readonly SColor SackColor = SColor.FromHex("#8E44AD");
    private static readonly SColor ProbeColor = SColor.FromHex("#0E7C86");
    // A RST's square: the plot's shade, and a darker one for the legend (so the legend's square is not counted as one).
    private const string ResetColor = "#D62728";
    private static readonly SColor ResetLegendColor = SColor.FromHex("#8C1A1B");
    private static readonly SColor CwrColor = SColor.FromHex("#5B3FD1");
    // A try UserTcp's own queue refused: never on the link, so neither data sent nor a drop (its open circle has no fill to count).
    private static readonly SColor RefusedColor = SColor.FromHex("#8C564B");

    /// <summary>Writes the time–sequence graph of what <paramref name="sender"/> sent on a connection to <c>path.svg</c> and <c>path.png</c>; returns the retransmission markers drawn.</summary>
    public static int TimeSequence(LabRecord r, FourTuple connection, LabSide sender, string path)
    {
        SeqNumber? isn = r.Numbering(connection).IsnOf(sender);
        LabSide receiver = sender == LabSide.Kernel ? LabSide.UserTcp : LabSide.Kernel;
        double Rel(SeqNumber s) => SeqNumbering.Relative(s, isn);
        var plot = new Plot();
        string from = sender == LabSide.Kernel ? "the kernel" : "UserTcp", to = sender == LabSide.Kernel ? "UserTcp" : "the kernel";
        plot.Title($"{r.Scenario} ({r.Role.Key()}): what {from} sent to {to}, {connection.Remote.Port} ↔ {connection.Local.Port}");
        plot.XLabel("time since the stack started (s)");
        plot.YLabel($"{from}'s sequence number, relative");

        double top = 1, bottom = 0;
        // Which sending each segment was, as the ladder and the verdicts count them (LabRecord.Sendings); a refused try is none.
        var retransmissions = new HashSet<WirePacket>(r.Sendings(connection).Where(s => s.Number > 1).Select(s => s.Packet), ReferenceEqualityComparer.Instance);
        var retransX = new List<double>();
        var retransY = new List<double>();
        bool anyDrop = false, anyLostAck = false, anyData = false, anyControl = false, anySack = false;
        var refusedX = new List<double>();
        var refusedY = new List<double>();
        var probeX = new List<double>();
        var probeY = new List<double>();
        var resetX = new List<double>();
        var resetY = new List<double>();
        var ceX = new List<double>();
        var ceY = new List<double>();
        var cwrX = new List<double>();
        var cwrY = new List<double>();
        Func<WirePacket, bool> belowTheAck = BelowTheAck(r, connection, receiver, Rel);
        foreach (WirePacket p in r.From(connection, sender))
        {
            int length = p.Segment.SegmentLength;
            if (p.Refused)
            {
                // Not sent: a dotted bar over what it would have covered, an open circle on top (a refused pure ACK is no more drawn than a sent one).
                if (length == 0 && !belowTheAck(p) && !p.Segment.Has(TcpFlags.Rst)) continue;
                double at = p.At.TotalSeconds, tryLow = Rel(p.Segment.SequenceNumber), tryHigh = tryLow + length;
                if (length > 0)
                {
                    var tried = plot.Add.Line(at, tryLow, at, tryHigh);
                    tried.LineWidth = 2;
                    tried.LineColor = RefusedColor;
                    tried.LinePattern = LinePattern.Dotted;
                    tried.MarkerSize = 0;
                    top = Math.Max(top, tryHigh);
                }
                refusedX.Add(at);
                refusedY.Add(tryHigh);
                continue;
            }
            if (length == 0)
            {
                bool probe = belowTheAck(p), reset = p.Segment.Has(TcpFlags.Rst);
                if (probe)
                {
                    probeX.Add(p.At.TotalSeconds);
                    probeY.Add(Rel(p.Segment.SequenceNumber));
                }
                if (reset)
                {
                    resetX.Add(p.At.TotalSeconds);
                    resetY.Add(Rel(p.Segment.SequenceNumber));
                }
                // A lost probe or RST gets its ✗ as a lost segment does (a lost pure ACK's shows on the ACK line of the other graph).
                if ((probe || reset) && p.Dropped)
                {
                    anyDrop = true;
                    var lost = plot.Add.Marker(p.At.TotalSeconds, Rel(p.Segment.SequenceNumber), MarkerShape.Eks, 9, DroppedColor);
                    lost.MarkerLineWidth = 2;
                }
                continue;
            }
            double t = p.At.TotalSeconds, low = Rel(p.Segment.SequenceNumber), high = low + length;
            top = Math.Max(top, high);
            bool control = p.Segment.PayloadLength == 0;
            var bar = plot.Add.Line(t, low, t, high);
            bar.LineWidth = control ? 3 : 2;
            bar.LineColor = p.Dropped ? DroppedColor : control ? Control : Data;
            bar.MarkerSize = 0;
            anyData |= !control;
            anyControl |= control;
            if (p.Dropped)
            {
                anyDrop = true;
                var cross = plot.Add.Marker(t, high, MarkerShape.Eks, 9, DroppedColor);
                cross.MarkerLineWidth = 2;
            }
            if (p.Ce)
            {
                ceX.Add(t);
                ceY.Add(high);
            }
            if (p.Segment.Has(TcpFlags.Cwr) && !p.Segment.Has(TcpFlags.Syn))
            {
                cwrX.Add(t);
                cwrY.Add(low);
            }
            if (retransmissions.Contains(p))
            {
                retransX.Add(t);
                retransY.Add(high);
            }
        }
        // The receiver's ACKs and window's right edge, as it advertised them (ACKs the link dropped never told the sender anything).
        var ackX = new List<double>();
        var ackY = new List<double>();
        var winY = new List<double>();
        (int Kernel, int UserTcp) shifts = r.WindowShifts(connection);
        foreach (WirePacket p in r.From(connection, receiver, p => p.Segment.Has(TcpFlags.Ack) && !p.Dropped))
        {
            double ack = Rel(p.Segment.AcknowledgmentNumber);
            if (ack < 1e9) top = Math.Max(top, ack);
            ackX.Add(p.At.TotalSeconds);
            ackY.Add(ack);
            winY.Add(ack + LabRecord.WindowBytes(p, shifts));
            foreach (SackBlock block in p.Sack)
            {
                anySack = true;
                var sack = plot.Add.Line(p.At.TotalSeconds, Rel(block.Left), p.At.TotalSeconds, Rel(block.Right));
                sack.LineColor = SackColor;
                sack.LineWidth = 4;
                sack.MarkerSize = 0;
            }
        }
        // ACKs the link lost: a ✗ where they would have moved the ACK line.
        foreach (WirePacket p in r.From(connection, receiver, p => p.Segment.Has(TcpFlags.Ack) && p.Dropped))
        {
            var lostAck = plot.Add.Marker(p.At.TotalSeconds, Rel(p.Segment.AcknowledgmentNumber), MarkerShape.Eks, 9, DroppedColor);
            lostAck.MarkerLineWidth = 2;
            anyLostAck = true;
        }
        // The last ACK stands until the record's last packet, so a lone ACK (a handshake's, the rest lost) still shows as a line.
        double last = r.PacketsOf(connection).Select(p => p.At.TotalSeconds).DefaultIfEmpty(0).Max();
        if (ackX.Count > 0 && last > ackX[^1])
        {
            ackX.Add(last);
            ackY.Add(ackY[^1]);
            winY.Add(winY[^1]);
        }
        if (ackX.Count > 0)
        {
            var acks = plot.Add.Scatter(ackX.ToArray(), ackY.ToArray());
            acks.ConnectStyle = ConnectStyle.StepHorizontal;
            acks.Color = AckColor;
            acks.MarkerSize = 0;
            acks.LineWidth = 1.5f;
            var window = plot.Add.Scatter(ackX.ToArray(), winY.ToArray());
            window.ConnectStyle = ConnectStyle.StepHorizontal;
            window.Color = WindowColor;
            window.MarkerSize = 0;
            window.LineWidth = 1;
        }
        if (probeX.Count > 0)
        {
            var probes = plot.Add.Markers(probeX.ToArray(), probeY.ToArray(), MarkerShape.OpenTriangleUp, 9, ProbeColor);
            probes.LegendText = "";
        }
        if (resetX.Count > 0)
        {
            var resets = plot.Add.Markers(resetX.ToArray(), resetY.ToArray(), MarkerShape.FilledSquare, 8, SColor.FromHex(ResetColor));
            resets.LegendText = "";
        }
        if (ceX.Count > 0)
        {
            var ce = plot.Add.Markers(ceX.ToArray(), ceY.ToArray(), MarkerShape.FilledDiamond, 10, SColor.FromHex(CeColor));
            ce.LegendText = "";
        }
        if (cwrX.Count > 0)
        {
            var cwr = plot.Add.Markers(cwrX.ToArray(), cwrY.ToArray(), MarkerShape.OpenSquare, 9, CwrColor);
            cwr.LegendText = "";
        }
        if (refusedX.Count > 0)
        {
            var refused = plot.Add.Markers(refusedX.ToArray(), refusedY.ToArray(), MarkerShape.OpenCircle, 9, RefusedColor);
            refused.LegendText = "";
        }
        if (retransX.Count > 0)
        {
            var markers = plot.Add.Markers(retransX.ToArray(), retransY.ToArray(), MarkerShape.FilledCircle, 9, SColor.FromHex(RetransmissionColor));
            markers.LegendText = "";
        }
        // An entry for each kind of mark the graph holds, and for no other.
        if (anyData) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "data sent", LineColor = Data, LineWidth = 2 });
        if (anyControl) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "SYN / FIN", LineColor = Control, LineWidth = 3 });
        if (anyDrop) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "dropped by the link (x)", LineColor = DroppedColor, LineWidth = 2 });
        // A lost ACK's ✗ sits on the ACK line, and says so: a reader of ack-loss took the ✗ over a delivered segment for its loss.
        if (anyLostAck) plot.Legend.ManualItems.Add(new LegendItem { LabelText = "ACK dropped by the link (x on the ACK line)", LineColor = DroppedColor, LineWidth = 2 });
        // Filled markers get a darker shade in the legend than on the plot, so counting the markers (in the SVG or on
        // screen) does not count the legend; open ones have no fill to count.
        if (retransX.Count > 0) plot.Legend.ManualItems.Add(MarkerLegend($"retransmission ({retransX.Count})", MarkerShape.FilledCircle, SColor.FromHex("#B0005F"), 9));
        if (probeX.Count > 0) plot.Legend.ManualItems.Add(MarkerLegend($"probe: no data, below the ACK ({probeX.Count})", MarkerShape.OpenTriangleUp, ProbeColor, 9));
        if (resetX.Count > 0) plot.Legend.ManualItems.Add(MarkerLegend($"RST ({resetX.Count})", MarkerShape.FilledSquare, ResetLegendColor, 8));
        if (ceX.Count > 0) plot.Legend.ManualItems.Add(MarkerLegend($"arrived CE-marked ({ceX.Count})", MarkerShape.FilledDiamond, SColor.FromHex("#C25A00"), 10));
        if (cwrX.Count > 0) plot.Legend.ManualItems.Add(MarkerLegend($"CWR: window reduced ({cwrX.Count})", MarkerShape.OpenSquare, CwrColor, 9));
        if (refusedX.Count > 0)
        {
            // Short: a long entry widens the legend, narrows the plot and clips the title centred over it.
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = $"refused by the local queue ({refusedX.Count})", LineColor = RefusedColor, LineWidth = 2, LinePattern = LinePattern.Dotted,
                MarkerShape = MarkerShape.OpenCircle, MarkerLineColor = RefusedColor, MarkerSize = 9,
            });
        }
        // Scaled to what was sent and acknowledged: the window's edge, often far above, runs off the top rather than flattening the rest.
        double margin = Math.Max(1, (top - bottom) * 0.08);
        if (ackX.Count > 0)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{(receiver == LabSide.Kernel ? "the kernel" : "UserTcp")}'s ACK", LineColor = AckColor, LineWidth = 2 });
            string window = winY.Any(w => w <= top + margin) ? "ACK + window" : "ACK + window (off the top)";
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = window, LineColor = WindowColor, LineWidth = 2 });
        }
        if (anySack)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "SACK blocks", LineColor = SackColor, LineWidth = 4 });
        }
        plot.ShowLegend(Edge.Right);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true }; // no sequence number 0.5
        plot.Axes.SetLimitsY(bottom - margin, top + margin);
        Save(plot, path);
        return retransX.Count;
    }

    /// <summary>
    /// Whether a segment of the sender's without data or SYN, FIN or RST lies below the highest ACK of the receiver's that
    /// had reached the sender when it left: a probe (Linux's zero-window and keepalive probes carry SND.UNA − 1), not an ACK.
    /// </summary>
    private static Func<WirePacket, bool> BelowTheAck(LabRecord r, FourTuple connection, LabSide receiver, Func<SeqNumber, double> rel)
    {
        // A SYN-ACK counts: it acknowledges the SYN, so a keepalive probe on a connection that carried no data lies below it.
        WirePacket[] acks = [.. r.From(connection, receiver, p => p.Segment.Has(TcpFlags.Ack) && !p.Dropped).OrderBy(p => p.ArrivedAt)];
        TimeSpan[] at = [.. acks.Select(p => p.ArrivedAt)];
        double[] highest = new double[acks.Length];
        for (int i = 0; i < acks.Length; i++) highest[i] = Math.Max(i > 0 ? highest[i - 1] : double.MinValue, rel(acks[i].Segment.AcknowledgmentNumber));
        return p =>
        {
            if ((p.Segment.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) != 0 || p.Segment.PayloadLength > 0) return false;
            int before = Array.BinarySearch(at, p.At);
            int last = before >= 0 ? before : ~before - 1;
            return last >= 0 && rel(p.Segment.SequenceNumber) < highest[last];
        };
    }

    /// <summary>Writes the state timeline of a connection, both sides, to <c>path.svg</c> and <c>path.png</c>.</summary>
    public static void States(LabRecord r, FourTuple connection, string path)
    {
        var plot = new Plot();
        plot.Title($"{r.Scenario} ({r.Role.Key()}): states, {connection.Remote.Port} ↔ {connection.Local.Port}");
        plot.XLabel("time since the stack started (s)");
        Row(plot, r.UserTcpStates(connection), 1, r.End);
        Row(plot, r.KernelStates(connection), 0, r.End);
        foreach (LabMark mark in r.Marks.Where(m => m.Connection == connection))
        {
            var m = plot.Add.Marker(mark.At.TotalSeconds, mark.Side == LabSide.UserTcp ? 1.42 : 0.42, MarkerShape.FilledTriangleDown, 8, SColor.FromHex("#444444"));
            m.LegendText = "";
        }
        plot.Axes.Left.SetTicks([0, 1], ["kernel (sock_diag)", "UserTcp (engine)"]);
        plot.Axes.SetLimitsY(-0.6, 1.6);
        Save(plot, path, height: 260);
    }

    /// <summary>
    /// Writes both sides' congestion window and slow-start threshold on a connection over time, in segments as TCP_INFO
    /// gives them (<see cref="TcpInfoWatch"/> with congestion), to <c>path.svg</c> and <c>path.png</c>: cwnd solid, ssthresh
    /// dashed, each side in its own colour, steps held until the watch's last reading; an infinite ssthresh
    /// (TCP_INFINITE_SSTHRESH, before the first cut) is left out, and so is a side whose window never moved (the
    /// receiver of a one-way transfer). False, and nothing written, when the run read no cwnd.
    /// </summary>
    public static bool Congestion(LabRecord r, FourTuple connection, string path)
    {
        IReadOnlyList<LabReading> readings = [.. r.Readings.Where(x => x.Connection == connection && x.Name is "tcpi_snd_cwnd" or "tcpi_snd_ssthresh")];
        if (!readings.Any(x => x.Name == "tcpi_snd_cwnd")) return false;
        var plot = new Plot();
        plot.Title($"{r.Scenario} ({r.Role.Key()}): congestion window, {connection.Remote.Port} ↔ {connection.Local.Port}");
        plot.XLabel("time since the stack started (s)");
        plot.YLabel("segments (TCP_INFO)");
        double end = readings.Max(x => x.At.TotalSeconds);
        foreach ((LabSide side, string name, SColor color) in (ReadOnlySpan<(LabSide, string, SColor)>)[(LabSide.Kernel, "kernel", KernelLine), (LabSide.UserTcp, "UserTcp", UserTcpLine)])
        {
            if (!Moved([.. readings.Where(x => x.Side == side)])) continue;
            foreach ((string field, string label, LinePattern pattern) in (ReadOnlySpan<(string, string, LinePattern)>)[("tcpi_snd_cwnd", "cwnd", LinePattern.Solid), ("tcpi_snd_ssthresh", "ssthresh", LinePattern.Dashed)])
            {
                IReadOnlyList<LabReading> values = [.. readings.Where(x => x.Side == side && x.Name == field)];
                bool labelled = false;
                // One step line per run of finite values: ∞ (and a side with no MSS yet) is a gap, not a cliff.
                foreach ((double[] xs, double[] ys) in FiniteRuns(values, end))
                {
                    Series(plot, xs, ys, labelled ? "" : $"{name} {label}", color, pattern);
                    labelled = true;
                }
            }
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.SetLimitsY(0, Math.Max(4, readings.Where(x => x.Value < int.MaxValue).Select(x => x.Value).DefaultIfEmpty(0).Max() * 1.1));
        plot.ShowLegend(Edge.Right);
        Save(plot, path, height: 320);
        return true;
    }

    // A side whose cwnd never changed and whose ssthresh stayed infinite sent no data to speak of (the receiver): left out.
    private static bool Moved(IReadOnlyList<LabReading> side) =>
        side.Where(x => x.Name == "tcpi_snd_cwnd").Select(x => x.Value).Distinct().Count() > 1
        || side.Any(x => x.Name == "tcpi_snd_ssthresh" && x.Value is >= 0 and < int.MaxValue);

    private static readonly SColor KernelLine = SColor.FromHex("#1F77B4");
    private static readonly SColor UserTcpLine = SColor.FromHex("#D62728");

    // The steps of each run of consecutive finite readings (below TCP_INFINITE_SSTHRESH), each held until the reading
    // that ends the run, or until `end` for the last.
    private static IEnumerable<(double[] Xs, double[] Ys)> FiniteRuns(IReadOnlyList<LabReading> values, double end)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        foreach (LabReading x in values)
        {
            bool finite = x.Value is >= 0 and < int.MaxValue;
            if (!finite && xs.Count > 0)
            {
                yield return ([.. xs, x.At.TotalSeconds], [.. ys, ys[^1]]);
                xs.Clear();
                ys.Clear();
            }
            if (!finite) continue;
            xs.Add(x.At.TotalSeconds);
            ys.Add(x.Value);
        }
        if (xs.Count > 0) yield return ([.. xs, end], [.. ys, ys[^1]]);
    }

    /// <summary>Writes, for runs of several connections, how many were in each state on each side over time.</summary>
    public static void Counts(LabRecord r, string path)
    {
        var plot = new Plot();
        plot.Title($"{r.Scenario} ({r.Role.Key()}): connections in each state over time");
        plot.XLabel("time since the stack started (s)");
        plot.YLabel("connections");
        var rows = Scenarios.CloseWaitLeak.Counts(r, TimeSpan.FromMilliseconds(100));
        double[] xs = [.. rows.Select(row => row.At.TotalSeconds)];
        string[] states = ["ESTABLISHED", "CLOSE-WAIT", "FIN-WAIT-2", "TIME-WAIT", "LAST-ACK"];
        foreach (string state in states)
        {
            double[] kernel = [.. rows.Select(row => (double)row.Kernel.GetValueOrDefault(state))];
            double[] userTcp = [.. rows.Select(row => (double)row.UserTcp.GetValueOrDefault(state))];
            if (kernel.Any(n => n > 0)) Series(plot, xs, kernel, $"kernel {state}", StateLineColor(state), LinePattern.Dashed);
            if (userTcp.Any(n => n > 0)) Series(plot, xs, userTcp, $"UserTcp {state}", StateLineColor(state), LinePattern.Solid);
        }
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true }; // counts of connections
        plot.ShowLegend(Edge.Right);
        Save(plot, path);
    }

    private static void Series(Plot plot, double[] xs, double[] ys, string label, SColor color, LinePattern pattern)
    {
        var line = plot.Add.Scatter(xs, ys);
        line.ConnectStyle = ConnectStyle.StepHorizontal;
        line.MarkerSize = 0;
        line.LineWidth = 2;
        line.Color = color;
        line.LinePattern = pattern;
        line.LegendText = label;
    }

    private static void Row(Plot plot, IReadOnlyList<StateSpan> spans, double y, TimeSpan end)
    {
        for (int i = 0; i < spans.Count; i++)
        {
            if (spans[i].State == "(gone)") continue;
            double left = spans[i].At.TotalSeconds;
            double right = (i + 1 < spans.Count ? spans[i + 1].At : end).TotalSeconds;
            if (right <= left) right = left + 0.001;
            var box = plot.Add.Rectangle(left, right, y - 0.3, y + 0.3);
            box.FillStyle.Color = StateColor(spans[i].State);
            box.LineStyle.Width = 0.5f;
            box.LineStyle.Color = SColor.FromHex("#FFFFFF");
            var label = plot.Add.Text(spans[i].State, left, y + (i % 2 == 0 ? 0.0 : -0.15));
            label.LabelFontSize = 10;
            label.LabelFontColor = SColor.FromHex("#111111");
            label.LabelAlignment = Alignment.MiddleLeft;
        }
    }

    /// <summary>
    /// One strong colour per state for lines (the counts over time), each far from the others: the timeline's fills are
    /// pale, and CLOSE-WAIT's and FIN-WAIT-2's, the two lines close-wait-leak is about, are nearly the same.
    /// </summary>
    public static SColor StateLineColor(string state) => SColor.FromHex(state switch
    {
        "ESTABLISHED" => "#2CA02C",
        "CLOSE-WAIT" => "#D62728",
        "FIN-WAIT-2" => "#1F77B4",
        "TIME-WAIT" => "#9467BD",
        "LAST-ACK" => "#8C564B",
        _ => "#7F7F7F",
    });

    /// <summary>One colour per state, the same in every graph.</summary>
    public static SColor StateColor(string state) => SColor.FromHex(state switch
    {
        "LISTEN" => "#D9D9D9",
        "SYN-SENT" => "#C6DBEF",
        "SYN-RECEIVED" => "#9ECAE1",
        "ESTABLISHED" => "#A1D99B",
        "FIN-WAIT-1" => "#FDD0A2",
        "FIN-WAIT-2" => "#FDAE6B",
        "CLOSE-WAIT" => "#FCBBA1",
        "CLOSING" => "#FC9272",
        "LAST-ACK" => "#FB6A4A",
        "TIME-WAIT" => "#BCBDDC",
        _ => "#EEEEEE",
    });

    private static void Save(Plot plot, string path, int height = Height)
    {
        plot.SaveSvg(path + ".svg", Width, height);
        plot.SavePng(path + ".png", Width, height);
    }

    /// <summary>A legend entry for a kind of marker: its shape and colour; a filled shape is filled with the same colour.</summary>
    private static LegendItem MarkerLegend(string label, MarkerShape shape, SColor color, float size)
    {
        var item = new LegendItem { LabelText = label, MarkerShape = shape, MarkerLineColor = color, MarkerSize = size };
        if (shape is MarkerShape.FilledCircle or MarkerShape.FilledDiamond or MarkerShape.FilledSquare) item.MarkerFillColor = color;
        return item;
    }
}
